"""Fig. 5: singular transfer networks: MT-Net's style subnet, Johnson et al., Ulyanov et al.

    python -m experiments.fig5_singular                   # defaults below: about an hour or two
    python -m experiments.fig5_singular --smoke           # seconds, in a temporary folder

Paper section 4: the style subnet, separated from MT-Net, is trained as a singular transfer
network beside Johnson et al.'s network and Ulyanov et al.'s texture network, all with instance
norm, "trained on images of size 256 with the same content to texture weights"; the paper
finds the style subnet "qualitatively comparable" and sometimes better at texture detail, and
so takes it as the representative of singular transfer in Fig. 6. Here the three networks are
trained at the same budget on the same photos (crops of 256 px, the artwork at 256 px), paint
held-out photos at 512 px, and are scored with ``brushwork eval``'s metric, unchanged.

Networks (``--arch`` of ``brushwork train``, default widths): ``johnson``, ``texture-net``,
``singular`` (the style subnet alone). Loss: one level, ``LossConfig.single_level`` (content
weight 1, texture weight 1.5 as MT-Net's level 1, the artwork at ``--style-size``). Re-running
skips finished work and resumes unfinished training runs; ``--iterations`` may be raised later.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from brushwork.evaluation import EVAL_SCALES
from brushwork.hyper_parameters import LossConfig
from experiments.lib.arguments import (
    SMOKE_SCALES,
    add_common_arguments,
    add_training_arguments,
    budget_config,
    held_out_photos,
    log,
    run_main,
    settle,
    style_path,
)
from experiments.lib.comparison import comparison_data, results_lines, run_comparison, setup_lines
from experiments.lib.reports import discussion, provenance, report_head, write_report, write_summary
from experiments.lib.runs import TrainSpec, network_config, style_size

NAME = "fig5"
#: Full-run defaults (see ``--help``). Crops of 256 px as the paper trains these networks.
ITERATIONS, CROP, PHOTOS, SIZE, STYLE_SIZE = 2000, 256, 20, 512, 256
STYLES = ("starry-night",)
METHODS = ("johnson", "texture-net", "singular")
LABELS = {"johnson": "Johnson et al.", "texture-net": "Ulyanov et al.",
          "singular": "style subnet"}
FOCUS = "singular"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m experiments.fig5_singular", description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="Writes REPORTS/fig5.md, REPORTS/fig5/STYLE.png, REPORTS/fig5.json. Cost of the "
               "defaults on a 2-core CPU: about 1 h (0.4-0.8 s per iteration at 256-px crops).")
    add_common_arguments(parser, PHOTOS, SIZE)
    add_training_arguments(parser, ITERATIONS, CROP)
    parser.add_argument("--styles", nargs="+", default=list(STYLES), metavar="ART",
                        help="artworks by name in --styles-dir, or paths (default: "
                             f"{' '.join(STYLES)})")
    parser.add_argument("--style-size", type=int,
                        help=f"long side of the artwork in training (default {STYLE_SIZE}; "
                             f"smoke {style_size(STYLE_SIZE, True)})")
    return parser


def specs(args: argparse.Namespace, style: str, art: Path) -> dict[str, TrainSpec]:
    """The three networks for one artwork, at one budget and one loss."""
    config = budget_config(args)
    loss = LossConfig.single_level(args.style_size)
    return {method: TrainSpec(f"{Path(style).stem}-{method}", method,
                                     network_config(method, args.smoke), loss, config,
                                     art, args.data, LABELS[method])
            for method in METHODS}


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = settle(build_parser().parse_args(argv), NAME, PHOTOS, SIZE, ITERATIONS, CROP)
    if args.style_size is None:
        args.style_size = style_size(STYLE_SIZE, args.smoke)
    scales = SMOKE_SCALES if args.smoke else EVAL_SCALES
    photos = held_out_photos(args.held_out, args.photos_dir, args.photos)
    arts = {Path(style).stem: style_path(args.styles_dir, style) for style in args.styles}
    comparison = run_comparison(
        args, {style: specs(args, style, art) for style, art in arts.items()}, arts, photos,
        LABELS, scales, "Fig. 5 analogue")

    info = provenance(args.device)
    lines = report_head(args, argv, "fig5_singular.py",
                               f"Fig. 5 analogue: singular transfer networks at {args.size} px",
                               info)
    lines += [
        "**Question** (paper section 4, Fig. 5): trained alike, does MT-Net's style subnet as a "
        "singular transfer network match the artwork as well as Johnson et al.'s network and "
        "Ulyanov et al.'s texture network? The paper calls it \"qualitatively comparable\", "
        "better on texture detail in some cases.",
        "",
    ]
    lines += setup_lines(args, comparison, scales, LABELS)
    results, wins = results_lines(args, comparison, scales, LABELS, FOCUS)
    lines += results
    lines += discussion(
        "_To be written after reading the numbers and the pictures: where the networks differ "
        "and why (parameter counts, receptive fields, the budget)._")
    write_report(args.reports / f"{args.name}.md", "\n".join(lines))
    budget = (f"{args.iterations} iterations per network (batch 1, {args.crop_size}-px crops, "
              f"artwork at {args.style_size} px), {len(arts)} artwork(s) x 3 networks; "
              f"{len(photos)} held-out photos at {args.size} px")
    write_summary(args.reports, args.name, {
        "title": f"Fig. 5: singular networks compared at {args.size} px",
        "report": f"{args.name}.md", "budget": budget, "smoke": args.smoke, "provenance": info,
        "style_subnet_wins": wins,
    }, comparison_data(comparison))
    log(f"{args.name}: report {args.reports / (args.name + '.md')}")
    return 0


if __name__ == "__main__":
    sys.exit(run_main(main, None))
