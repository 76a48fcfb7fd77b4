"""The built-in styles' gallery and scores: what a user gets, in pictures and numbers.

    python -m experiments.styles_report [NAME ...]    # default: every built-in style

Writes, for each built-in style:
* ``docs/gallery/NAME-SAMPLE.jpg``: the three sample photos of ``docs/samples/`` at 1024 px, and
  ``NAME-SAMPLE-crop.jpg``: a 1:1 crop (no resampling) where brushwork is visible;
* ``docs/gallery/README.md``: the gallery page;
* ``docs/styles/evaluation.md`` (+ ``.json``): ``brushwork eval``'s scores on the held-back
  photos (``docs/held-out-photos.txt``, never trained on) at 1024 px: the style distance at each
  scale of the stylised photo and of the unstylised photo, against the artwork of the level
  trained at that scale (a combination model has different artworks per level).

All scores come from ``brushwork.evaluation`` exactly as ``brushwork eval`` computes them.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

import torch

from brushwork.api import available_styles, load_model, resolve_model_path, style_card
from brushwork.evaluation import Evaluator
from brushwork.images import load_image, save_image, to_tensor
from brushwork.model_files import read_model_file

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ("giraffe.jpg", "qutub-minar.jpg", "baia.jpg")
PHOTOS = ROOT.parent / "shared" / "data" / "photos"
ARTWORKS = ROOT.parent / "shared" / "data" / "styles"
GALLERY = ROOT / "docs" / "gallery"
SIZE = 1024
CROP = 320  # px of the 1024 output shown 1:1


def artworks_per_scale(model: str | Path) -> dict[int, str]:
    """Long side -> artwork file the model (a built-in name or a model file) learned at that
    scale, from its own metadata."""
    _, metadata = read_model_file(resolve_model_path(model))
    files = [s["file"] for s in metadata.get("styles", [])]
    sizes = metadata.get("loss", {}).get("style_sizes", [256, 512, 1024])
    if len(files) == 1:
        files = files * len(sizes)
    return {int(size): file for size, file in zip(sizes, files)}


def crop_box(width: int, height: int) -> tuple[int, int, int, int]:
    """A fixed crop a little above the centre (where the samples' subjects are)."""
    left = (width - CROP) // 2
    top = max(0, int(height * 0.42) - CROP // 2)
    return left, top, left + CROP, top + CROP


def gallery(names: list[str]) -> None:
    GALLERY.mkdir(parents=True, exist_ok=True)
    lines = ["# Gallery", "",
             "Every built-in style on the same three photos (held back from training; "
             "`docs/samples/SOURCES.md`) at 1024 px, and a 1:1 crop of each (no resampling: "
             "one output pixel per screen pixel) where the brushwork shows. Made by "
             "`python -m experiments.styles_report`.", ""]
    for name in names:
        card = style_card(name)
        stylizer = load_model(name)
        lines += [f"## `{name}`: {card.get('title', name)} ({card.get('artist', '?')}, "
                  f"{card.get('year', '?')})", "",
                  "| photo | 1024 px | 1:1 crop |", "|---|---|---|"]
        for sample in SAMPLES:
            stem = Path(sample).stem
            painting = stylizer.stylize(load_image(ROOT / "docs" / "samples" / sample), SIZE)
            full, crop = f"{name}-{stem}.jpg", f"{name}-{stem}-crop.jpg"
            save_image(painting, GALLERY / full, quality=82)
            save_image(painting.crop(crop_box(*painting.size)), GALLERY / crop, quality=92)
            lines.append(f"| {stem} | ![{name} {stem}]({full}) | ![1:1 crop]({crop}) |")
        lines.append("")
    (GALLERY / "README.md").write_text("\n".join(lines))


def held_out_photos(count: int | None = None) -> list[str]:
    """The held-back photos (never trained on), the first ``count`` of them."""
    return (ROOT / "docs" / "held-out-photos.txt").read_text().split()[:count]


def score_model(model: str | Path, photos: list[str], label: str = "") -> dict:
    """One model at 1024 px on the given held-back photos: per photo, the style distance at
    each trained scale of the painting and of the unstylised photo, and the content distance."""
    per_scale = artworks_per_scale(model)
    scales_of: dict[str, list[int]] = {}
    for scale, file in per_scale.items():
        scales_of.setdefault(file, []).append(scale)
    evaluators = {f: Evaluator(to_tensor(load_image(ARTWORKS / f)), scales=scales)
                  for f, scales in scales_of.items()}
    stylizer = load_model(model)
    rows = []
    for photo_name in photos:
        photo = load_image(PHOTOS / photo_name)
        painting = to_tensor(stylizer.stylize(photo, SIZE))
        original = to_tensor(photo)
        row: dict = {"photo": photo_name, "styled": {}, "photo_only": {}}
        for scale, file in per_scale.items():
            evaluator = evaluators[file]
            row["styled"][scale] = evaluator.style_distance(painting, scale)
            row["photo_only"][scale] = evaluator.style_distance(original, scale)
        row["content"] = next(iter(evaluators.values())).content_distance(painting, original)
        rows.append(row)
        print(f"{label or model} {photo_name}: " + " ".join(
            f"{s}: {row['styled'][s]:.3g} (photo {row['photo_only'][s]:.3g})"
            for s in per_scale), flush=True)
    return {"artworks": per_scale, "rows": rows}


def evaluate(names: list[str]) -> dict:
    photos = held_out_photos()
    return {name: score_model(name, photos) for name in names}


def write_evaluation(results: dict) -> None:
    out = ROOT / "docs" / "styles"
    (out / "evaluation.json").write_text(json.dumps(results, indent=1))
    lines = ["# Built-in styles: scores on the held-back photos", "",
             "`python -m experiments.styles_report`: every built-in model applied at 1024 px to "
             "the photos of `docs/held-out-photos.txt` (never trained on). Style distance "
             "(`brushwork eval`, docs/architecture.md): Gram distance at relu1_1..relu4_1 between "
             "the image and the artwork the model learned at that scale, both resized to the "
             "scale's long side. Median over the photos; 'photo' is the unstylised photo's "
             "distance; 'ratio' is stylised / photo (lower: closer to the artwork). Content: "
             "relu4_2 distance to the photo at 512 px (for scale, a flat grey image scores "
             "about 3e5-6e5 on these photos).", "",
             "| style | photos | scale | stylised | photo | ratio | stylised closer on |",
             "|---|---|---|---|---|---|---|"]
    for name, result in results.items():
        rows = result["rows"]
        for scale in result["artworks"]:
            styled = statistics.median(r["styled"][scale] for r in rows)
            plain = statistics.median(r["photo_only"][scale] for r in rows)
            wins = sum(r["styled"][scale] < r["photo_only"][scale] for r in rows)
            lines.append(f"| `{name}` | {len(rows)} | {scale} | {styled:.3g} | {plain:.3g} | "
                         f"{styled / plain:.3f} | {wins}/{len(rows)} |")
        content = statistics.median(r["content"] for r in rows)
        lines.append(f"| `{name}` | | content | {content:.3g} | | | |")
    (out / "evaluation.md").write_text("\n".join(lines) + "\n")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("names", nargs="*", help="built-in styles (default: all)")
    parser.add_argument("--skip-gallery", action="store_true")
    parser.add_argument("--skip-eval", action="store_true")
    args = parser.parse_args(argv)
    names = args.names or available_styles()
    unknown = sorted(set(names) - set(available_styles()))
    if unknown:
        parser.error(f"not built-in styles: {', '.join(unknown)}")
    torch.set_grad_enabled(False)
    if not args.skip_gallery:
        gallery(names)
    if not args.skip_eval:
        write_evaluation(evaluate(names))
    return 0


if __name__ == "__main__":
    sys.exit(main())
