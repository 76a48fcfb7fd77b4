"""Fig. 6: singular transfer trained with the artwork at 256 vs at 1024 px, against MT-Net.

    python -m experiments.fig6_scale                      # defaults below: hours of CPU time
    python -m experiments.fig6_scale --mtnet-model \
        starry-night=runs/zoo/starry-night.run/snapshots/iter-001000.safetensors  # reuse one
    python -m experiments.fig6_scale --seed 1             # the second seed: fig6-seed1.md
    python -m experiments.fig6_scale --smoke              # seconds, in a temporary folder

The paper's central claim (section 4, Fig. 6): a singular transfer network with MT-Net's
parameter count, trained with the style image at 256 px, paints texture too small at 1024 px;
trained at 1024 px it gets the colours but not the distortion and brushwork; MT-Net gets both.
The paper shows pictures. Here every network is trained at the same budget (iterations, batch,
crops, photos in the same order), paints held-out photos at 1024 px, and is scored with
``brushwork eval``'s metric, unchanged: the Gram style distance with the output and the artwork
both at long side 256, 512 and 1024 (coarse texture to fine brushwork) and the relu4_2 content
distance. The report says per style and scale who has the lower distance on how many photos.

Networks (``--arch`` of ``brushwork train``):

* singular 256: ``singular --match-mtnet`` (the style subnet deepened to MT-Net's parameter
  count, ``SingularConfig.matching_mtnet``), one loss with the artwork at 256 px;
* singular 1024: the same network, the artwork at 1024 px;
* MT-Net: ``mtnet`` with the paper's three losses (artwork at 256, 512, 1024).

Everything but the networks and the style target sizes is the library's default (paper 4),
including the texture weights. Re-running skips finished work and resumes unfinished training
runs; ``--iterations`` may be raised later (the runs continue).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from brushwork.errors import BrushworkError
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
from experiments.lib.reports import (
    discussion,
    markdown_table,
    provenance,
    report_head,
    write_report,
    write_summary,
)
from experiments.lib.runs import TrainSpec, network_config, style_size
from experiments.lib.scoring import style_values

NAME = "fig6"
#: Full-run defaults (see ``--help``): 1,000 iterations, so the zoo's starry-night run (same
#: settings, snapshot every 500 iterations) can stand in for the MT-Net run of that style
#: (``--mtnet-model``; the settings and the budget are checked).
ITERATIONS, CROP, PHOTOS, SIZE = 1000, 512, 20, 1024
STYLES = ("starry-night", "great-wave")
METHODS = ("singular-256", "singular-1024", "mtnet")
LABELS = {"singular-256": "singular 256", "singular-1024": "singular 1024", "mtnet": "MT-Net"}
FOCUS = "mtnet"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m experiments.fig6_scale", description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="Writes REPORTS/fig6.md, REPORTS/fig6/STYLE.png, REPORTS/fig6.json. Cost of the "
               "defaults on a 2-core CPU (~4 s per MT-Net iteration, ~2.6 s per iteration of the "
               "deeper singular network): about 6 h (5 h with --mtnet-model "
               "starry-night=runs/zoo/starry-night.run/snapshots/iter-001000.safetensors, the "
               "zoo run's 1,000-iteration snapshot, trained alike).")
    add_common_arguments(parser, PHOTOS, SIZE)
    add_training_arguments(parser, ITERATIONS, CROP)
    parser.add_argument("--styles", nargs="+", default=list(STYLES), metavar="ART",
                        help="artworks by name in --styles-dir, or paths (default: "
                             f"{' '.join(STYLES)})")
    parser.add_argument("--mtnet-model", action="append", default=[], metavar="STYLE=MODEL",
                        help="use this MT-Net model (a file or built-in style name) for STYLE "
                             "instead of training one: it must have been trained with the "
                             "same settings for exactly --iterations (checked)")
    return parser


def specs(args: argparse.Namespace, style: str, art: Path) -> dict[str, TrainSpec]:
    """The three networks for one artwork, at one budget."""
    config = budget_config(args)
    singular = network_config("singular", args.smoke, match_mtnet=True)
    stem = Path(style).stem

    def size(full: int) -> int:
        return style_size(full, args.smoke)

    mtnet_loss = replace(LossConfig(), style_sizes=tuple(size(s) for s in
                                                          LossConfig().style_sizes))
    return {
        "singular-256": TrainSpec(f"{stem}-singular-256", "singular", singular,
                                         LossConfig.single_level(size(256)), config, art,
                                         args.data, LABELS["singular-256"]),
        "singular-1024": TrainSpec(f"{stem}-singular-1024", "singular", singular,
                                          LossConfig.single_level(size(1024)), config, art,
                                          args.data, LABELS["singular-1024"]),
        "mtnet": TrainSpec(f"{stem}-mtnet", "mtnet",
                                  network_config("mtnet", args.smoke), mtnet_loss,
                                  config, art, args.data, LABELS["mtnet"]),
    }


def _reuse(entries: Sequence[str]) -> dict[str, Path]:
    found = {}
    for entry in entries:
        style, sep, model = entry.partition("=")
        if not sep or not style or not model:
            raise BrushworkError(f"--mtnet-model wants STYLE=MODEL, not {entry!r}")
        found[Path(style).stem] = Path(model)
    return found


def seed_lines(reports: Path, name: str, data: dict[str, Any],
               scales: Sequence[int]) -> list[str]:
    """Every seed's means side by side (this run's ``data`` and the other seeds' JSON in
    ``reports``), with MT-Net's mean style distance as a fraction of each singular
    network's: the verdict's uncertainty is how much these move from seed to seed."""
    runs = {name: data}
    for path in sorted(reports.glob(f"{NAME}*.json")):
        if path.stem != name and (path.stem == NAME or path.stem.startswith(f"{NAME}-seed")):
            runs[path.stem] = json.loads(path.read_text())
    if len(runs) < 2:
        return []
    order = sorted(runs, key=lambda n: (n != NAME, n))
    rows = []
    for style in sorted({s for run in runs.values() for s in run["scores"]}):
        for run_name in order:
            scores = runs[run_name]["scores"].get(style)
            if not scores or any(m not in scores for m in METHODS):
                continue
            seed = run_name.removeprefix(NAME).removeprefix("-seed") or "0"
            means = {(m, scale): statistics.fmean(style_values(scores[m], scale))
                     for m in METHODS for scale in scales}
            row: list[Any] = [style, seed]
            for scale in scales:
                row += [means[m, scale] for m in METHODS]
                row += [f"{means[FOCUS, scale] / means[m, scale]:.2f}" for m in METHODS
                        if m != FOCUS]
            rows.append(row)
    header = ["style", "seed"]
    for scale in scales:
        header += [f"{LABELS[m]} @{scale}" for m in METHODS]
        header += [f"MT/{LABELS[m].removeprefix('singular ')} @{scale}" for m in METHODS
                   if m != FOCUS]
    return ["## Seeds side by side", "",
            "Mean style distance over the photos per seed (seed 0 is `fig6.md`, seed N "
            "`fig6-seedN.md`; same budget, photos and artworks), and MT-Net's mean as a "
            "fraction of each singular network's (below 1: MT-Net nearer the artwork).", "",
            markdown_table(header, rows), ""]


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = settle(build_parser().parse_args(argv), NAME, PHOTOS, SIZE, ITERATIONS, CROP)
    scales = SMOKE_SCALES if args.smoke else EVAL_SCALES
    photos = held_out_photos(args.held_out, args.photos_dir, args.photos)
    arts = {Path(style).stem: style_path(args.styles_dir, style) for style in args.styles}
    reuse = _reuse(args.mtnet_model)
    unknown = set(reuse) - set(arts)
    if unknown:
        raise BrushworkError(f"--mtnet-model names styles not in --styles: {sorted(unknown)}")
    comparison = run_comparison(
        args, {style: specs(args, style, art) for style, art in arts.items()}, arts, photos,
        LABELS, scales, "Fig. 6 analogue",
        reuse={(style, "mtnet"): model for style, model in reuse.items()})

    info = provenance(args.device)
    lines = report_head(
        args, argv, "fig6_scale.py", "Fig. 6 analogue: singular transfer at style scale 256 "
        f"and 1024 vs MT-Net, at {args.size} px", info)
    lines += [
        "**Question** (paper section 4, Fig. 6): at 1024 px, does MT-Net match the artwork's "
        "texture better than a singular transfer network of the same parameter count trained "
        "with the artwork at 256 px or at 1024 px, at coarse and at fine scales? The paper "
        "answers with pictures; here each network's outputs are scored at three scales.",
        "",
    ]
    if len(photos) < 10 and not args.smoke:
        lines += [f"**Only {len(photos)} photos**: fewer than the 10 this comparison is "
                  "meant for.", ""]
    lines += setup_lines(args, comparison, scales, LABELS)
    results, wins = results_lines(args, comparison, scales, LABELS, FOCUS)
    lines += results
    data = comparison_data(comparison)
    lines += seed_lines(args.reports, args.name, data, scales)
    lines += discussion(
        "_To be written after reading the numbers and the pictures: why each network wins or "
        "loses where it does (for instance the budget, far below the paper's 10,000 "
        "iterations, or the artwork's size against the 1024-px target)._")
    write_report(args.reports / f"{args.name}.md", "\n".join(lines))
    budget = (f"{args.iterations} iterations per network (batch 1, {args.crop_size}-px crops), "
              f"{len(arts)} artworks x 3 networks; {len(photos)} held-out photos at "
              f"{args.size} px")
    write_summary(args.reports, args.name, {
        "title": f"Fig. 6: singular 256 vs singular 1024 vs MT-Net at {args.size} px",
        "report": f"{args.name}.md", "budget": budget, "smoke": args.smoke, "provenance": info,
        "mtnet_wins": wins,
    }, data)
    log(f"{args.name}: report {args.reports / (args.name + '.md')}")
    return 0


if __name__ == "__main__":
    sys.exit(run_main(main, None))
