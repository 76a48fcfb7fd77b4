"""Training MT-Net with the hierarchical stylisation loss (paper 3.2.2 and 4).

``train`` reads top to bottom like the paper's recipe: build the network and the loss (style
Grams computed once), then for each iteration take a 512x512 crop, run the hierarchy in its
training form (refine at 512), compute L_H and take one Adam step; the learning rate is
multiplied by 0.8 every 2,000 iterations by a scheduler (re-creating Adam instead would reset
its moments). Everything else is bookkeeping: a JSONL loss log, previews of the three levels,
atomic checkpoints and an exact resume.

The library never prints: progress goes to the ``callback`` as ``TrainingEvent`` objects,
which the command line turns into a progress bar.

Why one module (over 500 lines): ``train`` keeps a run's whole state (resume, data-parallel
ranks, the time budget, previews, snapshots) in one function, with its helpers beside it;
``training_step`` is the loop's core on one screen. The loss log and preview helpers are the
obvious seam, but they are a few dozen lines whose only caller is ``train``: split off, they
would leave it over 500 lines and add an import for nothing.
"""

from __future__ import annotations

import json
import math
import os
import signal
import statistics
import threading
import time
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from PIL import Image
from torch.nn.parallel import DistributedDataParallel

from . import __version__, distributed
from .borders import trim_border
from .checkpoints import (
    TORCH_RNG,
    average_state,
    average_tensors,
    load_checkpoint,
    load_optimizer,
    model_tensors,
    network_state,
    optimizer_tensors,
    save_checkpoint,
    stream_state,
    stream_tensors,
)
from .color import match_colours
from .data import BUNDLED_PHOTOS, PhotoStream, centre_crops, list_images
from .devices import (
    autocast,
    keep_cpu_buffers_allocated,
    mixed_precision_supported,
    processor_name,
    resolve_device,
)
from .errors import BrushworkError
from .hierarchy import stylize_tensor
from .hyper_parameters import CONTENT_LAYER, TEXTURE_LAYERS, LossConfig, TrainConfig
from .images import atomic_write, load_image, save_image, to_image, to_tensor
from .losses.perceptual import EXTRA_TERMS, HierarchicalLoss, LevelLoss, content_targets
from .losses.vgg import build_vgg
from .model_files import export_model, lineage, load_state_into, read_model_file
from .networks import ARCHITECTURES, build_network
from .plateau import PLATEAU_PHOTOS, Plateau
from .weight_average import WeightAverage


@dataclass
class TrainingEvent:
    """What the trainer reports after each iteration (or on a warning / checkpoint)."""

    kind: str  # "iteration", "checkpoint", "preview", "warning", "resumed", "stopped"
    iteration: int
    iterations: int
    message: str = ""
    #: The iteration's loss-log record (``_log_record``): every term per level under its name.
    losses: dict[str, Any] = field(default_factory=dict)
    learning_rate: float = 0.0
    seconds: float = 0.0
    #: Training seconds so far, over resumes, and the time budget (0: none; TrainConfig.minutes).
    elapsed: float = 0.0
    budget: float = 0.0
    #: The process that reports it (torchrun's RANK; 0 in one process). Every rank reports
    #: its own events; a front end shows rank 0's and the others' warnings.
    rank: int = 0


Callback = Callable[[TrainingEvent], None]


class TrainingInterrupted(BrushworkError):
    """SIGTERM or Ctrl-C: a checkpoint was saved; ``--resume`` continues."""


def style_images(styles: Sequence[str | Path], levels: int,
                  fine_colours: str = "coarse", trim: bool = True) -> list[torch.Tensor]:
    """One artwork per level: one path for all levels, or one per level (paper Fig. 7).

    With ``fine_colours="coarse"`` (``LossConfig.fine_colours``) every artwork that differs
    from the coarsest level's is recoloured to its colour statistics; with ``trim``
    (``LossConfig.trim_border``) each is first trimmed of its scan border."""
    if len(styles) not in (1, levels):
        raise BrushworkError(f"give one style image or {levels} (one per level)")
    images = [trim_border(load_image(path)) if trim else load_image(path) for path in styles]
    if fine_colours == "coarse":
        coarse = Path(styles[0]).resolve()
        images = [images[0]] + [image if Path(path).resolve() == coarse
                                else match_colours(image, images[0])
                                for path, image in zip(styles[1:], images[1:])]
    tensors = [to_tensor(image) for image in images]
    return tensors * levels if len(tensors) == 1 else tensors


