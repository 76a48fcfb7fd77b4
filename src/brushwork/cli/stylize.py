"""``brushwork stylize``: photos, folders, globs, stdin and clips, painted in a style."""

from __future__ import annotations

import argparse
import glob
import json
import os
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .. import distributed
from ..api import DEFAULT_STYLE, PRECISIONS, Stylizer, load_model
from ..devices import DEVICES
from ..errors import BrushworkError
from ..hyper_parameters import NETWORK_WIDTHS
from ..images import save_image
from ..mixing import MIX_MODES

if TYPE_CHECKING:
    from PIL import Image

from .arguments import (
    MAX_PIXELS_TEXT,
    fraction,
    library_default,
    memory,
    pixels,
    positive_int,
    quality,
)

#: Format of outputs written to a folder or to stdout when --format does not say.
DEFAULT_FORMAT = "jpg"
#: Stands for standard input / output in the photo list and for ``-o``.
STDIO = "-"


def _folder_photos(folder: Path) -> list[Path]:
    from ..images import IMAGE_SUFFIXES

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
    from ..images import output_format, output_format_named

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
    from ..images import read_image

    if sys.stdin is None or sys.stdin.isatty():
        raise BrushworkError("'-' reads a photo from standard input, but none is piped in")
    return read_image(sys.stdin.buffer.read(), "standard input", max_pixels)


def _read_photo(photo: str | Path, max_pixels: int | None) -> Image.Image:
    """The photo, or a one-line error that says how to raise the pixel limit if that is it."""
    from ..images import MAX_PIXELS_ENV, ImageTooLarge, load_image

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

    from ..api import load_model
    from ..color import check_strength
    from ..images import default_max_pixels
    from ..levels import check_size

    loader: Callable[..., Any] = load_model
    if args.backend == "onnx":  # the same loader signature, painting through onnxruntime
        from ..onnx_backend import load_onnx_model

        loader = load_onnx_model

    check_size(args.size)
    check_strength(args.strength)
    if args.max_pixels is None:
        default_max_pixels()  # a bad BRUSHWORK_MAX_PIXELS is an error before any work
    if any(_is_clip(photo) for photo in args.photos):
        return _stylize_clip(args, loader)
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
        from .. import kernel_choice

        kernel_choice.on_first_measurement = lambda cache: print(
            "brushwork: timing which kernels are fastest on this CPU (once; the answers are "
            f"kept in {cache})", file=sys.stderr)
    model = loader(args.model or args.style or DEFAULT_STYLE, device=args.device,
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
    from ..video.clip import is_video_path

    return is_video_path(path)


def _stylize_clip(args: argparse.Namespace, load_model: Any) -> int:
    """One clip painted into one clip file, with a frames-per-second progress bar."""
    from tqdm import tqdm

    from ..video import FrameProgress, stylize_clip

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
    from ..devices import resolve_device

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
    from ..images import encode_image, output_format_named, save_image

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


def add_parser(commands: Any) -> None:
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
    s.add_argument("--size", type=positive_int, default=size,
                   help="long side of the output in pixels; the levels run at 256, 512, size from "
                        f"512 to 1024 (size/4, size/2, size below), default {size}")
    s.add_argument("--preserve-color", "--preserve-colour", action="store_true",
                   help="keep the photo's colours, take only the painting's luminance "
                        "(Gatys et al. 2016)")
    strength = library_default(Stylizer.stylize, "strength")
    s.add_argument("--strength", type=fraction, default=strength,
                   help="how much style, 0..1: 1 is the full painting, 0 the photo "
                        f"(default {strength:g})")
    s.add_argument("--keep-exif", action="store_true",
                   help="copy the photo's EXIF (camera, date, GPS!) into the output")
    s.add_argument("--save-levels", action="store_true",
                   help="also write every level's output (OUT-y1, -y2, -y3; more beyond 1024 px)")
    s.add_argument("--quality", type=quality, default=library_default(save_image, "quality"),
                   help="JPEG/WebP quality, 1-100")
    s.add_argument("--device", default=library_default(load_model, "device"), choices=DEVICES)
    s.add_argument("--precision", default=library_default(load_model, "precision"),
                   choices=PRECISIONS,
                   help="auto: bfloat16 where the hardware computes it natively")
    s.add_argument("--width", default=library_default(load_model, "width"), choices=NETWORK_WIDTHS,
                   help="a built-in style's network: slim (default, fast) or full (the "
                        "full-width network it was trained as, ~4x the arithmetic)")
    s.add_argument("--max-memory", type=memory, metavar="BYTES",
                   help="memory for tensors, e.g. 1.5GB or 800MB (default: half the free "
                        "memory, at most 2GB); big outputs are computed in tiles")
    s.add_argument("--max-pixels", type=pixels, metavar="N",
                   help="largest photo read, width x height, e.g. 40M (default: "
                        f"$BRUSHWORK_MAX_PIXELS or {MAX_PIXELS_TEXT}); bigger ones are refused "
                        "unread")
    s.add_argument("--json", action="store_true", help="print one JSON record per output")
    s.add_argument("--quiet", action="store_true", help="no progress bar")
    s.add_argument("--workers", type=positive_int, default=1, metavar="N",
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
