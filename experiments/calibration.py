"""Compare short training runs side by side, to choose a style's texture weights.

    python -m experiments.calibration RUN_DIR [RUN_DIR ...] --style ART.jpg --out sheet.jpg

Each run's latest checkpoint is exported to a temporary model file and applied at 1024 px to
held-back photos (``docs/held-out-photos.txt``, never trained on). Printed: per run, its
iteration, texture weights and content target, then the median over the photos of
``brushwork eval``'s style distance at 256/512/1024 px against the artwork and the content
distance to the photo (for scale: a flat grey image is at ~3e5-6e5 on these photos, the
photo itself at 0). ``--out`` writes a contact sheet: one row per run, one column per photo,
so "does it keep the photo's shapes?" can be answered by looking.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path

import torch
from PIL import Image, ImageDraw

from brushwork.api import load_model
from brushwork.checkpoints import load_checkpoint
from brushwork.evaluation import Evaluator
from brushwork.images import load_image, save_image, to_tensor
from brushwork.model_files import export_model

ROOT = Path(__file__).resolve().parents[1]
PHOTOS = ROOT.parent / "shared" / "data" / "photos"
THUMB = 384


def describe(run: Path) -> str:
    _, state, _ = load_checkpoint(run)
    loss = state["loss"]
    return (f"{run.name}: iteration {state['iteration']}, texture {loss['texture_weights']}, "
            f"content target {loss.get('content_target', 'input')}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("runs", nargs="+", type=Path)
    parser.add_argument("--style", type=Path, required=True, help="the artwork")
    parser.add_argument("--photos", type=int, default=6, help="held-back photos to use")
    parser.add_argument("--size", type=int, default=1024)
    parser.add_argument("--out", type=Path, help="contact sheet (.jpg)")
    args = parser.parse_args(argv)
    torch.set_grad_enabled(False)
    names = (ROOT / "docs" / "held-out-photos.txt").read_text().split()[:: 20 // args.photos]
    names = names[: args.photos]
    photos = [load_image(PHOTOS / n) for n in names]
    evaluator = Evaluator(to_tensor(load_image(args.style)))
    rows: list[list[Image.Image]] = []
    with tempfile.TemporaryDirectory() as tmp:
        for run in args.runs:
            model = export_model(run, Path(tmp) / f"{run.name}.safetensors")
            stylizer = load_model(model)
            scores, row = [], []
            for photo in photos:
                painting = stylizer.stylize(photo, args.size)
                scores.append(evaluator.score(to_tensor(painting), to_tensor(photo)))
                thumb = painting.copy()
                thumb.thumbnail((THUMB, THUMB))
                row.append(thumb)
            rows.append(row)
            style = {s: statistics.median(sc.style[s] for sc in scores) for s in evaluator.scales}
            content = statistics.median(sc.content for sc in scores)
            print(describe(run))
            print("    style " + "  ".join(f"@{s} {v:.3g}" for s, v in style.items())
                  + f"  content {content:.3g}", flush=True)
    if args.out:
        sheet = Image.new("RGB", (THUMB * len(photos), (THUMB + 20) * len(rows)), "white")
        draw = ImageDraw.Draw(sheet)
        for i, (run, row) in enumerate(zip(args.runs, rows)):
            draw.text((4, i * (THUMB + 20) + 4), run.name, fill="black")
            for j, thumb in enumerate(row):
                sheet.paste(thumb, (j * THUMB, i * (THUMB + 20) + 20))
        save_image(sheet, args.out, quality=85)
    return 0


if __name__ == "__main__":
    sys.exit(main())
