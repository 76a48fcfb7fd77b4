"""Train and package the built-in styles (issue 6): one recipe per style, resumable.

    python experiments/zoo.py status                  # where every recipe's run stands
    nice python experiments/zoo.py train [NAME ...]   # train or resume each to its budget
    python experiments/zoo.py package NAME            # ship a finished run as a built-in style

Training is CPU-bound here (~4 s per iteration at the paper's settings on 2 cores), so a recipe
takes several sessions: ``train`` always resumes the run in ``runs/zoo/NAME.run`` (exact resume,
see training.py), and stops cleanly on SIGTERM (the trainer writes a checkpoint). The recipes
are data, in one place, so a card's training record can be checked against what was run.

``package`` exports the run's final model as float16 safetensors into the package's styles
folder, writes its card (artwork facts from the shared STYLES.tsv, training record from the
model's own metadata) into ``cards.json``, and keeps the loss log in ``docs/styles/``.
"""

from __future__ import annotations

import argparse
import csv
import gzip
import json
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"
STYLES_TSV = SHARED / "styles" / "STYLES.tsv"
RUNS = ROOT / "runs" / "zoo"
PACKAGE_STYLES = ROOT / "src" / "brushwork" / "styles"
DOCS_STYLES = ROOT / "docs" / "styles"
TRAIN_PHOTOS = ROOT / "data" / "train-photos"
PREVIEW_PHOTO = SHARED / "photos" / "gcompris-qt-data-giraffe-b.jpg"  # held back: never trained on


@dataclass(frozen=True)
class Recipe:
    """One built-in style: its artworks (one, or one per level coarse to fine) and settings.

    Texture weights are chosen per style by looking at results (the paper: no universal ratio
    works); ``why`` records the reason for the choice on the card.
    """

    name: str
    artworks: tuple[str, ...]
    texture_weights: tuple[float, float, float]
    iterations: int = 2000
    content_target: str = "photo"
    init_from: str | None = None  # a built-in style name or model file to fine-tune from
    why: str = ""
    extra_args: tuple[str, ...] = field(default=())


#: The zoo. Budgets are the issue's minimum (2,000 iterations); raise them when compute allows
#: (``train`` resumes a finished run when its budget grows). Every recipe trains with the
#: library's texture warm-up (``TrainConfig.texture_warmup``). Recipes without a ``why`` carry
#: the calibrated default weights and have not yet been looked at on their own artwork.
RECIPES: dict[str, Recipe] = {r.name: r for r in [
    Recipe("starry-night", ("starry-night.jpg",), (1.5, 3.0, 1.5),
           why="(20, 40, 20) with the subnet inputs as content targets lost the photo's shapes "
               "(session 1); single-level runs at 256 px kept them at 1-3 and lost them above, "
               "and MT-Net kept them only with a 200-iteration texture warm-up "
               "(docs/styles/calibration.md)"),
    Recipe("great-wave", ("great-wave.jpg",), (1.5, 3.0, 1.5),
           why="the default; the style subnet alone at texture weight 1 kept the photo "
               "(docs/styles/calibration.md)"),
    Recipe("garden-at-bougival", ("garden-at-bougival.jpg",), (1.5, 3.0, 1.5)),
    Recipe("the-scream", ("the-scream.jpg",), (1.5, 3.0, 1.5)),
    Recipe("composition-viii", ("composition-viii.jpg",), (1.5, 3.0, 1.5)),
    Recipe("wheat-field", ("met-436535.jpg",), (1.5, 3.0, 1.5)),
    # Paper Fig. 7: coarse texture and colour from one artwork, fine brushwork from another.
    Recipe("wave-and-bougival", ("great-wave.jpg", "great-wave.jpg", "garden-at-bougival.jpg"),
           (1.5, 3.0, 1.5)),
]}


def run_dir(recipe: Recipe) -> Path:
    return RUNS / f"{recipe.name}.run"


def done_iterations(recipe: Recipe) -> int:
    """Iterations in the run's loss log (0 when not started)."""
    log = run_dir(recipe) / "loss.jsonl"
    if not log.is_file():
        return 0
    lines = [line for line in log.read_text().splitlines() if line.strip()]
    return json.loads(lines[-1])["iteration"] if lines else 0


