"""How far from converged a built-in style is: its snapshots scored on held-back photos.

    python -m experiments.convergence NAME [NAME ...]     # zoo recipes, e.g. starry-night
    python -m experiments.convergence NAME --photos 10    # default: 10 held-back photos

A zoo run keeps a model file every 500 iterations in ``runs/zoo/NAME.run/snapshots/``. Each
snapshot paints the first ``--photos`` photos of ``docs/held-out-photos.txt`` (never trained on)
at 1024 px and is scored exactly as ``styles_report.py`` scores a shipped model (``brushwork
eval``'s style distance at each trained scale, against the artwork of that scale, and the
relu4_2 content distance). Scores are cached per snapshot in the run folder, so re-running
after more training scores only the new snapshots. Writes ``docs/styles/NAME-convergence.md``
(+ ``.json``): the median per snapshot, and the change since the previous snapshot, which is
what says whether more iterations would still help.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

import torch

from experiments.styles_report import held_out_photos, score_model

ROOT = Path(__file__).resolve().parents[1]
RUNS = ROOT / "runs" / "zoo"
DOCS_STYLES = ROOT / "docs" / "styles"


def snapshot_scores(name: str, photos: list[str]) -> dict[int, dict]:
    """Iteration -> score_model's result for every snapshot of the run, cached in the run."""
    snapshots = sorted((RUNS / f"{name}.run" / "snapshots").glob("iter-*.safetensors"))
    if not snapshots:
        raise SystemExit(f"no snapshots in {RUNS / f'{name}.run' / 'snapshots'}")
    cache_path = RUNS / f"{name}.run" / "convergence-cache.json"
    cache = json.loads(cache_path.read_text()) if cache_path.is_file() else {}
    results = {}
    for snapshot in snapshots:
        iteration = int(snapshot.stem.split("-")[1])
        key = f"{snapshot.name}:{snapshot.stat().st_size}:{','.join(photos)}"
        if key not in cache:
            scores = score_model(snapshot, photos, label=f"{name} @{iteration}")
            cache[key] = json.loads(json.dumps(scores))  # the cached form: str scale keys
            cache_path.write_text(json.dumps(cache))
        results[iteration] = cache[key]
    return results


def medians(result: dict) -> tuple[dict[str, float], float]:
    rows = result["rows"]
    scales = [str(s) for s in result["artworks"]]
    style = {s: statistics.median(r["styled"][s] for r in rows) for s in scales}
    return style, statistics.median(r["content"] for r in rows)


def write_report(name: str, results: dict[int, dict]) -> None:
    first = next(iter(results.values()))
    scales = [str(s) for s in first["artworks"]]
    rows = first["rows"]
    photo_medians = {s: statistics.median(r["photo_only"][s] for r in rows) for s in scales}
    lines = [f"# `{name}`: convergence on {len(rows)} held-back photos", "",
             f"`python -m experiments.convergence {name}`: each snapshot of the run "
             "(`runs/zoo/NAME.run/snapshots/`) at 1024 px on the first photos of "
             "`docs/held-out-photos.txt`. Medians of `brushwork eval`'s style distance at each "
             "trained scale (lower: closer to the artwork) and of the relu4_2 content distance "
             "(lower: closer to the photo; a flat grey image is at about 3e5-6e5). In brackets: "
             "the change since the previous snapshot.", "",
             "| iterations | " + " | ".join(f"style @{s}" for s in scales) + " | content |",
             "|---" * (len(scales) + 2) + "|",
             "| unstylised photo | " + " | ".join(f"{photo_medians[s]:.3g}" for s in scales)
             + " | 0 |"]
    previous = None
    for iteration, result in sorted(results.items()):
        style, content = medians(result)
        cells = []
        for s in scales:
            change = f" ({style[s] / previous[0][s] - 1:+.0%})" if previous else ""
            cells.append(f"{style[s]:.3g}{change}")
        change = f" ({content / previous[1] - 1:+.0%})" if previous else ""
        lines.append(f"| {iteration:,} | " + " | ".join(cells) + f" | {content:.3g}{change} |")
        previous = (style, content)
    DOCS_STYLES.mkdir(parents=True, exist_ok=True)
    (DOCS_STYLES / f"{name}-convergence.md").write_text("\n".join(lines) + "\n")
    (DOCS_STYLES / f"{name}-convergence.json").write_text(
        json.dumps({str(k): v for k, v in sorted(results.items())}, indent=1))
    print("\n".join(lines))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("names", nargs="+", help="zoo recipes (runs/zoo/NAME.run)")
    parser.add_argument("--photos", type=int, default=10, help="held-back photos to score")
    args = parser.parse_args(argv)
    torch.set_grad_enabled(False)
    photos = held_out_photos(args.photos)
    for name in args.names:
        write_report(name, snapshot_scores(name, photos))
    return 0


if __name__ == "__main__":
    sys.exit(main())
