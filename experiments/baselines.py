"""The baselines that Fig. 5 does not train: DS Net and the deep singular networks of Fig. 6.

    python experiments/baselines.py                  # defaults below: ~15 minutes of CPU
    python experiments/baselines.py --smoke          # seconds, in a temporary folder

Issue 5 asks that every baseline train and stylise. Fig. 5 (``fig5_singular.py``) trains the
Johnson net, the texture network and the style subnet; this report trains the rest at a short,
stated budget and paints held-out photos with them:

* DS Net (Table 1): MT-Net's three subnets chained at full size, ONE loss on the final output,
  with the artwork at 1024 px (our choice: the scale of MT-Net's own final level);
* singular 256 / singular 1024 (Fig. 6): ``singular --match-mtnet`` (the style subnet deepened
  to MT-Net's parameter count), one loss with the artwork at 256 or at 1024 px.

At this budget the pictures answer "does it train and paint?", not "which is better": that is
Fig. 6's question (``fig6_scale.py``), at a budget that needs a GPU or many CPU hours.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

import common

from brushwork.evaluation import EVAL_SCALES
from brushwork.hyper_parameters import LossConfig

NAME = "baselines"
ITERATIONS, CROP, PHOTOS, SIZE = 25, 512, 5, 1024
STYLES = ("starry-night",)
METHODS = ("ds-net", "singular-256", "singular-1024")
LABELS = {"ds-net": "DS Net", "singular-256": "singular 256", "singular-1024": "singular 1024"}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="baselines.py", description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="Writes REPORTS/baselines.md, REPORTS/baselines/STYLE.png, "
               "REPORTS/baselines.json.")
    common.add_common_arguments(parser, PHOTOS, SIZE)
    common.add_training_arguments(parser, ITERATIONS, CROP)
    parser.add_argument("--styles", nargs="+", default=list(STYLES), metavar="ART",
                        help=f"artworks by name or path (default: {' '.join(STYLES)})")
    return parser


def specs(args: argparse.Namespace, style: str, art: Path) -> dict[str, common.TrainSpec]:
    config = common.budget_config(args)
    stem = Path(style).stem
    singular = common.network_config("singular", args.smoke, match_mtnet=True)
    mtnet_shape = common.network_config("mtnet", args.smoke)  # DS Net has MT-Net's structure

    def one_loss(size: int) -> LossConfig:
        return LossConfig.single_level(common.style_size(size, args.smoke))

    return {
        "ds-net": common.TrainSpec(f"{stem}-ds-net", "ds-net", mtnet_shape, one_loss(1024),
                                   config, art, args.data, LABELS["ds-net"]),
        "singular-256": common.TrainSpec(f"{stem}-singular-256", "singular", singular,
                                         one_loss(256), config, art, args.data,
                                         LABELS["singular-256"]),
        "singular-1024": common.TrainSpec(f"{stem}-singular-1024", "singular", singular,
                                          one_loss(1024), config, art, args.data,
                                          LABELS["singular-1024"]),
    }


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = common.settle(build_parser().parse_args(argv), NAME, PHOTOS, SIZE, ITERATIONS, CROP)
    scales = common.SMOKE_SCALES if args.smoke else EVAL_SCALES
    photos = common.held_out_photos(args.held_out, args.photos_dir, args.photos)
    arts = {Path(style).stem: common.style_path(args.styles_dir, style) for style in args.styles}
    comparison = common.run_comparison(
        args, {style: specs(args, style, art) for style, art in arts.items()}, arts, photos,
        LABELS, scales, "Baselines")
    info = common.provenance(args.device)
    lines = common.report_head(args, argv, "baselines.py",
                               "The other baselines train and paint: DS Net, singular 256 and "
                               "singular 1024", info)
    lines += [
        "**Question** (issue 5): does each baseline that Fig. 5 does not cover train with "
        "Brushwork's trainer and paint photos at full size? At this short budget the scores "
        "say whether each network moved from the photo towards the artwork, not which "
        "network is better (that is Fig. 6's question).",
        "",
    ]
    lines += common.setup_lines(args, comparison, scales, LABELS)
    results, _ = common.results_lines(args, comparison, scales, LABELS, METHODS[0])
    lines += results
    lines += common.discussion("_To be written after reading the numbers and the pictures._")
    common.write_report(args.reports / f"{NAME}.md", "\n".join(lines))
    budget = (f"{args.iterations} iterations per network (batch 1, {args.crop_size}-px crops), "
              f"{len(arts)} artwork(s) x 3 networks; {len(photos)} held-out photos at "
              f"{args.size} px")
    common.write_summary(args.reports, NAME, {
        "title": "DS Net and the deep singular networks train and paint",
        "report": f"{NAME}.md", "budget": budget, "smoke": args.smoke, "provenance": info,
    }, common.comparison_data(comparison))
    common.log(f"{NAME}: report {args.reports / (NAME + '.md')}")
    return 0


if __name__ == "__main__":
    sys.exit(common.run_main(main, None))
