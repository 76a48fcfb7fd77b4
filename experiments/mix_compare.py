"""Style mixing by weights vs by outputs, on the held-back photos.

    python -m experiments.mix_compare starry-night great-wave [--share 0.5] [--photos 6]

Paints each photo at 1024 px with style A, style B, the weights mix (one network, the mean of
the two networks' weights: ``mixing``) and the outputs mix (the mean of A's and B's
paintings), and prints per output the mean style distance at 512 to each painting, the content
distance, structure, the stroke contrast (mean luminance gradient: a double exposure of two
paintings averages their uncorrelated strokes away) and the seconds per painting. Writes a
contact sheet (photo | A | B | weights | outputs) to --sheet.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import torch

from brushwork.api import load_model, resolve_model_path
from brushwork.evaluation import Evaluator
from brushwork.images import load_image, to_tensor
from brushwork.model_files import read_model_file
from brushwork.networks.multimodal import luminance
from experiments.lib.arguments import (
    DEFAULT_HELD_OUT,
    DEFAULT_PHOTOS,
    DEFAULT_STYLES,
    REPO,
    held_out_photos,
    log,
)
from experiments.lib.reports import provenance, provenance_line
from experiments.peer_compare import contact_sheet

SIZE = 1024


def artwork(name: str) -> Path:
    _, metadata = read_model_file(resolve_model_path(name))
    return DEFAULT_STYLES / metadata["styles"][0]["file"]


def stroke_contrast(image: torch.Tensor) -> float:
    """Mean absolute luminance difference between neighbouring pixels (x and y)."""
    lum = luminance(image)
    return 0.5 * ((lum[..., 1:, :] - lum[..., :-1, :]).abs().mean()
                  + (lum[..., 1:] - lum[..., :-1]).abs().mean()).item()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("a")
    parser.add_argument("b")
    parser.add_argument("--share", type=float, default=0.5, help="B's share (default 0.5)")
    parser.add_argument("--photos", type=int, default=6)
    parser.add_argument("--sheet", type=Path, default=REPO / "docs" / "styles"
                        / "mixing.jpg")
    args = parser.parse_args(argv)
    torch.set_grad_enabled(False)
    spec = f"{args.a}:{1 - args.share:g},{args.b}:{args.share:g}"
    models = {args.a: load_model(args.a), args.b: load_model(args.b),
              "weights": load_model(spec, mix="weights"),
              "outputs": load_model(spec, mix="outputs")}
    judges = {name: Evaluator(to_tensor(load_image(artwork(name))), scales=(512,))
              for name in (args.a, args.b)}
    photos = held_out_photos(DEFAULT_HELD_OUT, DEFAULT_PHOTOS, args.photos)
    rows: dict[str, list[dict]] = {name: [] for name in models}
    columns: dict[str, list] = {"photo": [], **{name: [] for name in models}}
    for path in photos:
        photo_image = load_image(path)
        photo = to_tensor(photo_image)
        columns["photo"].append(photo_image)
        for name, model in models.items():
            began = time.perf_counter()
            painting = model.stylize(photo_image, SIZE)
            seconds = time.perf_counter() - began
            image = to_tensor(painting)
            row = {"seconds": seconds, "contrast": stroke_contrast(image)}
            for art_name, judge in judges.items():
                result = judge.score(image, photo)
                row[f"style@512 to {art_name}"] = result.style[512]
                row["content"], row["structure"] = result.content, result.structure
            rows[name].append(row)
            columns[name].append(painting)
        log(f"{path.name} done")
    keys = list(rows[args.a][0])
    print(f"{spec}; {len(photos)} held-back photos at {SIZE} px; "
          f"{provenance_line(provenance('cpu'))}")
    print("| output | " + " | ".join(keys) + " |")
    print("|---" * (len(keys) + 1) + "|")
    for name, values in rows.items():
        print(f"| {name} | " + " | ".join(
            f"{statistics.mean(v[k] for v in values):.3g}" for k in keys) + " |")
    contact_sheet(columns, args.sheet)
    print(f"contact sheet: {args.sheet}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
