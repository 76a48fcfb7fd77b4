"""The README's first picture: held-back photos painted in every built-in style.

    python -m experiments.hero                      # docs/images/built-in-styles.jpg
    python -m experiments.hero --photos gcompris-qt-data-dog.jpg --size 1024

Each photo is painted at ``--size`` (long side) by each built-in style, as a user would with
``brushwork stylize photo.jpg --style NAME``, and shown beside the photo in one contact sheet
(``peer_compare.contact_sheet``). The default photos are held back from training
(docs/held-out-photos.txt) and public domain (shared/data/photos/SOURCES.tsv).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

from brushwork.api import available_styles, load_model
from brushwork.images import load_image
from experiments import peer_compare
from experiments.lib.arguments import DEFAULT_PHOTOS as PHOTOS_DIR
from experiments.lib.arguments import REPO, log

DEFAULT_PHOTOS = ("gcompris-qt-data-dog.jpg", "gcompris-qt-data-chateaudechambord.jpg")
DEFAULT_OUTPUT = REPO / "docs" / "images" / "built-in-styles.jpg"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--photos", nargs="+", default=list(DEFAULT_PHOTOS),
                        help="photos in the shared photo folder (default: %(default)s)")
    parser.add_argument("--size", type=int, default=1024, help="long side painted at")
    parser.add_argument("--per-row", type=int, default=5,
                        help="tiles per row; the photo and its styles wrap into rows of this "
                             "many, so the sheet reads on a phone (default %(default)s)")
    parser.add_argument("-o", "--output", type=Path, default=DEFAULT_OUTPUT)
    args = parser.parse_args(argv)
    torch.set_grad_enabled(False)
    photos = [load_image(PHOTOS_DIR / name) for name in args.photos]
    columns = {"photo": photos}
    for style in available_styles():
        model = load_model(style)
        columns[style] = [model.stylize(photo, args.size) for photo in photos]
        log(f"{style}: painted {len(photos)} photos")
    args.output.parent.mkdir(parents=True, exist_ok=True)
    peer_compare.contact_sheet(columns, args.output, per_row=args.per_row)
    print(f"{args.output}: {len(photos)} photos x {len(columns) - 1} styles")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