def train_command(recipe: Recipe) -> list[str]:
    """The ``brushwork train`` call for a recipe: a fresh run, or ``--resume`` of the old one."""
    out = RUNS / f"{recipe.name}.safetensors"
    command = [str(ROOT / ".venv" / "bin" / "brushwork"), "train",
               "--style", *[str(SHARED / "styles" / a) for a in recipe.artworks],
               "--data", str(TRAIN_PHOTOS), "-o", str(out), "--run-dir", str(run_dir(recipe)),
               "--iterations", str(recipe.iterations), "--quiet"]
    if (run_dir(recipe) / "checkpoint.safetensors").is_file():
        return [*command, "--resume"]
    command += ["--texture-weights", *map(str, recipe.texture_weights),
                "--content-target", recipe.content_target,
                "--preview-photo", str(PREVIEW_PHOTO), "--preview-every", "250",
                "--snapshot-every", "500", *recipe.extra_args]
    if recipe.init_from:
        command += ["--init-from", recipe.init_from]
    return command


def train(names: list[str]) -> int:
    for name in names:
        recipe = RECIPES[name]
        if done_iterations(recipe) >= recipe.iterations:
            print(f"{name}: done ({done_iterations(recipe)} iterations)")
            continue
        RUNS.mkdir(parents=True, exist_ok=True)
        print(f"{name}: training from iteration {done_iterations(recipe)}", flush=True)
        code = subprocess.call(train_command(recipe))
        if code != 0:
            print(f"{name}: brushwork train exited with {code}; stopping", file=sys.stderr)
            return code
    return 0


def status() -> None:
    for recipe in RECIPES.values():
        shipped = (PACKAGE_STYLES / f"{recipe.name}.safetensors").is_file()
        print(f"{recipe.name:20s} {done_iterations(recipe):6d} / {recipe.iterations} iterations"
              f"{'  (shipped)' if shipped else ''}")


def artwork_facts(file: str) -> dict[str, str]:
    with open(STYLES_TSV, newline="") as handle:
        for row in csv.DictReader(handle, delimiter="\t"):
            if row["file"] == file:
                return row
    raise SystemExit(f"{file} is not in {STYLES_TSV}")


def package(name: str) -> None:
    """Export the run's model into the package and write its card and loss log."""
    recipe = RECIPES[name]
    brushwork = str(ROOT / ".venv" / "bin" / "brushwork")
    target = PACKAGE_STYLES / f"{name}.safetensors"
    subprocess.run([brushwork, "export", str(run_dir(recipe)), "-o", str(target)], check=True)
    facts = [artwork_facts(a) for a in dict.fromkeys(recipe.artworks)]
    cards_path = PACKAGE_STYLES / "cards.json"
    cards = json.loads(cards_path.read_text()) if cards_path.is_file() else {}
    cards[name] = {
        "title": " + ".join(f["title"] for f in facts),
        "artist": " + ".join(dict.fromkeys(f["artist"] for f in facts)),
        "year": " + ".join(f["year"] for f in facts),
        "license": "; ".join(dict.fromkeys(f["license"] for f in facts)),
        "source": "; ".join(f"shared/data/styles/{f['file']}, {f['width']}x{f['height']}"
                            for f in facts),
        "levels": list(recipe.artworks),
        "note": recipe.why,
    }
    cards_path.write_text(json.dumps(cards, indent=2, ensure_ascii=False) + "\n")
    DOCS_STYLES.mkdir(parents=True, exist_ok=True)
    with open(run_dir(recipe) / "loss.jsonl", "rb") as src, \
            gzip.open(DOCS_STYLES / f"{name}-loss.jsonl.gz", "wb") as dst:
        shutil.copyfileobj(src, dst)
    print(f"{name}: {target} ({target.stat().st_size / 1e6:.1f} MB), card and loss log written")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("status")
    p_train = sub.add_parser("train")
    p_train.add_argument("names", nargs="*", help=f"default: all ({', '.join(RECIPES)})")
    p_package = sub.add_parser("package")
    p_package.add_argument("name", choices=list(RECIPES))
    args = parser.parse_args(argv)
    if args.command == "status":
        status()
        return 0
    if args.command == "train":
        unknown = [n for n in args.names if n not in RECIPES]
        if unknown:
            parser.error(f"unknown recipe(s) {', '.join(unknown)}; known: {', '.join(RECIPES)}")
        return train(args.names or list(RECIPES))
    package(args.name)
    return 0


if __name__ == "__main__":
    sys.exit(main())
