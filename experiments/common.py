"""Shared helpers for the paper's experiments (issue 5): data, training, stylising, scoring,
reports and figures.

Every experiment is one command that can be stopped and run again: finished training runs are
skipped and unfinished ones resumed (``brushwork.training.train(resume=True)``, what
``brushwork train --resume`` runs), stylised photos and scores are kept beside a stamp of the
model that made them and redone only when that model changes. Long work goes to
``runs/experiments/`` (ignored by git); reports (markdown, PNG figures, the scores as JSON) go
to ``docs/experiments/``.

``--smoke`` runs the same code on a tiny scale (tiny networks, a few iterations, 64-px images,
two photos, the real VGG-19 weights) in a temporary folder, so that the tests can run every
script end to end in seconds; smoke output is never written into ``docs/experiments``.

Scripts import this module as ``common``: run them as ``python experiments/NAME.py`` (Python
puts the script's folder on the path).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image, ImageDraw, ImageFont

import brushwork
from brushwork import evaluation
from brushwork.errors import BrushworkError
from brushwork.hyper_parameters import (
    CONTENT_LAYER,
    TEXTURE_LAYERS,
    JohnsonConfig,
    LossConfig,
    NetworkConfig,
    SingularConfig,
    TextureNetConfig,
    TrainConfig,
)
from brushwork.images import load_image, save_image, to_tensor
from brushwork.losses.vgg import VGG19Features, build_vgg
from brushwork.model_files import read_model_file
from brushwork.networks import ARCHITECTURES
from brushwork.networks.multimodal import parameter_count
from brushwork.training import TrainingEvent, train

REPO = Path(__file__).resolve().parents[1]
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
#: A few thousand parameters each, with the real layouts.
SMOKE_NETWORKS: dict[str, Any] = {
    "mtnet": NetworkConfig.tiny(),
    "johnson": JohnsonConfig.tiny(),
    "texture-net": TextureNetConfig.tiny(),
    "singular": SingularConfig.tiny(),
}
#: Smoke stand-in for Fig. 6's deeper singular network: deeper than the smoke MT-Net's.
SMOKE_MATCHING_SINGULAR = replace(SingularConfig.tiny(), residual_blocks=2)

#: Training settings that must agree between a spec and an existing run or model for it to
#: count as the same experiment (the rest is bookkeeping: checkpoint and preview intervals).
COMPARED_TRAIN_FIELDS = ("batch_size", "crop_size", "photo_size", "learning_rate", "lr_decay",
                         "lr_decay_every", "seed", "mixed_precision", "texture_warmup")


def log(message: str) -> None:
    """Progress on stderr, flushed: runs take hours and are often watched through a log file."""
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# ------------------------------------------------------------------------------- arguments


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


# ------------------------------------------------------------------------------ photos, art


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


# ---------------------------------------------------------------------------------- training


@dataclass(frozen=True)
class TrainSpec:
    """One network to train: everything that defines it, so a rerun can check it is the same."""

    name: str  # file stem in the work folder
    arch: str
    network: Any  # the architecture's config dataclass
    loss: LossConfig
    train: TrainConfig
    style: Path
    data: Path
    label: str = ""  # what the reports call it

    def command(self, model: Path) -> str:
        """The equivalent ``brushwork train`` command (for networks the CLI can express)."""
        parts = ["brushwork train", f"--arch {self.arch}"]
        _, config_class = ARCHITECTURES[self.arch]
        if self.arch == "singular" and self.network == SingularConfig.matching_mtnet():
            parts.append("--match-mtnet")
        elif self.network != config_class():
            return "(not expressible with the CLI: a non-default network configuration)"
        loss = self.loss
        parts += [f"--style {shown(self.style)}", f"--data {shown(self.data)}",
                  f"-o {shown(model)}", f"--iterations {self.train.iterations}",
                  f"--crop-size {self.train.crop_size}",
                  "--style-sizes " + " ".join(str(s) for s in loss.style_sizes),
                  "--texture-weights " + " ".join(f"{w:g}" for w in loss.texture_weights),
                  "--content-weights " + " ".join(f"{w:g}" for w in loss.content_weights),
                  "--level-weights " + " ".join(f"{w:g}" for w in loss.level_weights)]
        return " ".join(parts)


def shown(path: Path) -> str:
    """A path relative to the checkout where it is inside it (reports are read from there)."""
    try:
        return str(Path(path).resolve().relative_to(REPO))
    except ValueError:
        return str(path)


@dataclass
class Trained:
    """A trained model and what happened in this run: "trained", "resumed", "skipped", "reused"."""

    spec: TrainSpec
    path: Path
    metadata: dict[str, Any]
    status: str

    @property
    def record(self) -> dict[str, Any]:
        return self.metadata.get("record", {})

    @property
    def iterations(self) -> int:
        return int(self.record.get("iterations", 0))

    @property
    def hours(self) -> float:
        return float(self.record.get("wall_seconds", 0.0)) / 3600

    @property
    def parameters(self) -> int:
        network_class, _ = ARCHITECTURES[self.spec.arch]
        return parameter_count(network_class(self.spec.network))


def style_size(full: int, smoke: bool) -> int:
    """An artwork size of the full experiment, or its smoke equivalent (scaled as the crop:
    512 -> 64), so smoke runs never compute Gram matrices of a 1024-px artwork."""
    return full * SMOKE_CROP // 512 if smoke else full


def network_config(arch: str, smoke: bool, match_mtnet: bool = False) -> Any:
    """The network an experiment trains: the architecture's default, or its smoke stand-in."""
    if arch == "singular" and match_mtnet:
        return SMOKE_MATCHING_SINGULAR if smoke else SingularConfig.matching_mtnet()
    return SMOKE_NETWORKS[arch] if smoke else ARCHITECTURES[arch][1]()