def _log_record(iteration: int, lr: float, total: float, levels: list[LevelLoss],
                seconds: float) -> dict:
    """One line of the loss log: per level, the content term (Eq. 2), the texture term
    (Eq. 4 alone), each of our extra terms that is on (``EXTRA_TERMS``, 0 at a level it does
    not reach) and the level's total, which they add up to."""
    record: dict[str, Any] = {
        "iteration": iteration,
        "lr": lr,
        "total": total,
        "content": [float(level.content.detach()) for level in levels],
        "texture": [float(level.texture.detach()) for level in levels],
    }
    for name in _extra_terms(levels):
        record[name] = [float(term.detach()) if (term := getattr(level, name)) is not None
                        else 0.0 for level in levels]
    record["level"] = [float(level.total.detach()) for level in levels]
    record["seconds"] = round(seconds, 4)
    return record


def _extra_terms(levels: list[LevelLoss]) -> list[str]:
    """The names of ``EXTRA_TERMS`` on at any level, in that order."""
    return [name for name in EXTRA_TERMS if any(getattr(level, name) is not None
                                                for level in levels)]


def _truncate_log(log_path: Path, iteration: int) -> None:
    """Drop log lines after ``iteration``: that work was lost and will be redone.

    Rewritten atomically: a kill at this moment must not lose the lines that are kept."""
    if not log_path.exists():
        return
    kept = []
    for line in log_path.read_text().splitlines():
        try:
            if json.loads(line)["iteration"] <= iteration:
                kept.append(line)
        except (ValueError, KeyError):
            continue
    text = "".join(f"{line}\n" for line in kept).encode()
    atomic_write(log_path, lambda file: file.write(text))


class _StopFlag:
    """Turns SIGTERM / SIGINT into a flag checked between iterations."""

    def __init__(self) -> None:
        self.raised = False
        self._previous: dict[int, Any] = {}

    def __enter__(self) -> _StopFlag:
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGTERM, signal.SIGINT):
                self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def _handle(self, signum: int, frame: Any) -> None:
        self.raised = True

    def __exit__(self, *exc: object) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)


def default_loss(arch: str) -> LossConfig:
    """The loss ``arch`` trains with unless told otherwise: the paper's three levels for
    MT-Net, one stylisation loss for the single-level baselines (``LossConfig.single_level``)."""
    network_class, _ = ARCHITECTURES[arch]
    levels = len(network_class.training_sizes(TrainConfig().crop_size))
    return LossConfig() if levels == 3 else LossConfig.single_level()


# Under torchrun the whole run is one job of N processes: NCCL between GPUs, gloo on the CPU.
@distributed.in_job(lambda *_, **options: distributed.backend_for(
    resolve_device(options.get("device", "auto"))))
