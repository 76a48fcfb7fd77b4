"""Baselines: DS Net and Gatys et al.'s optimisation beside MT-Net and Fig. 6's networks.

    python -m experiments.baselines --crop-size 256 --iterations 300 --photos 10
    python -m experiments.baselines --smoke          # seconds, in a temporary folder

The paper's two remaining baselines beside the trained networks, with the time each takes
per image:

* DS Net (Table 1): MT-Net's three subnets chained at full size, ONE loss on the final output,
  with the artwork at 1024 px (our choice: the scale of MT-Net's own final level), trained at
  the same budget as the others;
* Gatys et al. 2016: no network; L-BFGS on the pixels of each photo (``brushwork optimize``,
  coarse to fine: 1/4, 1/2, then full size), on the first ``--gatys-photos`` photos only
  because each takes minutes on a CPU.

MT-Net, singular 256 and singular 1024 are Fig. 6's networks and their runs are Fig. 6's: the
default work folder is Fig. 6's, so with the same budget flags (and ``--seed``) nothing is
trained twice and only DS Net trains. Time per image: each network's ``stylize`` at the output
size (one warm-up, then the median of ``TIMED_RUNS``), and each Gatys optimisation's wall
time; the same device and precision for all, on one machine in one run.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from brushwork.evaluation import EVAL_SCALES
from brushwork.hyper_parameters import LossConfig
from brushwork.images import load_image, save_image, to_image, to_tensor
from brushwork.optimization import OptimizeConfig, optimize
from experiments import fig6_scale
from experiments.lib.arguments import (
    DEFAULT_WORK,
    SMOKE_SCALES,
    add_common_arguments,
    add_training_arguments,
    held_out_photos,
    log,
    run_main,
    settle,
    style_path,
)
from experiments.lib.comparison import (
    Comparison,
    comparison_data,
    results_lines,
    run_comparison,
    setup_lines,
)
from experiments.lib.figures import comparison_figure, save_figure
from experiments.lib.reports import (
    discussion,
    markdown_table,
    provenance,
    report_head,
    write_report,
    write_summary,
)
from experiments.lib.runs import TrainSpec, claim, model_stamp, network_config, style_size
from experiments.lib.scoring import Scorer, content_values, style_values

NAME = "baselines"
ITERATIONS, CROP, PHOTOS, SIZE = fig6_scale.ITERATIONS, fig6_scale.CROP, 10, 1024
STYLES = ("starry-night",)
METHODS = ("mtnet", "ds-net", "singular-256", "singular-1024")
LABELS = {**fig6_scale.LABELS, "ds-net": "DS Net"}
GATYS_LABEL = "Gatys et al."
#: Gatys et al.'s budget (ours: the paper gives none): L-BFGS steps over the three stages (a
#: quarter at 1/4 size, a quarter at 1/2, half at full size), on this many photos.
GATYS_STEPS, GATYS_PHOTOS = 100, 2
TIMED_RUNS = 3


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m experiments.baselines", description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="Writes REPORTS/baselines.md, REPORTS/baselines/STYLE.png (the networks) and "
               "REPORTS/baselines/STYLE-gatys.png (every method on the Gatys photos), "
               "REPORTS/baselines.json. Default work folder: Fig. 6's (its runs are reused).")
    add_common_arguments(parser, PHOTOS, SIZE)
    add_training_arguments(parser, ITERATIONS, CROP)
    parser.add_argument("--styles", nargs="+", default=list(STYLES), metavar="ART",
                        help=f"artworks by name or path (default: {' '.join(STYLES)})")
    parser.add_argument("--gatys-steps", type=int, default=None,
                        help=f"L-BFGS steps per photo (default {GATYS_STEPS}; smoke 2)")
    parser.add_argument("--gatys-photos", type=int, default=None,
                        help=f"photos optimised with Gatys et al. (default {GATYS_PHOTOS}; "
                             "smoke 1)")
    return parser


def specs(args: argparse.Namespace, style: str, art: Path) -> dict[str, TrainSpec]:
    """Fig. 6's three networks (the same specs, so their runs are shared) and DS Net."""
    shared = fig6_scale.specs(args, style, art)
    ds_net = TrainSpec(
        f"{Path(style).stem}-ds-net", "ds-net", network_config("mtnet", args.smoke),
        LossConfig.single_level(style_size(1024, args.smoke)), shared["mtnet"].train,
        art, args.data, LABELS["ds-net"])
    return {"mtnet": shared["mtnet"], "ds-net": ds_net,
            "singular-256": shared["singular-256"], "singular-1024": shared["singular-1024"]}


