"""Paintings below 1024 px: the paper's size/4 schedule against ours, side by side.

    python -m experiments.small_sizes                      # every built-in style, 512 px
    python -m experiments.small_sizes --size 768 --photos docs/samples/*.jpg

At 1024 px MT-Net's levels run at 256, 512, 1024 (paper 3.1). For a smaller painting the
paper's rule, size/4, size/2, size, runs the style subnet at 128 px for a 512 px painting,
where its strokes (a fixed number of pixels) cover twice as much of the picture. Three
schedules paint each photo at ``--size``:

* ``paper``: size/4, size/2, size (``coarse`` = size / 4);
* ``ours``: 256, 512, size (the default from 512 to 1024, ``levels.level_long_sides``);
* ``via-1024``: the 1024 px painting shrunk to the size (the reference for "strokes at the
  scale they have at 1024", at the cost of a 1024 px painting).

For each: the luminance structure against the photo (``evaluation.structure``, higher keeps
more of its shapes), the style distance to the painting at 256 px relative to the unstylised
photo's (lower is closer to the painting; tests/test_builtin_quality.py asks < 0.8 at 512),
and the median seconds per painting (bfloat16 where the CPU has it, as ``brushwork stylize``).
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import torch
from PIL import Image

from brushwork.api import available_styles, load_model
from brushwork.evaluation import Evaluator, structure
from brushwork.images import load_image, to_tensor
from brushwork.levels import scaled_size
from experiments.lib.arguments import REPO
from experiments.lib.reports import provenance, provenance_line

SAMPLES = REPO / "docs" / "samples"
STYLES = REPO / "src" / "brushwork" / "styles"
SCHEDULES = ("paper", "ours", "via-1024")


def paint(model, photo: Image.Image, size: int, schedule: str) -> Image.Image:
    if schedule == "paper":
        return model.stylize(photo, size, coarse=max(1, size // 4))
    if schedule == "ours":
        return model.stylize(photo, size)
    painting = model.stylize(photo, 1024)
    height, width = scaled_size(painting.height, painting.width, size)
    return painting.resize((width, height), Image.Resampling.LANCZOS)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("styles", nargs="*", help="built-in styles (default: all)")
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--photos", nargs="+", type=Path,
                        default=sorted(SAMPLES.glob("*.jpg")))
    args = parser.parse_args(argv)
    torch.set_grad_enabled(False)
    print(f"{len(args.photos)} photos at {args.size} px; "
          f"{provenance_line(provenance('cpu'))}")
    print("| style | photo | " + " | ".join(f"{s}: structure, style ratio, s"
                                            for s in SCHEDULES) + " |")
    print("|---" * (2 + len(SCHEDULES)) + "|")
    wins = {"structure": 0, "style": 0, "cases": 0}
    for name in args.styles or available_styles():
        model = load_model(name)
        judge = Evaluator(to_tensor(load_image(STYLES / f"{name}.artwork.jpg")), scales=(256,))
        for path in args.photos:
            photo = load_image(path)
            photo.thumbnail((args.size, args.size))
            reference = to_tensor(photo)
            base = judge.style_distance(reference, 256)
            cells, scores = [], {}
            for schedule in SCHEDULES:
                times = []
                for _ in range(3):
                    start = time.perf_counter()
                    painting = paint(model, photo, args.size, schedule)
                    times.append(time.perf_counter() - start)
                image = to_tensor(painting)
                scores[schedule] = (structure(image, reference),
                                    judge.style_distance(image, 256) / base)
                cells.append(f"{scores[schedule][0]:.3f}, {scores[schedule][1]:.3f}, "
                             f"{statistics.median(times):.2f}")
            wins["cases"] += 1
            wins["structure"] += scores["ours"][0] > scores["paper"][0]
            wins["style"] += scores["ours"][1] < scores["paper"][1]
            print(f"| {name} | {path.stem} | " + " | ".join(cells) + " |", flush=True)
    print(f"ours vs paper: structure higher in {wins['structure']}/{wins['cases']}, closer to "
          f"the painting in {wins['style']}/{wins['cases']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