def train(
    style: str | Path | Sequence[str | Path],
    data: str | Path | None,
    output: str | Path,
    *,
    run_dir: str | Path | None = None,
    arch: str = "mtnet",
    network: Any = None,
    loss: LossConfig | None = None,
    config: TrainConfig | None = None,
    device: str = "auto",
    vgg_weights: str | Path | None = None,
    resume: bool = False,
    preview_photo: str | Path | None = None,
    init_from: str | Path | None = None,
    callback: Callback | None = None,
    recipe: str | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> Path:
    """Train a network on the photos in ``data`` to paint like ``style``; write ``output``.

    ``recipe``: how the settings were chosen, in words, recorded in the model file
    (``brushwork.recipe``).

    ``should_stop``: asked between iterations (a server's cancel button); True stops the run
    as SIGTERM does: a checkpoint, then ``TrainingInterrupted``.

    ``data`` None: the photos bundled with the package (``data.BUNDLED_PHOTOS``).

    ``arch`` is "mtnet" (the paper's network, default) or a baseline (``networks.ARCHITECTURES``);
    ``network`` is its config dataclass (default: the architecture's defaults) and ``loss`` must
    have one entry per output level (default: the paper's three levels for MT-Net,
    ``LossConfig.single_level()`` for single-output baselines).
    ``init_from`` starts from a trained model file's weights (fine-tuning; same architecture
    and widths) instead of a random initialisation; the model's record says so.
    ``config.frozen_subnets`` keeps some of its subnets as they are (``freeze_subnets``).
    ``style`` is one artwork, or one per level (coarse to fine, paper Fig. 7). With
    ``resume=True`` the configurations come from the checkpoint in ``run_dir`` (only the
    iteration count may be raised), and training continues exactly where it stopped.
    Returns the model file's path.

    Started by ``torchrun --nproc-per-node N`` (several processes, data parallel): each
    process trains on its own shard of the photos (every N-th file) and DDP averages the N
    gradients before each Adam step, so one iteration sees N photos (effective batch N, same
    learning rate: README "Training on several GPUs"). Rank 0 alone writes the checkpoints,
    the loss log (losses averaged over the ranks), the previews and the model file.
    ``resume`` also works with a different number of processes (the photo order then
    restarts, seeded by the iteration).
    """
    context = distributed.launched()
    report = callback or (lambda event: None)

    def emit(event: TrainingEvent) -> None:
        event.rank = context.rank
        report(event)

    output = Path(output)
    run_dir = Path(run_dir) if run_dir else output.with_name(output.stem + ".run")
    styles = [style] if isinstance(style, (str, Path)) else list(style)
    config = config or TrainConfig()
    if config.iterations < 1 or config.crop_size < 32 or config.crop_size % 32:
        raise BrushworkError("iterations must be >= 1 and the crop size a multiple of 32")
    if config.snapshot_every < 0 or config.texture_warmup < 0 or config.photo_size < 0:
        raise BrushworkError("--snapshot-every, --texture-warmup and --photo-size must be >= 0")
    if not config.minutes >= 0:
        raise BrushworkError("--minutes must be >= 0")
    if not output.parent.is_dir():
        raise BrushworkError(f"output folder does not exist: {output.parent}")

    checkpoint_tensors: dict[str, torch.Tensor] = {}
    state: dict[str, Any] = {}
    if resume:
        checkpoint_tensors, state, warnings = load_checkpoint(run_dir)
        for message in warnings if context.is_main else []:  # every rank read the same files
            emit(TrainingEvent("warning", 0, config.iterations, message))
        arch = state.get("arch", "mtnet")
        network = state["network"]
        loss = LossConfig.from_dict(state["loss"])
        iterations = max(config.iterations, state["iteration"])
        # Only the iteration count and the time budget may change on resume, and only up:
        # a budget of 0 (none) on either side means none.
        stored = float(state["train"].get("minutes", 0.0))
        minutes = 0.0 if 0 in (stored, config.minutes) else max(stored, config.minutes)
        config = TrainConfig.from_dict({**state["train"], "iterations": iterations,
                                        "minutes": minutes})
        styles = state["styles"]
    elif (run_dir / "checkpoint.safetensors").exists():
        raise BrushworkError(
            f"{run_dir} already holds a training run: pass --resume to continue it, "
            "or choose another --run-dir"
        )

    if arch not in ARCHITECTURES:
        raise BrushworkError(f"unknown architecture {arch!r}; known: {', '.join(ARCHITECTURES)}")
    network_class, config_class = ARCHITECTURES[arch]
    if network is None:
        network = config_class()
    elif isinstance(network, dict):
        network = config_class.from_dict(network)
    sizes = network_class.training_sizes(config.crop_size)
    if loss is None:
        loss = default_loss(arch)
    try:
        loss.check(len(sizes))
    except ValueError as error:
        raise BrushworkError(f"{arch}: {error}") from error

    dev = distributed.local_device(resolve_device(device))
    if dev.type == "cpu":
        keep_cpu_buffers_allocated()  # ~16% faster iterations on CPU (see devices.py)
    use_bf16 = config.mixed_precision and mixed_precision_supported(dev)
    torch.manual_seed(config.seed)
    data = BUNDLED_PHOTOS if data is None else data
    files = list_images(data)
    photos = _photo_stream(files, config, context, emit)
    style_tensors = style_images(styles, len(sizes), loss.fine_colours, loss.trim_border)
    processor = processor_name(dev)

    net = build_network(arch, network.to_dict())
    initial: dict[str, Any] | None = state.get("init_from")
    if init_from is not None and not resume:
        tensors, metadata = read_model_file(init_from)
        widths = metadata.get("network")
        if (metadata.get("architecture") != arch or not isinstance(widths, dict)
                or config_class.from_dict(widths) != network):
            raise BrushworkError(f"{init_from} is not a {arch} with this run's widths")
        load_state_into(net, tensors, str(init_from))
        # The lineage (the first ancestor's checksum) says which models share a starting
        # network and can be mixed by interpolating weights (``mixing``).
        initial = {"file": Path(init_from).name, "record": metadata.get("record"),
                   "lineage": lineage(metadata)}
    trainable = freeze_subnets(net, config.frozen_subnets)
    if config.frozen_subnets and initial is None:
        raise BrushworkError("frozen subnets keep a trained model's weights: give --init-from")
    vgg = build_vgg((*TEXTURE_LAYERS, CONTENT_LAYER), vgg_weights)
    criterion = HierarchicalLoss(vgg, style_tensors, loss)
    net.to(dev)
    criterion.to(dev)
    optimizer = torch.optim.Adam(trainable, lr=config.learning_rate)
    scheduler = torch.optim.lr_scheduler.StepLR(
        optimizer, step_size=config.lr_decay_every, gamma=config.lr_decay
    )

    start = 0
    elapsed = 0.0
    run_dir.mkdir(parents=True, exist_ok=True)
    log_path = run_dir / "loss.jsonl"
    if resume:
        start = state["iteration"]
        if not _restore(net, optimizer, scheduler, photos, checkpoint_tensors, state, context):
            photos = _photo_stream(files, config, context, emit, offset=start)
        if state.get("world_size", 1) != context.world_size and context.is_main:
            emit(TrainingEvent(
                "warning", start, config.iterations,
                f"the checkpoint was written by {state.get('world_size', 1)} process(es), this "
                f"run has {context.world_size}: the photo order restarts (seeded by the "
                "iteration) instead of continuing exactly"))
        elapsed = state.get("wall_seconds", 0.0)
        if context.is_main:
            _truncate_log(log_path, start)
        emit(TrainingEvent("resumed", start, config.iterations, f"resumed at iteration {start}"))
    elif log_path.exists() and context.is_main:
        log_path.unlink()
    average = (WeightAverage(net, config.average_decay, average_state(checkpoint_tensors))
               if config.average_decay else None)

    def averaged() -> AbstractContextManager[torch.nn.Module]:
        """The network as the model file will hold it (the weight average, when kept)."""
        return average.applied(net) if average is not None else nullcontext(net)

    # Previews at twice the crop: the test-time levels then run at the sizes the subnets are
    # trained at (style at crop/2, enhance at crop), as a user's 1024 px stylisation does.
    preview = _preview_tensor(preview_photo, files, 2 * photos.photo_size)
    plateau = Plateau(
        centre_crops(files, config.crop_size, config.photo_size, PLATEAU_PHOTOS)
        if config.plateau_every else [],
        config.plateau_every, config.plateau_patience, config.plateau_tolerance,
        state.get("plateau", []))
    style_record = [
        {"file": Path(p).name, "width": t.shape[-1], "height": t.shape[-2]}
        for p, t in zip(styles, style_tensors)
    ]

    def checkpoint(iteration: int) -> None:
        # Every rank's place in its photo stream, so the same number of processes resumes
        # exactly (a collective call: every rank comes here).
        data_states = distributed.gather_to_main(photos.state())
        if not context.is_main:
            return
        tensors, extra = _capture(net, optimizer, scheduler, photos)
        if average is not None:
            tensors.update(average_tensors(average.average))
        extra["world_size"] = context.world_size
        if data_states is not None and len(data_states) > 1:
            extra["data_states"] = [json_state for json_state, _ in data_states[1:]]
            for rank, (_, rng) in enumerate(data_states[1:], start=1):
                tensors.update(stream_tensors(rng, rank))
        save_checkpoint(run_dir, tensors, {
            "iteration": iteration, "arch": arch, "network": network.to_dict(),
            "loss": loss.to_dict(),
            "train": config.to_dict(), "styles": [str(p) for p in styles],
            "style_images": style_record,
            "data": str(data), "wall_seconds": elapsed, "device": str(dev),
            "processor": processor,
            "bf16": use_bf16, "version": __version__, "init_from": initial,
            "recipe": recipe if recipe is not None else state.get("recipe"),
            "plateau": plateau.history, **extra,
        })
        emit(TrainingEvent("checkpoint", iteration, config.iterations, str(run_dir)))

    # Data parallel under torchrun: DDP averages the ranks' gradients in backward (and starts
    # every rank from rank 0's parameters). Instance norm has no batch statistics, so N
    # processes at batch 1 compute exactly the gradient of one batch of N.
    model = net
    if context.distributed:
        model = DistributedDataParallel(net, device_ids=[dev.index] if dev.type == "cuda"
                                        else None)
    net.train()
    with _StopFlag() as stop, (log_path if context.is_main else Path(os.devnull)).open("a") as log:
        for iteration in range(start + 1, config.iterations + 1):
            began = time.perf_counter()
            photo = next(photos).to(dev)
            scale = texture_scale(iteration, config.texture_warmup)
            total, levels = training_step(model, criterion, optimizer, photo, sizes, use_bf16,
                                          scale)
            if average is not None:
                average.update(net)
            lr = float(scheduler.get_last_lr()[0])
            scheduler.step()
            seconds = time.perf_counter() - began
            # Every rank logs and decides (budget, NaN, stop) on the same averaged numbers.
            asked = stop.raised or (should_stop is not None and should_stop())
            total, levels, seconds, stopping = _agree(total, levels, seconds, asked)
            elapsed += seconds
            value = float(total.detach())
            if not math.isfinite(value):
                raise BrushworkError(
                    f"the loss became {value} at iteration {iteration}: lower the learning rate "
                    "or the texture weights, and --resume from the last checkpoint"
                )
            record = _log_record(iteration, lr, value, levels, seconds)
            ratio = adam_memory_ratio(optimizer)
            if ratio is not None:
                record["adam_ratio"] = round(ratio, 3)
            if scale < 1:
                record["texture_scale"] = scale
            flat = False
            if plateau.due(iteration):  # every rank scores the same crops: the same answer
                with averaged() as looked_at:
                    record["plateau_loss"] = plateau.measure(looked_at, criterion, sizes,
                                                             use_bf16)
                flat = plateau.flat()
            log.write(json.dumps(record) + "\n")
            log.flush()
            emit(TrainingEvent("iteration", iteration, config.iterations, losses=record,
                               learning_rate=lr, seconds=seconds, elapsed=elapsed,
                               budget=60 * config.minutes))
            out_of_time = bool(config.minutes) and elapsed >= 60 * config.minutes
            finished = out_of_time or flat
            if context.is_main and (iteration % config.preview_every == 0
                                    or iteration == config.iterations):
                with averaged() as looked_at:
                    path = _write_preview(looked_at, preview, run_dir, iteration)
                emit(TrainingEvent("preview", iteration, config.iterations, str(path)))
            snapshot_due = bool(config.snapshot_every) and iteration % config.snapshot_every == 0
            if (iteration % config.checkpoint_every == 0 or iteration == config.iterations
                    or snapshot_due or finished):
                checkpoint(iteration)
            if snapshot_due and context.is_main:  # a model file from the checkpoint just written
                snapshot = run_dir / "snapshots" / f"iter-{iteration:06d}.safetensors"
                snapshot.parent.mkdir(exist_ok=True)
                export_model(run_dir, snapshot)
            if stopping:
                checkpoint(iteration)
                raise TrainingInterrupted(
                    f"stopped at iteration {iteration}; checkpoint saved in {run_dir}: "
                    "run the same command with --resume to continue"
                )
            if flat:
                emit(TrainingEvent(
                    "stopped", iteration, config.iterations,
                    f"the loss has flattened: stopped at iteration {iteration} of "
                    f"{config.iterations} (no {100 * config.plateau_tolerance:g}% gain over "
                    f"the last {config.plateau_patience} checks, "
                    f"{config.plateau_every} iterations apart)"))
            elif out_of_time:
                emit(TrainingEvent(
                    "warning", iteration, config.iterations,
                    f"the {config.minutes:g}-minute budget ran out at iteration {iteration} of "
                    f"{config.iterations}; the model is written (--resume with a larger "
                    "--minutes goes on)"))
            if finished:
                if (context.is_main and iteration % config.preview_every
                        and iteration != config.iterations):
                    with averaged() as looked_at:
                        _write_preview(looked_at, preview, run_dir, iteration)
                break

    if context.is_main:
        export_model(run_dir, output)
    distributed.barrier()  # every rank returns once the model file is there
    return output


def freeze_subnets(net: torch.nn.Module, names: Sequence[str]) -> list[torch.nn.Parameter]:
    """Stop the gradient of the named subnets (``TrainConfig.frozen_subnets``); return the
    parameters left to train. Their levels' losses are still computed and logged: they show
    that the frozen levels' outputs did not move."""
    known = getattr(net, "SUBNET_NAMES", ())
    unknown = [name for name in names if name not in known]
    if unknown:
        raise BrushworkError(
            f"cannot freeze {', '.join(unknown)}: this network's subnets are "
            f"{', '.join(known) or 'not separable (a single-level baseline)'}")
    if names and set(names) >= set(known):
        raise BrushworkError("every subnet is frozen: nothing would train")
    for name in names:
        getattr(net, name).requires_grad_(False)
    return [p for p in net.parameters() if p.requires_grad]


def _photo_stream(
    files: list[Path], config: TrainConfig, context: distributed.Context, emit: Callback,
    offset: int = 0,
) -> PhotoStream:
    """This rank's photos (its shard of ``files``) in a seeded order.

    Rank 0 of 1 gets every file and ``config.seed``, as before torchrun existed; rank r of N
    a seed of its own, so the ranks' crops and flips differ. ``offset`` (the iteration) seeds
    a new order when a run resumes with a different number of processes.
    """
    shard = distributed.shard(files, context)
    if not shard:
        raise BrushworkError(f"{len(files)} photo(s) cannot be shared among "
                             f"{context.world_size} processes: each needs at least one")
    return PhotoStream(
        shard, config.crop_size, config.seed + RANK_SEED_STRIDE * context.rank + offset,
        on_warning=lambda message: emit(TrainingEvent("warning", 0, config.iterations, message)),
        photo_size=config.photo_size,
    )


#: Seed distance between ranks' photo streams (ours; each stream uses seed and seed + 1).
RANK_SEED_STRIDE = 1_000_003


def _agree(
    total: torch.Tensor, levels: list[LevelLoss], seconds: float, stop: bool
) -> tuple[torch.Tensor, list[LevelLoss], float, bool]:
    """The iteration's losses and time averaged over the ranks, and whether any rank must stop.

    In one process it returns its arguments. Under torchrun one all-reduce makes every rank
    log the same numbers and take the same decisions (a NaN, the time budget, SIGTERM on one
    node), which keeps the ranks in step: a rank that stopped alone would hang the others.
    Every rank runs the same loss configuration, so the same terms are on everywhere.
    """
    if not distributed.launched().distributed:
        return total, levels, seconds, stop
    names = ["content", "texture", "total", *_extra_terms(levels)]
    zero = total.detach().new_zeros(())
    values = [total.detach().float()]
    for level in levels:
        values += [(term if (term := getattr(level, name)) is not None else zero)
                   .detach().float() for name in names]
    vector = torch.stack([v.reshape(()) for v in values]).cpu()
    vector = torch.cat([vector, torch.tensor([seconds, float(stop)])])
    device = total.device if total.device.type == "cuda" else torch.device("cpu")
    mean = distributed.mean_over_ranks(vector.to(device)).cpu()
    averaged = [LevelLoss(**{name: mean[1 + len(names) * k + i]
                             for i, name in enumerate(names)}) for k in range(len(levels))]
    return mean[0], averaged, float(mean[-2]), bool(mean[-1] > 0)


def adam_memory_ratio(optimizer: torch.optim.Optimizer) -> float | None:
    """Median over parameter tensors of sqrt(v_hat) / RMS(gradient) after an Adam step.

    Adam divides each step by sqrt(v_hat), its running estimate of the gradient's size. When it
    matches today's gradient the ratio is ~1 and the step is ~the learning rate; a ratio of
    ~100 means Adam still remembers a start-up spike and steps ~100x too short (the stall
    measured in docs/training-stall.md). Logged every iteration as ``adam_ratio``; None for
    other optimisers or before the first step.
    """
    ratios = []
    for group in optimizer.param_groups:
        beta2 = group.get("betas", (0.0, 0.0))[1]
        for p in group["params"]:
            state = optimizer.state.get(p, {})
            if p.grad is None or "exp_avg_sq" not in state:
                continue
            step = float(state["step"])
            v_hat = state["exp_avg_sq"] / (1 - beta2**step)
            grad = float(p.grad.float().pow(2).mean().sqrt())
            if grad > 0:
                ratios.append(float(v_hat.sqrt().mean()) / grad)
    return statistics.median(ratios) if ratios else None


def texture_scale(iteration: int, warmup: int) -> float:
    """Multiplier of the texture weights at ``iteration`` (from 1): a linear rise over the
    first ``warmup`` iterations (``TrainConfig.texture_warmup``), 1 after, 1 when off."""
    return 1.0 if warmup <= 0 else min(1.0, (iteration - 1) / warmup)


def training_step(
    net: torch.nn.Module, criterion: HierarchicalLoss, optimizer: torch.optim.Optimizer,
    photo: torch.Tensor, sizes: list, mixed_precision: bool, texture_scale: float = 1.0,
) -> tuple[torch.Tensor, list]:
    """One iteration: the hierarchy's outputs, L_H, its gradient, one optimiser step."""
    with autocast(photo.device, mixed_precision):
        outputs = net(photo, sizes)
        targets = content_targets(photo, outputs, sizes, criterion.config.content_target)
        total, levels = criterion(outputs, targets, texture_scale)
    optimizer.zero_grad(set_to_none=True)
    total.backward()
    optimizer.step()
    return total, levels


def _capture(net, optimizer, scheduler, photos) -> tuple[dict[str, torch.Tensor], dict]:
    tensors = model_tensors(net)
    tensors.update(optimizer_tensors(optimizer))
    data_state, data_tensors = photos.state()
    tensors.update(stream_tensors(data_tensors))
    tensors[TORCH_RNG] = torch.get_rng_state()
    extra = {
        "optimizer_groups": optimizer.state_dict()["param_groups"],
        "scheduler": scheduler.state_dict(),
        "data_state": data_state,
    }
    return tensors, extra


def _restore(net, optimizer, scheduler, photos, tensors, state,
             context: distributed.Context | None = None) -> bool:
    """Put a checkpoint's state back; False when the photo stream could not be (another
    number of processes wrote it), which the caller reseeds."""
    context = context or distributed.Context()
    net.load_state_dict(network_state(tensors))
    load_optimizer(optimizer, tensors, state["optimizer_groups"])
    scheduler.load_state_dict(state["scheduler"])
    torch.set_rng_state(tensors[TORCH_RNG])
    if state.get("world_size", 1) != context.world_size:
        return False
    if context.rank == 0:
        photos.restore(state["data_state"], stream_state(tensors))
    else:
        photos.restore(state["data_states"][context.rank - 1],
                       stream_state(tensors, context.rank))
    return True


def _preview_tensor(path: str | Path | None, files: list[Path], size: int) -> torch.Tensor:
    """The photo shown in previews: the one asked for, else the first readable training photo."""
    candidates = [Path(path)] if path else files
    for candidate in candidates:
        try:
            image = load_image(candidate)
        except BrushworkError:
            if path:
                raise
            continue
        image.thumbnail((size, size), Image.Resampling.LANCZOS)
        return to_tensor(image)
    raise BrushworkError("none of the training photos could be read")


def _write_preview(
    net: torch.nn.Module, photo: torch.Tensor, run_dir: Path, iteration: int
) -> Path:
    """A strip: the photo, then y1, y2, y3 at test time, each shown at the photo's size."""
    device = next(net.parameters()).device
    net.eval()
    with torch.no_grad():
        levels = stylize_tensor(net, photo.to(device), max(photo.shape[-2:]))
    net.train()
    h, w = photo.shape[-2:]
    tiles = [to_image(photo)] + [to_image(level).resize((w, h), Image.Resampling.NEAREST)
                                 for level in levels]
    strip = Image.new("RGB", (w * len(tiles), h))
    for i, tile in enumerate(tiles):
        strip.paste(tile, (i * w, 0))
    folder = run_dir / "previews"
    folder.mkdir(exist_ok=True)
    path = folder / f"iter-{iteration:06d}.jpg"
    save_image(strip, path, quality=90)
    return path