def seconds_per_image(model_path: Path, photo: Path, args: argparse.Namespace,
                      cache: Path) -> float:
    """Median wall time of the model's ``stylize`` at the output size, after a warm-up; kept
    in ``cache`` under the model's stamp and the machine, so a re-run does not time again."""
    from brushwork.api import load_model

    stamp = {**model_stamp(model_path, size=args.size, precision=args.precision),
             "photo": photo.name, "runs": TIMED_RUNS,
             "machine": provenance(args.device)["device"]}
    stored = json.loads(cache.read_text()) if cache.is_file() else {}
    if stored.get("stamp") == stamp:
        return float(stored["seconds"])
    model = load_model(model_path, device=args.device, precision=args.precision)
    image = load_image(photo)
    model.stylize(image, args.size)  # warm-up: first-call allocations and kernel choices
    times = []
    for _ in range(TIMED_RUNS):
        began = time.perf_counter()
        model.stylize(image, args.size)
        times.append(time.perf_counter() - began)
    seconds = statistics.median(times)
    cache.write_text(json.dumps({"stamp": stamp, "seconds": seconds, "runs": times}, indent=1))
    return seconds


def gatys_outputs(args: argparse.Namespace, art: Path, photos: Sequence[Path],
                  folder: Path) -> tuple[list[Path], list[float]]:
    """Each photo optimised towards the artwork at the output size: files and seconds (kept
    beside the images, redone only when the settings change)."""
    config = OptimizeConfig(size=args.size, steps=args.gatys_steps, multiscale=True)
    claim(folder, {"gatys": config.__dict__, "style": str(art.resolve()),
                           "device": args.device})
    style = to_tensor(load_image(art))
    files, seconds = [], []
    for photo in photos:
        output, record = folder / f"{photo.stem}.png", folder / f"{photo.stem}.json"
        if not record.is_file():
            began = time.perf_counter()
            image = optimize(to_tensor(load_image(photo)), style, config)
            took = time.perf_counter() - began
            save_image(to_image(image), output)
            record.write_text(json.dumps({"seconds": took}))  # last: marks the photo done
            log(f"gatys: {photo.name} at {args.size} px in {took:.0f} s")
        files.append(output)
        seconds.append(float(json.loads(record.read_text())["seconds"]))
    return files, seconds


