"""What every experiment script shares before any work: where its inputs are, the ``--smoke``
scale, its flags and their defaults, its log, and the held-out photos and artworks by name.

Every experiment is one command that can be stopped and run again; ``settle`` fills in the
defaults that depend on ``--smoke`` and makes the work and report folders. ``--smoke`` runs the
same code on a tiny scale (tiny networks, a few iterations, 64-px images, two photos, the real
VGG-19 weights) in a temporary folder, so that the tests can run every script end to end in
seconds; smoke output is never written into ``docs/experiments``.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from brushwork.errors import BrushworkError
from brushwork.hyper_parameters import TrainConfig

#: The repository (this file is experiments/lib/arguments.py).
REPO = Path(__file__).resolve().parents[2]

#: The project's shared data (photos and artworks with their licences), beside the checkout.
SHARED_DATA = REPO.parent / "shared" / "data"
DEFAULT_PHOTOS = SHARED_DATA / "photos"
DEFAULT_STYLES = SHARED_DATA / "styles"

#: Held-back evaluation photos, never trained on (DEVELOPERS.md).
DEFAULT_HELD_OUT = REPO / "docs" / "held-out-photos.txt"
#: Training photos: the shared photos minus the held-out ones (symlinks; ignored by git).
DEFAULT_DATA = REPO / "data" / "train-photos"
DEFAULT_WORK = REPO / "runs" / "experiments"
DEFAULT_REPORTS = REPO / "docs" / "experiments"

#: ``--smoke``: sizes small enough for the test suite on a busy 2-core machine.
SMOKE_ITERATIONS = 2
SMOKE_CROP = 64
SMOKE_SIZE = 64
SMOKE_PHOTOS = 2
SMOKE_SCALES = (32, 64)


def log(message: str) -> None:
    """Progress on stderr, flushed: runs take hours and are often watched through a log file."""
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def add_common_arguments(parser: argparse.ArgumentParser, photos: int, size: int) -> None:
    """Flags every experiment has; budgets are stated with their full-run and smoke values."""
    parser.add_argument("--smoke", action="store_true",
                        help="tiny networks, 2 iterations, 64-px images, 2 photos, in a "
                             "temporary folder (for the tests; never writes docs/experiments)")
    parser.add_argument("--photos", type=int,
                        help=f"held-out photos to use, in list order (default {photos}; "
                             f"smoke {SMOKE_PHOTOS})")
    parser.add_argument("--size", type=int,
                        help=f"long side of the outputs in px (default {size}; smoke "
                             f"{SMOKE_SIZE})")
    parser.add_argument("--photos-dir", type=Path, default=DEFAULT_PHOTOS,
                        help="folder of the held-out photos (default %(default)s)")
    parser.add_argument("--held-out", type=Path, default=DEFAULT_HELD_OUT,
                        help="list of held-out photo names (default %(default)s)")
    parser.add_argument("--styles-dir", type=Path, default=DEFAULT_STYLES,
                        help="folder of the artworks (default %(default)s)")
    parser.add_argument("--work", type=Path,
                        help="models, runs, stylised photos, cached scores (default "
                             f"{DEFAULT_WORK.relative_to(REPO)}/NAME; smoke: a temporary folder)")
    parser.add_argument("--reports", type=Path,
                        help=f"markdown, figures and JSON (default "
                             f"{DEFAULT_REPORTS.relative_to(REPO)}; smoke: WORK/reports)")
    parser.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))
    parser.add_argument("--precision", default="float32", choices=("float32", "bfloat16"),
                        help="inference precision of every network (default float32: the "
                             "reference; bf16 rounding would be one more difference)")
    parser.add_argument("--figure-photos", type=int, default=3,
                        help="photos shown in the figures (default %(default)s)")


def add_training_arguments(parser: argparse.ArgumentParser, iterations: int, crop: int) -> None:
    """The training budget, equal for every network an experiment compares."""
    parser.add_argument("--iterations", type=int,
                        help=f"training iterations per network, batch 1 (default {iterations}; "
                             f"smoke {SMOKE_ITERATIONS}); raising it later resumes the runs")
    parser.add_argument("--crop-size", type=int,
                        help=f"training crop side in px (default {crop}; smoke {SMOKE_CROP})")
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA,
                        help="training photos (default %(default)s)")
    parser.add_argument("--seed", type=int, default=0,
                        help="training seed of every network: initial weights and photo "
                             "order (default 0). Another seed is another experiment: its "
                             "runs and report are NAME-seedN, beside seed 0's, so a verdict "
                             "can be checked against a second seed")


def budget_config(args: argparse.Namespace) -> TrainConfig:
    """The library's training defaults at the experiment's budget: ``--iterations`` (the time
    budget off, so every machine trains alike), ``--crop-size`` and ``--seed``."""
    return replace(TrainConfig(), iterations=args.iterations, crop_size=args.crop_size,
                   seed=getattr(args, "seed", 0), minutes=0.0)


def settle(args: argparse.Namespace, name: str, photos: int = 0, size: int = 0,
           iterations: int | None = None, crop: int | None = None) -> argparse.Namespace:
    """Fill in the defaults that depend on ``--smoke`` and make the work and report folders."""
    def pick(value: Any, full: Any, smoke: Any) -> Any:
        return value if value is not None else (smoke if args.smoke else full)

    if hasattr(args, "photos"):
        args.photos = pick(args.photos, photos, SMOKE_PHOTOS)
        args.size = pick(args.size, size, SMOKE_SIZE)
    if hasattr(args, "iterations"):
        args.iterations = pick(args.iterations, iterations, SMOKE_ITERATIONS)
        args.crop_size = pick(args.crop_size, crop, SMOKE_CROP)
    for value, flag in ((getattr(args, "photos", 1), "--photos"),
                        (getattr(args, "size", 1), "--size"),
                        (getattr(args, "iterations", 1), "--iterations"),
                        (getattr(args, "crop_size", 32), "--crop-size")):
        if value < 1:
            raise BrushworkError(f"{flag} must be positive")
    if args.work is None:
        args.work = (Path(tempfile.mkdtemp(prefix=f"brushwork-smoke-{name}-")) if args.smoke
                     else DEFAULT_WORK / name)
    if args.reports is None:
        args.reports = args.work / "reports" if args.smoke else DEFAULT_REPORTS
    if getattr(args, "seed", 0):  # its own runs (same names) and its own report
        args.work = args.work / f"seed{args.seed}"
        name = f"{name}-seed{args.seed}"
    if args.smoke and _inside(args.reports, DEFAULT_REPORTS):
        raise BrushworkError(f"--smoke must not write into {DEFAULT_REPORTS}: give another "
                             "--reports (or none: a temporary folder)")
    args.work.mkdir(parents=True, exist_ok=True)
    args.reports.mkdir(parents=True, exist_ok=True)
    args.name = name
    log(f"{name}: work in {args.work}, reports in {args.reports}")
    return args


def _inside(path: Path, folder: Path) -> bool:
    path, folder = path.resolve(), folder.resolve()
    return path == folder or folder in path.parents


def run_main(main: Callable[[Sequence[str] | None], int], argv: Sequence[str] | None) -> int:
    """Run a script's ``main`` with the one-line errors of the ``brushwork`` command."""
    from brushwork.training import TrainingInterrupted

    try:
        return main(argv)
    except TrainingInterrupted as error:
        print(f"{error}; run the same command again to resume", file=sys.stderr)
        return 130
    except BrushworkError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1


def held_out_names(list_file: Path) -> list[str]:
    """Every name in the held-out list, in its order (blank and ``#`` lines skipped)."""
    return [line.strip() for line in list_file.read_text().splitlines()
            if line.strip() and not line.lstrip().startswith("#")]


def held_out_photos(list_file: Path, folder: Path, count: int) -> list[Path]:
    """The first ``count`` held-out photos, in the list's order (never used for training)."""
    names = held_out_names(list_file)
    if count > len(names):
        raise BrushworkError(f"{list_file} lists {len(names)} photos, {count} asked for")
    photos = [folder / name for name in names[:count]]
    missing = [str(p) for p in photos if not p.is_file()]
    if missing:
        raise BrushworkError(f"held-out photos not found: {', '.join(missing)}")
    return photos


def style_path(folder: Path, name: str) -> Path:
    """An artwork by name (``starry-night``) in ``folder``, or a path to an image file."""
    given = Path(name)
    if given.is_file():
        return given
    matches = sorted(p for p in folder.glob(f"{name}.*") if p.suffix.lower() in
                     {".jpg", ".jpeg", ".png", ".webp"})
    if not matches:
        raise BrushworkError(f"no artwork named {name!r} in {folder}")
    return matches[0]
