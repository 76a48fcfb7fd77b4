"""The ``brushwork`` command: stylize, train, export, info, styles.

Defaults are read from the library (the config dataclasses and function signatures), never
typed twice. Errors a user can cause print one line and exit 1; usage errors exit 2 (argparse);
Ctrl-C exits 130. Set BRUSHWORK_DEBUG=1 to see the traceback of an unexpected error.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Sequence
from dataclasses import fields
from pathlib import Path
from typing import Any

from . import __version__
from .errors import BrushworkError
from .hyper_parameters import LossConfig, NetworkConfig, TrainConfig
from .networks import ARCHITECTURES

DEFAULT_STYLE = "starry-night"


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be positive, got {value}")
    return value


def _float(text: str, minimum_exclusive: bool) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if value != value or value in (float("inf"), float("-inf")) or value < 0 or (
        minimum_exclusive and value == 0
    ):
        kind = "positive" if minimum_exclusive else "non-negative"
        raise argparse.ArgumentTypeError(f"must be a {kind} finite number, got {text}")
    return value


def _positive_float(text: str) -> float:
    return _float(text, minimum_exclusive=True)


def _weight(text: str) -> float:
    return _float(text, minimum_exclusive=False)


def _memory(text: str) -> int:
    from .tiling import parse_memory

    try:
        return parse_memory(text)
    except BrushworkError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


# ---------------------------------------------------------------------------------- stylize


def _stylize(args: argparse.Namespace) -> int:
    from .api import load_model
    from .images import load_image, output_format, save_image
    from .stylize import check_size

    check_size(args.size)
    photos = [Path(p) for p in args.photos]
    out = Path(args.output)
    many = len(photos) > 1
    if many and not out.is_dir():
        raise BrushworkError(f"with several photos, -o must be an existing folder: {out}")
    targets = []
    for photo in photos:
        target = out / f"{photo.stem}-stylized.jpg" if out.is_dir() else out
        output_format(target)
        if target in targets:
            raise BrushworkError(f"two photos would both be written to {target}: rename one")
        targets.append(target)
    model = load_model(args.model or args.style or DEFAULT_STYLE, device=args.device,
                       precision=args.precision)
    for photo, target in zip(photos, targets):
        image = load_image(photo)
        began = time.perf_counter()
        levels = model.stylize_levels(image, args.size, args.max_memory)
        seconds = time.perf_counter() - began
        save_image(levels[-1], target, quality=args.quality)
        written = [str(target)]
        if args.save_levels:
            for k, level in enumerate(levels, start=1):
                path = target.with_name(f"{target.stem}-y{k}{target.suffix}")
                save_image(level, path, quality=args.quality)
                written.append(str(path))
        record = {
            "input": str(photo), "output": str(target), "size": list(levels[-1].size),
            "model": model.name, "seconds": round(seconds, 3), "device": str(model.device),
        }
        if args.save_levels:
            record["levels"] = written[1:]
        if args.json:
            print(json.dumps(record), flush=True)
        else:
            w, h = levels[-1].size
            print(f"{photo} -> {target} ({w}x{h}, {seconds:.2f} s on {model.device})")
    return 0


# ------------------------------------------------------------------------------------ train


def _train(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from .training import TrainingEvent, train

    overrides: dict[str, Any] = {"network": {}, "loss": {}, "train": {}}
    for group, config_class in (("loss", LossConfig), ("train", TrainConfig)):
        for f in fields(config_class):
            value = getattr(args, f.name, None)
            if value is not None:
                overrides[group][f.name] = value
    if args.no_mixed_precision:
        overrides["train"]["mixed_precision"] = False
    network_class, config_class = ARCHITECTURES[args.arch]
    if args.refine_widths:
        if "refine" not in {f.name for f in fields(config_class)}:
            raise BrushworkError(f"--refine-widths does not apply to --arch {args.arch}")
        overrides["network"]["refine"] = tuple(args.refine_widths)
    levels = len(network_class.training_sizes(TrainConfig().crop_size))
    base_loss = LossConfig() if levels == 3 else LossConfig.single_level()
    # Made on the first iteration, so that an error in the arguments prints no empty bar.
    bar: tqdm | None = None

    def report(event: TrainingEvent) -> None:
        nonlocal bar
        if event.kind == "iteration":
            if bar is None:
                bar = tqdm(total=None, unit="it", dynamic_ncols=True, disable=args.quiet)
            if bar.total != event.iterations:
                bar.reset(total=event.iterations)
                bar.update(event.iteration - 1)
            levels = event.losses["level"]
            bar.set_postfix_str(
                " ".join(f"L{k + 1}={v:.3g}" for k, v in enumerate(levels))
                + f" lr={event.learning_rate:.2g}", refresh=False)
            bar.update(1)
        elif event.kind in ("warning", "resumed"):
            tqdm.write(f"brushwork: {event.message}", file=sys.stderr)

    try:
        output = train(
            args.style, args.data, args.output, run_dir=args.run_dir, arch=args.arch,
            network=config_class.from_dict({**config_class().to_dict(), **overrides["network"]}),
            loss=LossConfig.from_dict({**base_loss.to_dict(), **overrides["loss"]}),
            config=TrainConfig.from_dict({**TrainConfig().to_dict(), **overrides["train"]}),
            device=args.device, vgg_weights=args.vgg_weights, resume=args.resume,
            preview_photo=args.preview_photo, callback=report,
        )
    finally:
        if bar is not None:
            bar.close()
    print(f"model written to {output}")
    return 0


def _export(args: argparse.Namespace) -> int:
    from .images import output_format
    from .training import export_model

    if Path(args.output).suffix != ".safetensors":
        output_format(args.output)  # raises with the list of suffixes; models need .safetensors
    path = export_model(args.run_dir, args.output)
    print(f"model written to {path}")
    return 0


# ------------------------------------------------------------------------------- info/styles


def _info(args: argparse.Namespace) -> int:
    from .api import load_model

    model = load_model(args.model, device="cpu")
    record = {"model": model.name, "parameters": model.parameter_count, **model.metadata}
    if args.json:
        print(json.dumps(record))
        return 0
    print(f"model       {model.name}")
    print(f"parameters  {model.parameter_count:,}")
    for key, value in model.metadata.items():
        print(f"{key:<11} {json.dumps(value)}")
    return 0


def _styles(args: argparse.Namespace) -> int:
    from .api import available_styles, load_model, style_card

    rows = []
    for name in available_styles():
        metadata = load_model(name, device="cpu").metadata
        rows.append({
            "name": name, **style_card(name), "record": metadata.get("record", {}),
            "texture_weights": metadata.get("loss", {}).get("texture_weights"),
        })
    if args.json:
        print(json.dumps(rows))
        return 0
    for row in rows:
        record = row["record"]
        print(f"{row['name']}: {row.get('title', '?')} ({row.get('artist', '?')}, "
              f"{row.get('year', '?')})")
        print(f"    licence  {row.get('license', '?')}")
        print(f"    source   {row.get('source', '?')}")
        print(f"    training {record.get('iterations', '?')} iterations on "
              f"{record.get('device', '?')} in {record.get('wall_seconds', 0) / 3600:.1f} h, "
              f"texture weights {row['texture_weights']}")
    return 0


def _eval(args: argparse.Namespace) -> int:
    from .evaluation import EVAL_SCALES, Evaluator
    from .images import load_image, to_tensor

    style = to_tensor(load_image(args.style))
    photo = to_tensor(load_image(args.photo)) if args.photo else None
    evaluator = Evaluator(style, args.scales or EVAL_SCALES)
    rows = []
    named = [(str(p), to_tensor(load_image(p))) for p in args.outputs]
    if photo is not None:
        named.insert(0, (f"{args.photo} (unstylised photo)", photo))
    for name, image in named:
        began = time.perf_counter()
        scores = evaluator.score(image, photo)
        rows.append({"image": name, "style": scores.style, "content": scores.content,
                     "seconds": round(time.perf_counter() - began, 3)})
    if args.json:
        for row in rows:
            print(json.dumps(row))
        return 0
    scales = evaluator.scales
    print("| image | " + " | ".join(f"style @{s}" for s in scales) + " | content |")
    print("|---" * (len(scales) + 2) + "|")
    for row in rows:
        content = "-" if row["content"] is None else f"{row['content']:.4g}"
        cells = " | ".join(f"{row['style'][s]:.4g}" for s in scales)
        print(f"| {row['image']} | {cells} | {content} |")
    return 0


def _optimize(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from .images import load_image, output_format, save_image, to_image, to_tensor
    from .optimization import OptimizeConfig, OptimizeStep, optimize

    output_format(args.output)
    photo, style = to_tensor(load_image(args.photo)), to_tensor(load_image(args.style))
    defaults = OptimizeConfig()
    config = OptimizeConfig(
        size=args.size or defaults.size, steps=args.steps or defaults.steps, method=args.method,
        texture_weight=defaults.texture_weight if args.texture_weight is None
        else args.texture_weight, multiscale=args.multiscale,
    )
    with tqdm(total=config.steps, unit="step", disable=args.quiet) as bar:
        def report(step: OptimizeStep) -> None:
            bar.set_postfix_str(f"{step.size[1]}x{step.size[0]} loss={step.loss:.4g}",
                                refresh=False)
            bar.update(1)

        began = time.perf_counter()
        image = optimize(photo, style, config, callback=report)
    save_image(to_image(image), args.output)
    print(f"{args.photo} -> {args.output} ({image.shape[-1]}x{image.shape[-2]}, "
          f"{time.perf_counter() - began:.1f} s)")
    return 0


def _bench(args: argparse.Namespace) -> int:
    from .benchmark import format_table, inference_table

    results = inference_table(
        args.networks, args.sizes, args.precisions, args.runs, args.warmup,
        device=args.device, memory=not args.no_memory,
    )
    if args.json:
        print(json.dumps([r.to_dict() for r in results]))
    else:
        print(f"{args.runs} timed runs per case after {args.warmup} warm-up, round-robin; "
              "model load excluded; ratios are to the Johnson net in the same run")
        print(format_table(results))
    return 0


# ----------------------------------------------------------------------------------- parser


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="brushwork",
        description="Fast artistic style transfer for high-resolution photos (MT-Net, CVPR 2017).",
    )
    parser.add_argument("--version", action="version", version=f"brushwork {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    s = commands.add_parser("stylize", help="paint photos in a style")
    s.add_argument("photos", nargs="+", metavar="PHOTO")
    which = s.add_mutually_exclusive_group()
    which.add_argument("--style", help=f"built-in style name (default: {DEFAULT_STYLE})")
    which.add_argument("--model", help="model file (.safetensors) made by 'brushwork train'")
    s.add_argument("-o", "--output", required=True,
                   help="output file (.jpg/.png/.webp), or a folder for several photos")
    s.add_argument("--size", type=_positive_int, default=1024,
                   help="long side of the output in pixels; levels run at size/4, size/2, size")
    s.add_argument("--save-levels", action="store_true",
                   help="also write every level's output (OUT-y1, -y2, -y3)")
    s.add_argument("--quality", type=_positive_int, default=95, help="JPEG/WebP quality")
    s.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))
    s.add_argument("--precision", default="auto", choices=("auto", "float32", "bfloat16"),
                   help="auto: bfloat16 where the hardware computes it natively")
    s.add_argument("--max-memory", type=_memory, metavar="BYTES",
                   help="memory for tensors, e.g. 1.5GB or 800MB (default: half the free "
                        "memory, at most 2GB); big outputs are computed in tiles")
    s.add_argument("--json", action="store_true", help="print one JSON record per output")
    s.set_defaults(run=_stylize)

    t = commands.add_parser("train", help="train a model on a folder of photos")
    t.add_argument("--style", nargs="+", required=True, metavar="ART",
                   help="the artwork, or three (one per level, coarse to fine: paper Fig. 7)")
    t.add_argument("--data", required=True, help="folder of training photos")
    t.add_argument("-o", "--output", required=True, help="model file to write (.safetensors)")
    t.add_argument("--run-dir", help="checkpoints, loss log, previews (default: OUTPUT.run/)")
    t.add_argument("--resume", action="store_true", help="continue the run in --run-dir")
    t.add_argument("--arch", default="mtnet", choices=list(ARCHITECTURES),
                   help="network: MT-Net (default) or one of the paper's baselines, which have "
                        "one level (give one value to the per-level options below)")
    defaults_t, defaults_l = TrainConfig(), LossConfig()
    t.add_argument("--iterations", type=_positive_int, help=f"default {defaults_t.iterations}")
    t.add_argument("--crop-size", type=_positive_int, help=f"default {defaults_t.crop_size}")
    t.add_argument("--learning-rate", "--lr", type=_positive_float,
                   help=f"default {defaults_t.learning_rate}")
    t.add_argument("--lr-decay", type=_positive_float, help=f"default {defaults_t.lr_decay}")
    t.add_argument("--lr-decay-every", type=_positive_int,
                   help=f"default {defaults_t.lr_decay_every}")
    t.add_argument("--content-weights", nargs="+", type=_weight, metavar="A",
                   help=f"alpha per level, default {defaults_l.content_weights}")
    t.add_argument("--texture-weights", nargs="+", type=_weight, metavar="B",
                   help=f"beta per level, default {defaults_l.texture_weights}")
    t.add_argument("--level-weights", nargs="+", type=_weight, metavar="LAMBDA",
                   help=f"lambda per level, default {defaults_l.level_weights}")
    t.add_argument("--style-sizes", nargs="+", type=_positive_int, metavar="PX",
                   help=f"long side of the artwork per level, default {defaults_l.style_sizes}")
    t.add_argument("--content-target", choices=("input", "photo"),
                   help=f"default {defaults_l.content_target!r}")
    t.add_argument("--refine-widths", nargs="+", type=_positive_int, metavar="C",
                   help=f"refine subnet widths, default {NetworkConfig().refine}")
    t.add_argument("--seed", type=int, help=f"default {defaults_t.seed}")
    t.add_argument("--checkpoint-every", type=_positive_int,
                   help=f"default {defaults_t.checkpoint_every}")
    t.add_argument("--preview-every", type=_positive_int,
                   help=f"default {defaults_t.preview_every}")
    t.add_argument("--preview-photo", help="photo for the previews (default: the first one)")
    t.add_argument("--no-mixed-precision", action="store_true", help="train in float32")
    t.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))
    t.add_argument("--vgg-weights", help="torchvision .pth or Keras .h5 VGG-19 weights")
    t.add_argument("--quiet", action="store_true", help="no progress bar")
    t.set_defaults(run=_train)

    e = commands.add_parser("export", help="write a model file from a run's latest checkpoint")
    e.add_argument("run_dir", metavar="RUN_DIR")
    e.add_argument("-o", "--output", required=True)
    e.set_defaults(run=_export)

    i = commands.add_parser("info", help="show a model file's metadata and size")
    i.add_argument("model", metavar="MODEL", help="model file or built-in style name")
    i.add_argument("--json", action="store_true")
    i.set_defaults(run=_info)

    o = commands.add_parser(
        "optimize", help="Gatys et al. optimisation of one photo (slow baseline)"
    )
    o.add_argument("photo", metavar="PHOTO")
    o.add_argument("--style", required=True, help="the artwork")
    o.add_argument("-o", "--output", required=True)
    o.add_argument("--size", type=_positive_int, help="long side of the result (default 512)")
    o.add_argument("--steps", type=_positive_int, help="optimiser steps (default 300)")
    o.add_argument("--method", choices=("lbfgs", "adam"), default="lbfgs")
    o.add_argument("--texture-weight", type=_weight, help="default 100")
    o.add_argument("--multiscale", action="store_true",
                   help="coarse-to-fine: optimise at 1/4, 1/2, then full size")
    o.add_argument("--quiet", action="store_true", help="no progress bar")
    o.set_defaults(run=_optimize)

    ev = commands.add_parser(
        "eval", help="score stylised images: multi-scale style distance and content distance"
    )
    ev.add_argument("outputs", nargs="+", metavar="IMAGE", help="stylised images to score")
    ev.add_argument("--style", required=True, help="the artwork")
    ev.add_argument("--photo", help="the content photo (adds content distance and its own row)")
    ev.add_argument("--scales", nargs="+", type=_positive_int, metavar="PX",
                    help="long sides for the style distance (default 256 512 1024)")
    ev.add_argument("--json", action="store_true", help="one JSON record per image")
    ev.set_defaults(run=_eval)

    b = commands.add_parser("bench", help="time and memory, side by side, with ratios")
    b.add_argument("--networks", nargs="+", default=["mtnet", "johnson", "ds-net"],
                   choices=list(ARCHITECTURES))
    b.add_argument("--sizes", nargs="+", type=_positive_int, default=[1024], metavar="PX")
    b.add_argument("--precisions", nargs="+", default=["float32", "bfloat16"],
                   choices=("float32", "bfloat16"))
    b.add_argument("--runs", type=_positive_int, default=5)
    b.add_argument("--warmup", type=int, default=1)
    b.add_argument("--no-memory", action="store_true", help="skip the peak-memory probes")
    b.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))
    b.add_argument("--json", action="store_true")
    b.set_defaults(run=_bench)

    st = commands.add_parser("styles", help="list the built-in styles")
    st.add_argument("--json", action="store_true")
    st.set_defaults(run=_styles)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.run(args)
    except BrushworkError as error:
        print(f"brushwork: error: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("brushwork: interrupted", file=sys.stderr)
        return 130
    except Exception as error:
        if os.environ.get("BRUSHWORK_DEBUG"):
            raise
        print(f"brushwork: unexpected error: {type(error).__name__}: {error} "
              "(set BRUSHWORK_DEBUG=1 for details; please report it)", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
