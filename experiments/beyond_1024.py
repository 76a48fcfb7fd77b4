"""Beyond 1024 px: the pictures behind the recursive schedule (docs/architecture.md).

    python -m experiments.beyond_1024            # starry-night on the giraffe, 2048 and 4096
    python -m experiments.beyond_1024 --sizes 2048 --no-eval

The paper trains MT-Net for 1024-px outputs and says the hierarchy "can be extended
recursively" beyond. For an output of long side S > 1024 this paints the photo three ways with
one model and shows the results side by side:

* **recursive** (the default, ``levels.level_long_sides``): the style subnet at 256, the
  enhance subnet at 512, then the refine subnet once per doubling (1024, 2048, ..., S);
* **naive**: every level scaled by S/4, as up to 1024 (``coarse`` = S/4 rounded up): for
  4096 the style subnet paints a 1024-px view, the enhance subnet a 2048-px one;
* **upscaled**: the 1024-px painting resized bicubically to S (what a user gets without
  either).

One figure per size, ``docs/images/beyond-1024/giraffe-S.jpg``: the three paintings reduced
to the same width, with the crop marked, above a 1:1 crop of each (512x512 at the same
relative position). With the artwork (``--artwork``), each painting is also scored with
``brushwork eval``'s style distance (the whole painting and the artwork both resized to long
side 256, 512 and 1024: coarse texture to brushwork) and each 1:1 crop with the same Gram
distance against the artwork at 1024 px (the pixel scale the refine subnet was trained at).
Lower is better. Minutes on a 2-core CPU (the naive 4096 runs the enhance subnet at 2048).
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Sequence
from pathlib import Path

import torch
from PIL import Image, ImageDraw, ImageFont

import brushwork
from brushwork.evaluation import EVAL_SCALES, Evaluator
from brushwork.hyper_parameters import TEXTURE_LAYERS
from brushwork.images import load_image, to_tensor
from brushwork.levels import level_long_sides
from brushwork.losses.perceptual import gram

REPO = Path(__file__).resolve().parents[1]
DEFAULT_PHOTO = REPO / "docs" / "samples" / "giraffe.jpg"
DEFAULT_ARTWORK = REPO.parent / "shared" / "data" / "styles" / "starry-night.jpg"
DEFAULT_OUT = REPO / "docs" / "images" / "beyond-1024"
#: The painting every schedule starts from at and below this size (the paper's 1024).
BASE = 1024
#: Side of the 1:1 crops and the width of each column of a figure.
CROP = 512
#: Centre of the crop, relative to the picture: giraffe patches, their outlines and background.
CENTRE = (0.45, 0.55)
GAP, LABEL = 8, 24
METHODS = ("recursive", "naive", "upscaled")


def paint(model: brushwork.Stylizer, photo: Image.Image,
          size: int) -> tuple[dict[str, Image.Image], dict[str, float]]:
    """The three paintings at long side ``size`` (see the module docs), and seconds each."""
    jobs = {
        "recursive": lambda: model.stylize(photo, size),
        "naive": lambda: model.stylize(photo, size, coarse=-(-size // 4)),
        "upscaled": lambda: upscaled(model.stylize(photo, BASE), size),
    }
    paintings, seconds = {}, {}
    for name, job in jobs.items():
        began = time.perf_counter()
        paintings[name] = job()
        seconds[name] = time.perf_counter() - began
    return paintings, seconds


def upscaled(painting: Image.Image, long_side: int) -> Image.Image:
    """``painting`` resized bicubically to ``long_side``, with the library's rounding."""
    scale = long_side / max(painting.size)
    return painting.resize((round(painting.width * scale), round(painting.height * scale)),
                           Image.Resampling.BICUBIC)


