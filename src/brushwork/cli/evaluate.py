"""``brushwork eval``: multi-scale style distance and content distance of paintings."""

from __future__ import annotations

import argparse
import json
import time
from typing import Any

from ..evaluation import EVAL_SCALES
from .arguments import positive_int


def _eval(args: argparse.Namespace) -> int:
    from ..evaluation import Evaluator
    from ..images import load_image, to_tensor

    style = to_tensor(load_image(args.style))
    photo = to_tensor(load_image(args.photo)) if args.photo else None
    evaluator = Evaluator(style, args.scales)
    rows: list[dict[str, Any]] = []
    named = [(str(p), to_tensor(load_image(p))) for p in args.outputs]
    if photo is not None:
        named.insert(0, (f"{args.photo} (unstylised photo)", photo))
    for name, image in named:
        began = time.perf_counter()
        scores = evaluator.score(image, photo)
        rows.append({"image": name, "style": scores.style, "content": scores.content,
                     "structure": scores.structure,
                     "seconds": round(time.perf_counter() - began, 3)})
    if args.json:
        for row in rows:
            print(json.dumps(row))
        return 0
    scales = evaluator.scales
    print("| image | " + " | ".join(f"style @{s}" for s in scales) + " | content | structure |")
    print("|---" * (len(scales) + 3) + "|")
    for row in rows:
        content = "-" if row["content"] is None else f"{row['content']:.4g}"
        shape = "-" if row["structure"] is None else f"{row['structure']:.3f}"
        cells = " | ".join(f"{row['style'][s]:.4g}" for s in scales)
        print(f"| {row['image']} | {cells} | {content} | {shape} |")
    return 0


def add_parser(commands: Any) -> None:
    ev = commands.add_parser(
        "eval", help="score stylised images: multi-scale style distance and content distance"
    )
    ev.add_argument("outputs", nargs="+", metavar="IMAGE", help="stylised images to score")
    ev.add_argument("--style", required=True, help="the artwork")
    ev.add_argument("--photo", help="the content photo (adds content distance and its own row)")
    ev.add_argument("--scales", nargs="+", type=positive_int, metavar="PX",
                    default=list(EVAL_SCALES),
                    help="long sides for the style distance (default "
                         f"{' '.join(map(str, EVAL_SCALES))})")
    ev.add_argument("--json", action="store_true", help="one JSON record per image")
    ev.set_defaults(run=_eval)