def differences(spec: TrainSpec, arch: str, network: dict, loss: dict, train_config: dict,
                styles: Iterable[str], data: str) -> list[str]:
    """How a stored run or model differs from ``spec`` (iteration counts aside)."""
    found = []
    if arch != spec.arch:
        return [f"architecture {arch} instead of {spec.arch}"]
    if ARCHITECTURES[arch][1].from_dict(network) != spec.network:
        found.append(f"network {network} instead of {spec.network.to_dict()}")
    if LossConfig.from_dict(loss) != spec.loss:
        found.append(f"loss {loss} instead of {spec.loss.to_dict()}")
    wanted = spec.train.to_dict()
    for key in COMPARED_TRAIN_FIELDS:
        if train_config.get(key) != wanted[key]:
            found.append(f"{key} {train_config.get(key)} instead of {wanted[key]}")
    names = [Path(s).name for s in styles]
    if names != [spec.style.name]:
        found.append(f"style {names} instead of {[spec.style.name]}")
    if Path(data).name != spec.data.name:
        found.append(f"data {Path(data).name} instead of {spec.data.name}")
    return found


def _model_differences(spec: TrainSpec, metadata: dict[str, Any]) -> list[str]:
    return differences(spec, metadata.get("architecture", ""), metadata.get("network", {}),
                       metadata.get("loss", {}), metadata.get("train", {}),
                       [s.get("file", "") for s in metadata.get("styles", [])],
                       metadata.get("record", {}).get("data", ""))


def ensure_trained(spec: TrainSpec, work: Path, device: str = "auto") -> Trained:
    """Train ``spec`` to its iteration budget, resuming an unfinished run; skip a finished one.

    The model is ``WORK/NAME.safetensors`` and its run ``WORK/NAME.run/``. A model or run
    made with other settings is an error (say which), never silently reused or overwritten.
    """
    model = work / f"{spec.name}.safetensors"
    run_dir = work / f"{spec.name}.run"
    budget = spec.train.iterations
    if model.is_file():
        _, metadata = read_model_file(model)
        problems = _model_differences(spec, metadata)
        if problems:
            raise BrushworkError(f"{model} was trained with other settings ({'; '.join(problems)})"
                                 ": remove it and its .run folder, or use another --work")
        done = int(metadata.get("record", {}).get("iterations", 0))
        if done >= budget:
            if done > budget:
                log(f"{spec.name}: has {done} iterations, more than the budget of {budget}")
            log(f"{spec.name}: trained ({done} iterations), skipped")
            return Trained(spec, model, metadata, "skipped")
    resume = (run_dir / "checkpoint.safetensors").is_file() or (
        run_dir / "checkpoint.prev.safetensors").is_file()
    if resume:
        from brushwork.checkpoints import load_checkpoint

        _, state, _ = load_checkpoint(run_dir)
        problems = differences(spec, state.get("arch", "mtnet"), state["network"],
                               state["loss"], state["train"], state["styles"],
                               state.get("data", ""))
        if problems:
            raise BrushworkError(f"{run_dir} holds a run with other settings "
                                 f"({'; '.join(problems)}): remove it or use another --work")
        if state["iteration"] > budget:
            raise BrushworkError(f"{run_dir} is at iteration {state['iteration']}, past the "
                                 f"budget of {budget}: raise --iterations or use another --work")
        log(f"{spec.name}: resuming at iteration {state['iteration']} of {budget}")
    else:
        log(f"{spec.name}: training {budget} iterations")
    train(spec.style, spec.data, model, run_dir=run_dir, arch=spec.arch, network=spec.network,
          loss=spec.loss, config=spec.train, device=device, resume=resume,
          callback=_progress(spec.name, budget))
    _, metadata = read_model_file(model)
    return Trained(spec, model, metadata, "resumed" if resume else "trained")