def gatys_lines(args: argparse.Namespace, comparison: Comparison,
                scorer: Scorer) -> tuple[list[str], dict[str, Any]]:
    """Per artwork: every method on the Gatys photos, with seconds per image, and a figure."""
    photos = comparison.photos[:args.gatys_photos]
    scales = scorer.scales
    lines = [f"## Gatys et al. and the time per image ({len(photos)} photo(s))", "",
             f"Gatys et al.: L-BFGS on the pixels, {args.gatys_steps} steps coarse to fine "
             f"(1/4, 1/2, full size; `brushwork optimize --steps {args.gatys_steps} "
             f"--multiscale --size {args.size}`), texture weight "
             f"{OptimizeConfig().texture_weight:g}, in float32, on the first {len(photos)} "
             "photo(s) above. Seconds per image: the networks' `stylize` at the same size "
             f"(median of {TIMED_RUNS} after a warm-up, inference in {args.precision}, model "
             "loading not timed) and the optimisation's wall time, on this machine in this "
             "run.", ""]
    data: dict[str, Any] = {}
    for style, art in comparison.arts.items():
        folder = args.work / "outputs" / style / "gatys"
        files, seconds = gatys_outputs(args, art, photos, folder)
        gatys = scorer.score(art, list(zip(photos, files)), folder / "scores.json",
                             {"gatys": args.gatys_steps, "size": args.size})
        stems = {p.stem for p in photos}
        scores = {m: {k: v for k, v in s.items() if k in stems}
                  for m, s in comparison.scores[style].items()}
        scores["gatys"] = gatys
        timing = {m: seconds_per_image(t.path, photos[0], args,
                                       args.work / "outputs" / style / m / "timing.json")
                  for m, t in comparison.trained[style].items()}
        timing["gatys"] = statistics.fmean(seconds)
        labels = {**LABELS, "gatys": GATYS_LABEL}
        rows = []
        for method, table in scores.items():
            row: list[Any] = [labels[method], f"{timing[method]:.2f}"]
            row += [statistics.fmean(style_values(table, s)) for s in scales]
            row.append(statistics.fmean(content_values(table)))
            rows.append(row)
        photo_rows = {k: v for k, v in comparison.photo_scores[style].items() if k in stems}
        rows.append(["photo itself (reference)", "-"]
                    + [statistics.fmean(style_values(photo_rows, s)) for s in scales]
                    + [statistics.fmean(content_values(photo_rows))])
        lines += [f"### {style}", "", markdown_table(
            ["method", f"s per image at {args.size} px"]
            + [f"style @{s} mean" for s in scales] + ["content mean"], rows), ""]
        figure = comparison_figure(
            art, photos, {**{m: f[:len(photos)] for m, f in comparison.outputs[style].items()},
                          "gatys": files}, labels, args.size,
            f"Baselines, {style}: every method at {args.size} px")
        save_figure(figure, args.reports / args.name / f"{style}-gatys.png")
        lines += [f"![{style}, with Gatys et al.]({args.name}/{style}-gatys.png)", ""]
        data[style] = {"seconds_per_image": timing, "gatys_seconds": seconds, "scores": scores}
    return lines, data


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(argv)
    if args.work is None and not args.smoke:  # Fig. 6's runs: trained once, shared
        args.work = DEFAULT_WORK / fig6_scale.NAME
    args = settle(args, NAME, PHOTOS, SIZE, ITERATIONS, CROP)
    args.gatys_steps = args.gatys_steps or (2 if args.smoke else GATYS_STEPS)
    args.gatys_photos = min(args.gatys_photos or (1 if args.smoke else GATYS_PHOTOS),
                            args.photos)
    scales = SMOKE_SCALES if args.smoke else EVAL_SCALES
    photos = held_out_photos(args.held_out, args.photos_dir, args.photos)
    arts = {Path(style).stem: style_path(args.styles_dir, style) for style in args.styles}
    comparison = run_comparison(
        args, {style: specs(args, style, art) for style, art in arts.items()}, arts, photos,
        LABELS, scales, "Baselines")
    info = provenance(args.device)
    lines = report_head(args, argv, "baselines.py",
                               "Baselines: DS Net and Gatys et al. beside MT-Net and the deep "
                               "singular networks", info)
    lines += [
        "**Question** (issues 5 and 17): trained at the same budget, how do DS Net (MT-Net's "
        "subnets with one loss at full size) and the deep singular networks compare with "
        "MT-Net, and where does Gatys et al.'s per-photo optimisation stand, in distance and "
        "in time per image?",
        "",
    ]
    lines += setup_lines(args, comparison, scales, LABELS)
    results, wins = results_lines(args, comparison, scales, LABELS, METHODS[0])
    lines += results
    gatys, gatys_data = gatys_lines(args, comparison, comparison.scorer)
    lines += gatys
    lines += discussion("_To be written after reading the numbers and the pictures._")
    write_report(args.reports / f"{args.name}.md", "\n".join(lines))
    budget = (f"{args.iterations} iterations per network (batch 1, {args.crop_size}-px crops), "
              f"{len(arts)} artwork(s) x {len(METHODS)} networks; {len(photos)} held-out "
              f"photos at {args.size} px; Gatys et al. {args.gatys_steps} L-BFGS steps on "
              f"{args.gatys_photos}")
    write_summary(args.reports, args.name, {
        "title": "Baselines: DS Net and Gatys et al. beside MT-Net and the deep singular "
                 "networks, with time per image",
        "report": f"{args.name}.md", "budget": budget, "smoke": args.smoke, "provenance": info,
        "mtnet_wins": wins,
    }, {**comparison_data(comparison), "gatys": gatys_data})
    log(f"{args.name}: report {args.reports / (args.name + '.md')}")
    return 0


if __name__ == "__main__":
    sys.exit(run_main(main, None))
