"""Paper Fig. 7: a two-artwork style beside the two single-artwork styles it combines.

    python -m experiments.fig7_two_artworks wave-and-bougival great-wave garden-at-bougival

Paints the first held-back photos at 1024 px with each style and writes a sheet
(``docs/gallery/fig7.jpg``): per photo, the whole paintings (photo | each style), then a 1:1
crop of 256 px from the middle of each 1024 px painting, where the refine level's brushwork
shows. Prints the style distance of each painting to each artwork at 256/512/1024, and to the
fine artwork as the two-artwork style learned it ("fine as trained": recoloured to the coarse
artwork's palette): the two-artwork style should sit near the coarse artwork at 256 and move
toward the fine one's brushwork at 1024.
"""

from __future__ import annotations

import argparse
import statistics
from pathlib import Path

import torch

from brushwork.api import load_model
from brushwork.evaluation import EVAL_SCALES, Evaluator
from brushwork.images import load_image, to_tensor
from experiments import zoo_report
from experiments.lib.arguments import (
    DEFAULT_HELD_OUT,
    DEFAULT_PHOTOS,
    DEFAULT_STYLES,
    REPO,
    held_out_photos,
    log,
)
from experiments.lib.reports import provenance, provenance_line
from experiments.mix_compare import artwork
from experiments.peer_compare import contact_sheet

SIZE = 1024
CROP = 256


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("styles", nargs="+", help="the two-artwork style first, then others")
    parser.add_argument("--photos", type=int, default=4)
    parser.add_argument("--sheet", type=Path, default=REPO / "docs" / "gallery"
                        / "fig7.jpg")
    args = parser.parse_args(argv)
    torch.set_grad_enabled(False)
    models = {name: load_model(name) for name in args.styles}
    arts = {name: artwork(name) for name in args.styles[1:]}
    judges = {art.name: Evaluator(to_tensor(load_image(art))) for art in arts.values()}
    # The fine artwork as the two-artwork style's refine level learned it (recoloured to the
    # coarse artwork's palette, LossConfig.fine_colours), when that differs from the original.
    fine, fine_name = zoo_report.fine_target(args.styles[0]), zoo_report.artworks(
        args.styles[0])[-1]
    if fine is not None and fine_name in judges:
        original = to_tensor(load_image(DEFAULT_STYLES / fine_name))
        if fine.shape != original.shape or not torch.equal(fine, original):
            judges["fine as trained"] = Evaluator(fine)
    photos = held_out_photos(DEFAULT_HELD_OUT, DEFAULT_PHOTOS, args.photos)
    columns: dict[str, list] = {"photo": [], **{name: [] for name in models}}
    scores: dict[tuple[str, str, int], list[float]] = {}
    for path in photos:
        photo_image = load_image(path)
        columns["photo"].append(photo_image)
        paintings = {name: model.stylize(photo_image, SIZE) for name, model in models.items()}
        crops = {}
        for name, painting in paintings.items():
            left, top = (painting.width - CROP) // 2, (painting.height - CROP) // 2
            crops[name] = painting.crop((left, top, left + CROP, top + CROP))
            for art_name, judge in judges.items():
                result = judge.score(to_tensor(painting))
                for scale in EVAL_SCALES:
                    scores.setdefault((name, art_name, scale), []).append(result.style[scale])
        for name in models:
            columns[name] += [paintings[name], crops[name]]
        middle = photo_image.resize((paintings[args.styles[0]].width,
                                     paintings[args.styles[0]].height))
        left, top = (middle.width - CROP) // 2, (middle.height - CROP) // 2
        columns["photo"].append(middle.crop((left, top, left + CROP, top + CROP)))
        log(f"{path.name} done")
    print(f"{len(photos)} held-back photos at {SIZE} px; "
          f"{provenance_line(provenance('cpu'))}")
    print("| style | " + " | ".join(f"to {a} @{s}" for a in judges for s in EVAL_SCALES) + " |")
    print("|---" * (1 + len(judges) * len(EVAL_SCALES)) + "|")
    for name in models:
        print(f"| {name} | " + " | ".join(
            f"{statistics.mean(scores[(name, a, s)]):.3g}" for a in judges for s in EVAL_SCALES)
            + " |")
    contact_sheet(columns, args.sheet)
    print(f"sheet: {args.sheet}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