def reuse_model(spec: TrainSpec, path: Path) -> Trained:
    """An existing model in place of training ``spec``: same settings and exactly its budget."""
    from brushwork.api import resolve_model_path

    path = resolve_model_path(str(path))
    _, metadata = read_model_file(path)
    problems = _model_differences(spec, metadata)
    done = int(metadata.get("record", {}).get("iterations", 0))
    if done != spec.train.iterations:
        problems.append(f"{done} iterations instead of the budget of {spec.train.iterations}")
    if problems:
        raise BrushworkError(f"{path} cannot stand in for {spec.name}: {'; '.join(problems)}")
    log(f"{spec.name}: using {path} ({done} iterations)")
    return Trained(spec, path, metadata, "reused")


def _progress(name: str, iterations: int) -> Callable[[TrainingEvent], None]:
    every = max(1, iterations // 20)

    def report(event: TrainingEvent) -> None:
        if event.kind in ("warning", "resumed"):
            log(f"{name}: {event.message}")
        elif event.kind == "iteration" and (event.iteration % every == 0
                                            or event.iteration == iterations):
            log(f"{name}: iteration {event.iteration}/{iterations}, loss "
                f"{event.losses['total']:.4g}, {event.seconds:.2f} s")

    return report


# ------------------------------------------------------------------------------- stylising


def model_stamp(path: Path, **extra: Any) -> dict[str, Any]:
    """What identifies the outputs of a model: its file and training record, and settings."""
    stat = path.stat()
    _, metadata = read_model_file(path)
    return {"model": str(path.resolve()), "bytes": stat.st_size, "mtime_ns": stat.st_mtime_ns,
            "iterations": metadata.get("record", {}).get("iterations"), **extra}


def claim(folder: Path, stamp: dict[str, Any]) -> None:
    """Make ``folder`` hold only outputs made under ``stamp`` (clear it if it held others)."""
    marker = folder / "stamp.json"
    if folder.is_dir() and marker.is_file() and json.loads(marker.read_text()) == stamp:
        return
    if folder.is_dir():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    marker.write_text(json.dumps(stamp, indent=1))


def stylize_photos(model_path: Path, photos: Sequence[Path], size: int, folder: Path,
                   device: str, precision: str, levels: bool = False) -> list[list[Path]]:
    """Paint ``photos`` at long side ``size`` as PNG (lossless: the scores see what the network
    made). Returns, per photo, its files: the final output, or with ``levels`` every level
    coarse to fine (paper Fig. 4). Outputs made by the same model and settings are kept."""
    from brushwork.api import load_model

    claim(folder, model_stamp(model_path, size=size, precision=precision, levels=levels))
    model = None
    made: list[list[Path]] = []
    for photo in photos:
        index = folder / f"{photo.stem}.json"
        if index.is_file():
            made.append([folder / name for name in json.loads(index.read_text())])
            continue
        if model is None:
            model = load_model(model_path, device=device, precision=precision)
        began = time.perf_counter()
        image = load_image(photo)
        if levels:
            images = model.stylize_levels(image, size)
            files = [folder / f"{photo.stem}-y{k}.png" for k in range(1, len(images) + 1)]
        else:
            images = [model.stylize(image, size)]
            files = [folder / f"{photo.stem}.png"]
        for picture, path in zip(images, files):
            save_image(picture, path)
        index.write_text(json.dumps([p.name for p in files]))  # last: marks the photo done
        log(f"{folder.name}: {photo.name} at {size} px in {time.perf_counter() - began:.1f} s")
        made.append(files)
    return made


# ------------------------------------------------------------------------------------ scores


class Scorer:
    """``brushwork eval``'s metric (``brushwork.evaluation.Evaluator``, unchanged), with one
    loss network for every artwork and scores cached in JSON beside the images."""

    def __init__(self, scales: Sequence[int], smoke: bool = False) -> None:
        self.scales = tuple(scales)
        self.smoke = smoke
        self._vgg: VGG19Features | None = None
        self._evaluators: dict[Path, evaluation.Evaluator] = {}

    def evaluator(self, style: Path) -> evaluation.Evaluator:
        if self._vgg is None:
            self._vgg = build_vgg((*TEXTURE_LAYERS, CONTENT_LAYER))
        if style not in self._evaluators:
            self._evaluators[style] = evaluation.Evaluator(
                to_tensor(load_image(style)), self.scales, self._vgg)
        return self._evaluators[style]

    @property
    def content_size(self) -> int:
        """Long side of the content distance: the library's, except in smoke runs, whose
        64-px outputs would otherwise be blown up to 512 px for it (seconds per image)."""
        return SMOKE_SIZE if self.smoke else evaluation.CONTENT_SIZE

    def score(self, style: Path, pairs: Sequence[tuple[Path, Path]], cache: Path,
              stamp: dict[str, Any]) -> dict[str, dict[str, Any]]:
        """Scores of each (photo, image) pair, by photo stem: ``{"style": {scale: d},
        "content": d}``. Cached in ``cache`` under ``stamp`` (plus the scales and sizes)."""
        stamp = {**stamp, "style": str(style.resolve()), "scales": list(self.scales),
                 "content_size": self.content_size}
        stored = json.loads(cache.read_text()) if cache.is_file() else {}
        scores: dict[str, dict[str, Any]] = (
            stored.get("scores", {}) if stored.get("stamp") == stamp else {})
        for photo, image in pairs:
            if photo.stem in scores:
                continue
            evaluator = self.evaluator(style)
            output, reference = to_tensor(load_image(image)), to_tensor(load_image(photo))
            if self.smoke:  # the library's metric, at the smoke size (restored at once)
                saved, evaluation.CONTENT_SIZE = evaluation.CONTENT_SIZE, self.content_size
                try:
                    result = evaluator.score(output, reference)
                finally:
                    evaluation.CONTENT_SIZE = saved
            else:
                result = evaluator.score(output, reference)
            scores[photo.stem] = {"style": {str(s): v for s, v in result.style.items()},
                                  "content": result.content}
            cache.write_text(json.dumps({"stamp": stamp, "scores": scores}, indent=1))
        return {stem: scores[stem] for stem in (p.stem for p, _ in pairs)}


def style_values(scores: dict[str, dict[str, Any]], scale: int) -> list[float]:
    return [row["style"][str(scale)] for row in scores.values()]


def content_values(scores: dict[str, dict[str, Any]]) -> list[float]:
    return [row["content"] for row in scores.values()]


def mean_median(values: Sequence[float]) -> tuple[float, float]:
    return statistics.fmean(values), statistics.median(values)


def pairwise(scores: dict[str, dict[str, dict[str, Any]]], focus: str, other: str,
             scale: int | None) -> tuple[int, int, int]:
    """Photos on which ``focus`` has the lower distance than ``other``, the higher, and the
    same: (wins, losses, ties). ``scale`` None compares the content distance."""
    def value(method: str, stem: str) -> float:
        row = scores[method][stem]
        return row["content"] if scale is None else row["style"][str(scale)]

    stems = list(scores[focus])
    wins = sum(value(focus, s) < value(other, s) for s in stems)
    losses = sum(value(focus, s) > value(other, s) for s in stems)
    return wins, losses, len(stems) - wins - losses


def sign_test(wins: int, losses: int) -> float:
    """Two-sided exact binomial sign test (ties dropped): the chance of a split at least this
    uneven if each method were as likely to be lower on any photo."""
    n = wins + losses
    if n == 0:
        return 1.0
    tail = sum(math.comb(n, k) for k in range(min(wins, losses) + 1)) / 2**n
    return min(1.0, 2 * tail)


# ------------------------------------------------------------------------------- provenance


def provenance(device: str = "auto") -> dict[str, Any]:
    """When, with which code and on which machine a report's numbers were made."""
    def git(*command: str) -> str:
        try:
            return subprocess.run(["git", *command], cwd=REPO, capture_output=True, text=True,
                                  check=True).stdout.strip()
        except (OSError, subprocess.CalledProcessError):
            return ""

    commit = git("rev-parse", "--short", "HEAD")
    if commit and git("status", "--porcelain", "--untracked-files=no"):
        commit += " (with uncommitted changes)"
    from brushwork.devices import processor_name, resolve_device

    dev = resolve_device(device)
    machine = processor_name(dev)
    return {"date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
            "commit": commit or "unknown", "brushwork": brushwork.__version__,
            "torch": torch.__version__, "device": f"{dev.type} ({machine})"}


def provenance_line(info: dict[str, Any]) -> str:
    return (f"Made {info['date']} from commit {info['commit']} (brushwork {info['brushwork']}, "
            f"torch {info['torch']}) on {info['device']}.")


# ---------------------------------------------------------------------------------- markdown


def fmt(value: Any) -> str:
    """Numbers as 4 significant digits; everything else as text."""
    if isinstance(value, float):
        return f"{value:.4g}"
    return "-" if value is None else str(value)


def markdown_table(header: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    """A markdown table; a ``|`` inside a cell (|y2 - y1|) is escaped so it stays one cell."""
    def cells(values: Iterable[Any]) -> str:
        return "| " + " | ".join(fmt(v).replace("|", "\\|") for v in values) + " |"

    return "\n".join([cells(header), "|" + "---|" * len(header), *map(cells, rows)])


_KEEP = re.compile(r"<!-- keep:([\w-]+) -->\n(.*?)<!-- /keep:\1 -->", re.S)


def keep_block(name: str, placeholder: str) -> str:
    """A section a person writes: regenerating the report keeps what is there."""
    return f"<!-- keep:{name} -->\n{placeholder.rstrip()}\n<!-- /keep:{name} -->"


def write_report(path: Path, text: str) -> None:
    """Write a generated report, keeping the hand-written ``keep`` blocks of the old one."""
    if path.is_file():
        kept = {m.group(1): m.group(2) for m in _KEEP.finditer(path.read_text())}
        text = _KEEP.sub(lambda m: (f"<!-- keep:{m.group(1)} -->\n"
                                    f"{kept.get(m.group(1), m.group(2))}"
                                    f"<!-- /keep:{m.group(1)} -->"), text)
    temporary = path.with_name(f".{path.name}.tmp")
    temporary.write_text(text if text.endswith("\n") else text + "\n")
    os.replace(temporary, path)


def write_summary(reports: Path, name: str, summary: dict[str, Any],
                  data: dict[str, Any] | None = None) -> None:
    """``REPORTS/NAME.json``: what ``report.py`` lists (title, budget) and the numbers."""
    (reports / f"{name}.json").write_text(
        json.dumps({"summary": summary, **(data or {})}, indent=1, sort_keys=False))
    import report  # the index of all reports, rebuilt after each experiment

    report.stitch(reports)


# ----------------------------------------------------------------------------------- figures


def font(size: int = 15) -> ImageFont.ImageFont | ImageFont.FreeTypeFont:
    """Pillow's bundled font (no system fonts needed)."""
    try:
        return ImageFont.load_default(size=size)
    except (TypeError, OSError):  # Pillow built without FreeType
        return ImageFont.load_default()


def fit(image: Image.Image, box: int) -> Image.Image:
    """``image`` scaled so its long side is ``box`` (for overviews; crops are never scaled)."""
    scale = box / max(image.size)
    size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
    return image.resize(size, Image.Resampling.LANCZOS if scale < 1 else
                        Image.Resampling.BICUBIC)


@dataclass
class Tile:
    """One picture in a figure, with its caption."""

    image: Image.Image
    caption: str = ""


@dataclass
class Row:
    """A row of tiles, with a title printed at its left."""

    tiles: list[Tile]
    title: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


def grid(rows: Sequence[Row], heading: str = "", gap: int = 8) -> Image.Image:
    """Rows of captioned tiles on white, in columns as wide as their widest tile or caption
    (so a method's overview and its 1:1 crop line up); each row as high as its highest tile."""
    caption_font, title_font = font(14), font(16)
    caption_h, title_w = 20, max([0] + [int(title_font.getlength(r.title)) + 12 for r in rows])
    heading_h = 28 if heading else 0
    columns: list[int] = []
    for row in rows:
        for i, tile in enumerate(row.tiles):
            need = max(tile.image.width, int(caption_font.getlength(tile.caption)) + 4)
            if i == len(columns):
                columns.append(need)
            columns[i] = max(columns[i], need)
    heights = [caption_h + max(t.image.height for t in r.tiles) + gap for r in rows]
    width = max(title_w + sum(c + gap for c in columns) + gap,
                int(title_font.getlength(heading)) + 2 * gap)
    sheet = Image.new("RGB", (width, heading_h + sum(heights) + gap), "white")
    draw = ImageDraw.Draw(sheet)
    if heading:
        draw.text((gap, 6), heading, fill="black", font=title_font)
    y = heading_h + gap
    for row, height in zip(rows, heights):
        draw.text((gap, y + caption_h + 4), row.title, fill="black", font=title_font)
        x = title_w + gap
        for tile, column in zip(row.tiles, columns):
            draw.text((x, y + 2), tile.caption, fill="black", font=caption_font)
            sheet.paste(tile.image, (x, y + caption_h))
            x += column + gap
        y += height
    return sheet


def detail_box(photo: Image.Image, size: tuple[int, int], crop: int) -> tuple[int, int, int, int]:
    """The ``crop`` x ``crop`` window (in an output of ``size`` = (w, h)) where the photo has
    the most edges: chosen from the photo alone, before any method's output is looked at."""
    width, height = size
    crop = min(crop, width, height)
    gray = np.asarray(photo.convert("L").resize(size, Image.Resampling.BILINEAR), dtype=np.float64)
    edges = np.zeros_like(gray)
    edges[:, 1:] += np.abs(np.diff(gray, axis=1))
    edges[1:, :] += np.abs(np.diff(gray, axis=0))
    total = np.pad(edges.cumsum(0).cumsum(1), ((1, 0), (1, 0)))
    step = max(1, crop // 8)
    best, box = -1.0, (0, 0, crop, crop)
    for top in range(0, height - crop + 1, step):
        for left in range(0, width - crop + 1, step):
            value = (total[top + crop, left + crop] - total[top, left + crop]
                     - total[top + crop, left] + total[top, left])
            if value > best:
                best, box = value, (left, top, left + crop, top + crop)
    return box


def outline(tile: Image.Image, box: tuple[int, int, int, int],
            size: tuple[int, int]) -> Image.Image:
    """``tile`` (an overview of an output of ``size``) with ``box`` drawn on it in red."""
    tile = tile.copy()
    sx, sy = tile.width / size[0], tile.height / size[1]
    left, top, right, bottom = box
    ImageDraw.Draw(tile).rectangle(
        (round(left * sx), round(top * sy), round(right * sx) - 1, round(bottom * sy) - 1),
        outline=(230, 20, 20), width=2)
    return tile


def crop_side(size: int) -> int:
    """Side of the 1:1 crops for outputs of long side ``size`` (256 at 1024)."""
    return min(256, max(16, size // 4))


def save_figure(image: Image.Image, path: Path) -> Path:
    """PNG (lossless, so 1:1 crops show exactly the network's pixels)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    save_image(image, path)
    return path


def relative(path: Path, start: Path) -> str:
    """A link from a report in ``start`` to ``path``."""
    return os.path.relpath(path, start)


# ------------------------------------------------------------------------------ comparisons

Scores = dict[str, dict[str, Any]]  # photo stem -> {"style": {scale: d}, "content": d}


def score_table(scores: dict[str, Scores], labels: dict[str, str], scales: Sequence[int],
                photo: Scores | None = None, first: str = "method") -> str:
    """Mean and median per method of the style distance at each scale and the content
    distance; the unstylised photo's own distances as a reference row."""
    header = [first]
    for scale in scales:
        header += [f"style @{scale} mean", "median"]
    header += ["content mean", "median"]
    rows = []
    named = [(labels[m], s) for m, s in scores.items()]
    if photo is not None:
        named.append(("photo itself (reference)", photo))
    for label, table in named:
        row: list[Any] = [label]
        for scale in scales:
            row += list(mean_median(style_values(table, scale)))
        row += list(mean_median(content_values(table)))
        rows.append(row)
    return markdown_table(header, rows)


def lowest(scores: dict[str, Scores], scale: int | None) -> tuple[str, str]:
    """Methods with the lowest mean and the lowest median (``scale`` None: content)."""
    def values(method: str) -> list[float]:
        table = scores[method]
        return content_values(table) if scale is None else style_values(table, scale)

    by_mean = min(scores, key=lambda m: statistics.fmean(values(m)))
    by_median = min(scores, key=lambda m: statistics.median(values(m)))
    return by_mean, by_median


def verdict(scores: dict[str, Scores], labels: dict[str, str], focus: str,
            scale: int | None) -> tuple[str, bool]:
    """One plain sentence on who wins at ``scale`` (None: content distance), and whether
    ``focus`` wins: its distance is lower than every other method's on more than half of the
    photos. Facts only: counts, the sign test, the lowest mean and median."""
    what = "content distance" if scale is None else f"style distance at {scale} px"
    n = len(scores[focus])
    parts, wins_all = [], True
    for other in scores:
        if other == focus:
            continue
        wins, losses, ties = pairwise(scores, focus, other, scale)
        wins_all &= wins > n / 2
        tie_text = f", {ties} ties" if ties else ""
        parts.append(f"lower than {labels[other]} on {wins} of {n} photos{tie_text} "
                     f"(sign test p = {sign_test(wins, losses):.2g})")
    by_mean, by_median = lowest(scores, scale)
    lead = (f"lowest mean: {labels[by_mean]}" if by_mean == by_median else
            f"lowest mean: {labels[by_mean]}, lowest median: {labels[by_median]}")
    if by_mean == by_median:
        lead += " (also the lowest median)"
    outcome = (f"**{labels[focus]} wins**" if wins_all
               else f"**{labels[focus]} does not win**")
    return (f"{what}: {outcome}; {labels[focus]} is {'; '.join(parts)}; {lead}.", wins_all)


def pooled(scores_per_style: dict[str, dict[str, Scores]]) -> dict[str, Scores]:
    """Every style's photos in one table per method (keys ``style/photo``)."""
    methods = next(iter(scores_per_style.values())).keys()
    return {m: {f"{style}/{stem}": row for style, table in scores_per_style.items()
                for stem, row in table[m].items()} for m in methods}


def comparison_figure(art: Path, photos: Sequence[Path], outputs: dict[str, list[Path]],
                      labels: dict[str, str], size: int, heading: str) -> Image.Image:
    """The artwork (whole, and 1:1 at the output scale), then per photo a row of overviews
    (the crop region outlined in red) and a row of 1:1 crops of that region, one per method."""
    overview, crop = min(320, size), crop_side(size)
    artwork = load_image(art)
    scale = size / max(artwork.size)
    at_size = artwork.resize((round(artwork.width * scale), round(artwork.height * scale)),
                             Image.Resampling.LANCZOS if scale < 1 else Image.Resampling.BICUBIC)
    left, top = (at_size.width - crop) // 2, (at_size.height - crop) // 2
    rows = [Row([Tile(fit(artwork, overview), f"{art.name} ({artwork.width}x{artwork.height})"),
                 Tile(at_size.crop((left, top, left + crop, top + crop)),
                      f"artwork at {size} px, centre 1:1")], "artwork")]
    for index, photo in enumerate(photos):
        images = {m: load_image(files[index]) for m, files in outputs.items()}
        out_size = next(iter(images.values())).size
        original = load_image(photo).resize(out_size, Image.Resampling.LANCZOS)
        box = detail_box(original, out_size, crop)
        name = photo.stem if len(photo.stem) <= 30 else photo.stem[:27] + "..."
        rows.append(Row([Tile(outline(fit(original, overview), box, out_size), name)] + [
            Tile(outline(fit(image, overview), box, out_size), labels[m])
            for m, image in images.items()], f"photo {index + 1}"))
        rows.append(Row([Tile(original.crop(box), "photo, 1:1")] + [
            Tile(image.crop(box), f"{labels[m]}, 1:1") for m, image in images.items()],
            "1:1 crops"))
    return grid(rows, heading)


# ----------------------------------------------------------- trained-network comparisons


@dataclass
class Comparison:
    """Networks trained per artwork at one budget, their outputs on held-out photos, scores."""

    arts: dict[str, Path]
    photos: list[Path]
    trained: dict[str, dict[str, Trained]]  # style -> method -> model
    scorer: Scorer  # the one that scored them (its loss network loaded once), for more scores
    outputs: dict[str, dict[str, list[Path]]] = field(default_factory=dict)
    scores: dict[str, dict[str, Scores]] = field(default_factory=dict)
    photo_scores: dict[str, Scores] = field(default_factory=dict)


def run_comparison(args: argparse.Namespace, specs: dict[str, dict[str, TrainSpec]],
                   arts: dict[str, Path], photos: list[Path], labels: dict[str, str],
                   scales: Sequence[int], heading: str,
                   reuse: dict[tuple[str, str], Path] | None = None) -> Comparison:
    """Train (or resume, skip, reuse) every network, then paint and score the photos with
    each and draw one figure per artwork in ``REPORTS/NAME/STYLE.png``.

    All training comes first: it is nearly all of the time, and a mistake in a later
    artwork's settings should not wait for hours of stylising."""
    reuse = reuse or {}
    models_dir = args.work / "models"
    models_dir.mkdir(exist_ok=True)
    trained: dict[str, dict[str, Trained]] = {}
    for style, by_method in specs.items():
        trained[style] = {}
        for method, spec in by_method.items():
            if (style, method) in reuse:
                trained[style][method] = reuse_model(spec, reuse[style, method])
            else:
                trained[style][method] = ensure_trained(spec, models_dir, args.device)
    scorer = Scorer(scales, smoke=args.smoke)
    result = Comparison(arts, photos, trained, scorer)
    shown_photos = photos[:args.figure_photos]
    for style, art in arts.items():
        result.outputs[style], result.scores[style] = {}, {}
        for method, model in trained[style].items():
            folder = args.work / "outputs" / style / method
            files = [f[-1] for f in stylize_photos(model.path, photos, args.size, folder,
                                                   args.device, args.precision)]
            result.outputs[style][method] = files
            stamp = model_stamp(model.path, size=args.size, precision=args.precision)
            result.scores[style][method] = scorer.score(art, list(zip(photos, files)),
                                                        folder / "scores.json", stamp)
        result.photo_scores[style] = scorer.score(
            art, [(p, p) for p in photos], args.work / "outputs" / style / "photo-scores.json",
            {"photo": True})
        figure = comparison_figure(
            art, shown_photos, {m: f[:len(shown_photos)] for m, f in result.outputs[style].items()},
            labels, args.size, f"{heading}, {style}: outputs at {args.size} px")
        save_figure(figure, args.reports / args.name / f"{style}.png")
    return result


def model_record(model: Trained) -> dict[str, Any]:
    """A trained network as the JSON beside a report lists it."""
    return {"file": shown(model.path), "status": model.status, "iterations": model.iterations,
            "wall_hours": round(model.hours, 3), "parameters": model.parameters,
            "record": model.record}


def report_head(args: argparse.Namespace, argv: Sequence[str], script: str, title: str,
                info: dict[str, Any]) -> list[str]:
    """Title, how the report was made, and a warning on smoke runs."""
    lines = [f"# {title}", "",
             f"_Generated by `python experiments/{script}"
             + (" " + " ".join(argv) if argv else "") + "`; do not edit by hand except the "
             "Discussion section, which regeneration keeps._", "", provenance_line(info), ""]
    if args.smoke:
        lines += ["**SMOKE RUN**: tiny networks and images; these numbers mean nothing.", ""]
    return lines


def setup_lines(args: argparse.Namespace, comparison: Comparison, scales: Sequence[int],
                labels: dict[str, str]) -> list[str]:
    """Budget, test photos, metric and the rule for a win; then every network's record."""
    n = len(comparison.photos)
    content = SMOKE_SIZE if args.smoke else evaluation.CONTENT_SIZE
    lines = [
        "## Set-up and budget", "",
        f"- **Budget, equal for every network**: {args.iterations} training iterations, batch "
        f"1, {args.crop_size}x{args.crop_size} crops of the photos in `{shown(args.data)}` in "
        f"the same order (seed {getattr(args, 'seed', 0)}), Adam at 1e-3 x 0.8 every 2,000 "
        "iterations (the paper's schedule; its full budget is 10,000 iterations). Wall time "
        "and device per network are in the table below.",
        f"- **Test**: the first {n} photos of `{shown(args.held_out)}` (never trained on), "
        f"painted with long side {args.size} px (aspect kept), inference in {args.precision}.",
        "- **Metric**: `brushwork eval` (`src/brushwork/evaluation.py`), unchanged: style "
        "distance at scale s = sum over relu1_1, relu2_1, relu3_1, relu4_1 of the mean squared "
        "difference of Gram matrices, output and artwork both resized to long side s; content "
        "distance = mean squared difference of relu4_2 features, output and photo at long "
        f"side {content}. Lower is better. Style distances at different scales are not "
        "comparable with each other, only between methods at one scale.",
        "- **Who wins**: a method wins at a scale when its distance is lower than each other "
        "method's on more than half of the photos (sign test p-values beside the counts: the "
        "chance of so uneven a split if neither method tended to be lower).",
        "",
    ]
    rows = []
    for style, models in comparison.trained.items():
        art = load_image(comparison.arts[style])
        for method, model in models.items():
            spec = model.spec
            rows.append([style, labels[method], spec.arch, f"{model.parameters:,}",
                         " / ".join(str(s) for s in spec.loss.style_sizes),
                         " / ".join(f"{w:g}" for w in spec.loss.texture_weights),
                         model.iterations, f"{model.hours:.2f}",
                         model.record.get("device", "?")
                         + (" bf16" if model.record.get("bf16") else ""), model.status])
        resized = ", ".join(f"x{s / max(art.size):.2f} at {s} px" for s in scales)
        lines.append(f"- `{comparison.arts[style].name}` is {art.width}x{art.height} px: "
                     f"the metric resizes it {resized}.")
    lines += ["", markdown_table(
        ["style", "network", "arch", "parameters", "artwork long side(s) in training",
         "texture weight(s)", "iterations", "wall h", "device", "this run"], rows), ""]
    budgets = {t.iterations for models in comparison.trained.values() for t in models.values()}
    if len(budgets) > 1:
        lines += [f"**The budgets are not equal** (iterations {sorted(budgets)}): the "
                  "comparison below is not at an equal budget.", ""]
    lines += ["The same networks from the command line:", "", "```"]
    for models in comparison.trained.values():
        for model in models.values():
            lines.append(model.spec.command(model.path))
    return [*lines, "```", ""]


def results_lines(args: argparse.Namespace, comparison: Comparison, scales: Sequence[int],
                  labels: dict[str, str], focus: str) -> tuple[list[str], dict[str, Any]]:
    """Per artwork (and pooled): the score table, a verdict per scale, the figure; and
    ``{style or "all": {scale: focus wins}}``."""
    lines: list[str] = ["## Results", ""]
    wins: dict[str, dict[str, bool]] = {}

    def verdicts(scores: dict[str, Scores], key: str) -> None:
        wins[key] = {}
        for scale in scales:
            sentence, won = verdict(scores, labels, focus, scale)
            wins[key][str(scale)] = won
            lines.append(f"- {sentence}")
        lines.append(f"- {verdict(scores, labels, focus, None)[0]}")
        lines.append("")

    for style in comparison.trained:
        lines += [f"### {style}", "", score_table(comparison.scores[style], labels, scales,
                                                  comparison.photo_scores[style]), ""]
        verdicts(comparison.scores[style], style)
        lines += [f"![{style}]({args.name}/{style}.png)", ""]
    if len(comparison.trained) > 1:
        together = pooled(comparison.scores)
        count = len(comparison.trained) * len(comparison.photos)
        lines += [f"### All {len(comparison.trained)} artworks together ({count} "
                  "photo-artwork pairs)", "", score_table(together, labels, scales), ""]
        verdicts(together, "all")
    lines += ["## Answer", ""]
    for key, by_scale in wins.items():
        won = [s for s, w in by_scale.items() if w]
        lost = [s for s, w in by_scale.items() if not w]
        where = "all artworks pooled" if key == "all" else key
        if not lost:
            lines.append(f"- {where}: {labels[focus]} wins at every scale ({', '.join(won)} px).")
        elif not won:
            lines.append(f"- {where}: {labels[focus]} does not win at any scale.")
        else:
            lines.append(f"- {where}: {labels[focus]} wins at {', '.join(won)} px and does not "
                         f"win at {', '.join(lost)} px.")
    lines += ["", f"Scores per photo: `{args.name}.json` (`scores`). Figures: overviews with the "
              "crop region outlined (where the photo has the most edges, chosen from the photo "
              "alone), and 1:1 crops of the outputs at full resolution.", ""]
    return lines, wins


def discussion(placeholder: str) -> list[str]:
    return ["## Discussion", "", keep_block("discussion", placeholder), ""]


def comparison_data(comparison: Comparison) -> dict[str, Any]:
    """What the JSON beside a comparison report holds besides its summary."""
    return {"models": {s: {m: model_record(t) for m, t in ms.items()}
                       for s, ms in comparison.trained.items()},
            "photos": [p.name for p in comparison.photos],
            "scores": comparison.scores, "photo_scores": comparison.photo_scores}