def crop_box(wh: tuple[int, int]) -> tuple[int, int, int, int]:
    """The CROP x CROP box centred at CENTRE, kept inside the picture."""
    w, h = wh
    left = min(max(0, round(CENTRE[0] * w) - CROP // 2), w - CROP)
    top = min(max(0, round(CENTRE[1] * h) - CROP // 2), h - CROP)
    return left, top, left + CROP, top + CROP


def figure(paintings: dict[str, Image.Image], size: int) -> Image.Image:
    """Whole paintings (CROP wide, crop outlined) above their 1:1 crops, one column each."""
    font = ImageFont.load_default(size=16)
    some = next(iter(paintings.values()))
    thumb_h = round(some.height * CROP / some.width)
    width = len(paintings) * CROP + (len(paintings) + 1) * GAP
    height = LABEL + thumb_h + GAP + LABEL + CROP + GAP
    sheet = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(sheet)
    for i, (name, image) in enumerate(paintings.items()):
        x = GAP + i * (CROP + GAP)
        box = crop_box(image.size)
        thumb = image.resize((CROP, thumb_h), Image.Resampling.LANCZOS)
        scale = CROP / image.width
        ImageDraw.Draw(thumb).rectangle([round(v * scale) for v in box], outline="red", width=2)
        draw.text((x, 4), f"{name}: whole picture ({image.width}x{image.height}, reduced)",
                  fill="black", font=font)
        sheet.paste(thumb, (x, LABEL))
        y = LABEL + thumb_h + GAP
        draw.text((x, y + 4), f"{name}: 1:1 crop at {size}", fill="black", font=font)
        sheet.paste(image.crop(box), (x, y + LABEL))
    return sheet


def save_compact(image: Image.Image, path: Path, limit: int = 1_000_000) -> int:
    """Save as JPEG at the highest of a few qualities that keeps the file under ``limit``."""
    for quality in (88, 82, 76, 70, 60):
        image.save(path, quality=quality, optimize=True, progressive=True)
        if path.stat().st_size < limit:
            break
    return path.stat().st_size


@torch.no_grad()
def scores(evaluator: Evaluator, paintings: dict[str, Image.Image]) -> dict[str, dict]:
    """Style distance of each whole painting per scale, and of its 1:1 crop at 1024."""
    reference = evaluator.style_grams[BASE]
    result = {}
    for name, image in paintings.items():
        whole = to_tensor(image)
        crop = to_tensor(image.crop(crop_box(image.size)))
        features = evaluator.vgg(crop)
        crop_distance = sum(float(torch.mean((gram(features[layer]) - g) ** 2))
                            for layer, g in zip(TEXTURE_LAYERS, reference))
        result[name] = {"style": {s: evaluator.style_distance(whole, s)
                                  for s in evaluator.scales},
                        "crop@1024": crop_distance}
    return result


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--style", default="starry-night", help="built-in style or model file")
    parser.add_argument("--photo", type=Path, default=DEFAULT_PHOTO)
    parser.add_argument("--artwork", type=Path, default=DEFAULT_ARTWORK,
                        help="the style's artwork, for the scores (skipped if missing)")
    parser.add_argument("--sizes", type=int, nargs="+", default=[2048, 4096])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--precision", default="auto", choices=("auto", "float32", "bfloat16"))
    parser.add_argument("--no-eval", action="store_true", help="pictures only")
    args = parser.parse_args(argv)

    model = brushwork.load_model(args.style, device="cpu", precision=args.precision)
    photo = load_image(args.photo)
    evaluator = None
    if not args.no_eval and args.artwork.is_file():
        evaluator = Evaluator(to_tensor(load_image(args.artwork)), EVAL_SCALES)
    elif not args.no_eval:
        print(f"{args.artwork} not found: no scores")
    args.out.mkdir(parents=True, exist_ok=True)
    print(f"model {args.style} ({model.dtype}), photo {args.photo.name} "
          f"{photo.width}x{photo.height}, crop {CROP} px centred at {CENTRE}")
    for size in args.sizes:
        paintings, seconds = paint(model, photo, size)
        path = args.out / f"{args.photo.stem}-{size}.jpg"
        nbytes = save_compact(figure(paintings, size), path)
        print(f"\n## {size}: {path.relative_to(REPO) if path.is_relative_to(REPO) else path} "
              f"({nbytes / 1e3:.0f} kB)")
        print("seconds (CPU shared with other work): "
              + ", ".join(f"{name} {seconds[name]:.1f}" for name in METHODS))
        print(f"levels: recursive {level_long_sides(size)}, "
              f"naive {level_long_sides(size, -(-size // 4))}, upscaled {level_long_sides(BASE)}"
              " then bicubic")
        if evaluator is not None:
            table = scores(evaluator, paintings)
            scales = evaluator.scales
            print("| schedule | " + " | ".join(f"style @{s}" for s in scales)
                  + " | 1:1 crop vs artwork @1024 |")
            print("|---" * (len(scales) + 2) + "|")
            for name in METHODS:
                row = table[name]
                cells = " | ".join(f"{row['style'][s]:.4g}" for s in scales)
                print(f"| {name} | {cells} | {row['crop@1024']:.4g} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
