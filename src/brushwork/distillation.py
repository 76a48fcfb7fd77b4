"""Distillation: a trained MT-Net teaches a slimmer MT-Net the same style.

A built-in style's recipe (texture weights, palette and colour-layout terms, the refine subnet
retrained at the artwork's size) is already in its full-width network. Instead of searching
that recipe again for a cheaper architecture, the slim network (``NetworkConfig.slim``) learns
the full-width network's function directly: both paint the same crops, laid out as at test
time (the style subnet at crop/4, enhance at crop/2, refine at the crop, each level's input the
previous level's output upsampled), and the student is pulled towards the teacher's y1, y2 and
y3 (L1 on the pixels and on their gradients, ``DistilConfig``). No VGG-19 in the loop: on a
2-core CPU without bf16 it would cost ~5x the rest of a step; the VGG distances are measured
afterwards, against the teacher and the peer (``experiments/zoo_report.py``).

With ``DistilConfig.temporal_weight`` the student also learns to paint a moved crop as the
teacher's painting moved (``losses.temporal``, ``moved_painting_loss``): the steady video
models, whose frames keep their strokes when the picture moves under them (docs/video.md).

Runs are resumable like training runs (``checkpoints``): the student, Adam's moments, the
photo stream and the random state are saved every ``checkpoint_every`` steps.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from .checkpoints import (
    TORCH_RNG,
    load_checkpoint,
    load_optimizer,
    model_tensors,
    network_state,
    optimizer_tensors,
    save_checkpoint,
    stream_state,
    stream_tensors,
)
from .data import PhotoStream, list_images
from .devices import processor_name
from .errors import BrushworkError
from .hyper_parameters import DistilConfig, NetworkConfig
from .losses.temporal import add_noise, inside, move, random_motion, temporal_loss
from .model_files import lineage, network_from_file, read_model_file, save_model
from .networks.multimodal import MTNet

Size = tuple[int, int]


def inference_layout(crop: int) -> list[Size]:
    """Level sizes for a ``crop`` x ``crop`` output laid out as at test time (crop/4, /2, 1)."""
    return [(crop // 4, crop // 4), (crop // 2, crop // 2), (crop, crop)]


def _gradients(image: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    return image[..., 1:, :] - image[..., :-1, :], image[..., :, 1:] - image[..., :, :-1]


def distillation_loss(
    student: list[torch.Tensor], teacher: list[torch.Tensor], config: DistilConfig
) -> tuple[torch.Tensor, list[float]]:
    """Sum over levels of weight * (L1 of the pixels + gradient_weight * L1 of the gradients);
    also each level's pixel L1, for the log."""
    total = student[0].new_zeros(())
    per_level = []
    for weight, ours, theirs in zip(config.level_weights, student, teacher):
        pixels = F.l1_loss(ours, theirs)
        edges = sum(F.l1_loss(a, b) for a, b in zip(_gradients(ours), _gradients(theirs)))
        total = total + weight * (pixels + config.gradient_weight * edges)
        per_level.append(float(pixels.detach()))
    return total, per_level


def moved_painting_loss(student: MTNet, crops: torch.Tensor, painting: torch.Tensor,
                        sizes: list[Size], config: DistilConfig) -> torch.Tensor:
    """The temporal term (``losses.temporal``): the student's painting of the crops moved by
    random motions, with noise, against the teacher's ``painting`` (its y3) moved the same
    way, where the moved pixels come from inside the crop."""
    n, _, height, width = crops.shape
    motion = random_motion(n, height, width, shift=config.temporal_shift,
                           zoom=config.temporal_zoom, rotation=config.temporal_rotation,
                           deform=config.temporal_deform)
    moved = add_noise(move(crops, motion), config.temporal_noise)
    return temporal_loss(student(moved, sizes)[-1], move(painting, motion),
                         inside(motion, config.temporal_margin), config.gradient_weight)


def _batch(photos: PhotoStream, size: int) -> torch.Tensor:
    return torch.cat([next(photos) for _ in range(size)])


def _capture(student: MTNet, optimizer: torch.optim.Optimizer,
             photos: PhotoStream) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    tensors = model_tensors(student)
    tensors.update(optimizer_tensors(optimizer))
    data_state, data_tensors = photos.state()
    tensors.update(stream_tensors(data_tensors))
    tensors[TORCH_RNG] = torch.get_rng_state()
    return tensors, {"data_state": data_state,
                     "optimizer_groups": optimizer.state_dict()["param_groups"]}


def _restore(student: MTNet, optimizer: torch.optim.Optimizer, photos: PhotoStream,
             tensors: dict[str, torch.Tensor], state: dict[str, Any]) -> None:
    student.load_state_dict(network_state(tensors))
    load_optimizer(optimizer, tensors, state["optimizer_groups"])
    photos.restore(state["data_state"], stream_state(tensors))
    torch.set_rng_state(tensors[TORCH_RNG])


def load_mtnet(path: str | Path) -> tuple[MTNet, dict[str, Any]]:
    """An MT-Net model file as a float32 network, and its metadata."""
    tensors, metadata = read_model_file(path)
    network = network_from_file(tensors, metadata, str(path))
    if not isinstance(network, MTNet):
        raise BrushworkError(f"{path} is not an MT-Net model: only MT-Net is distilled")
    return network.float(), metadata


def distil(
    teacher_path: str | Path, photo_folder: str | Path, run_dir: str | Path, output: str | Path,
    config: DistilConfig | None = None, student_config: NetworkConfig | None = None,
    init_from: str | Path | None = None,
    on_progress: Callable[[dict[str, Any]], None] | None = None,
) -> Path:
    """Distil the MT-Net in ``teacher_path`` into a ``student_config`` MT-Net (default: slim)
    and write it to ``output`` with the teacher's style metadata; resumes ``run_dir``.

    ``init_from``: a model file of the student's architecture to start from (another style's
    distilled network: like fine-tuning, a start near any painted style converges faster).
    """
    config = config or DistilConfig()
    student_config = student_config or NetworkConfig.slim()
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(config.seed)
    teacher, metadata = load_mtnet(teacher_path)
    teacher.eval().requires_grad_(False)
    student = MTNet(student_config)
    if init_from is not None:
        start, _ = load_mtnet(init_from)
        if start.config != student_config:
            raise BrushworkError(f"{init_from} is not an MT-Net of the student's widths")
        student.load_state_dict(start.state_dict())
    optimizer = torch.optim.Adam(student.parameters(), lr=config.learning_rate)
    photos = PhotoStream(list_images(photo_folder), config.crop_size, config.seed,
                         photo_size=config.photo_size)
    iteration, seconds = 0, 0.0
    if (run_dir / "checkpoint.safetensors").exists():
        tensors, state, _ = load_checkpoint(run_dir)
        _restore(student, optimizer, photos, tensors, state)
        iteration, seconds = int(state["iteration"]), float(state["wall_seconds"])

    def learning_rate(step: int) -> float:
        return config.learning_rate * 0.5 * (1 + math.cos(math.pi * step / config.iterations))

    sizes = inference_layout(config.crop_size)
    student.train()
    while iteration < config.iterations:
        started = time.perf_counter()
        crops = _batch(photos, config.batch_size)
        with torch.no_grad():
            targets = teacher(crops, sizes)
        for group in optimizer.param_groups:
            group["lr"] = learning_rate(iteration)
        loss, per_level = distillation_loss(student(crops, sizes), targets, config)
        steadiness = None
        if config.temporal_weight:
            steadiness = moved_painting_loss(student, crops, targets[-1], sizes, config)
            loss = loss + config.temporal_weight * steadiness
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        iteration += 1
        seconds += time.perf_counter() - started
        if on_progress is not None:
            on_progress({"iteration": iteration, "iterations": config.iterations,
                         "loss": float(loss.detach()), "levels": per_level, "seconds": seconds,
                         "temporal": None if steadiness is None else float(steadiness.detach())})
        if iteration % config.checkpoint_every == 0 or iteration == config.iterations:
            tensors, state = _capture(student, optimizer, photos)
            save_checkpoint(run_dir, tensors, {**state, "iteration": iteration,
                                               "wall_seconds": seconds})
    student.eval()
    record = {
        "teacher": Path(teacher_path).name,
        "teacher_sha256": metadata.get("data_sha256"),
        "iterations": iteration,
        "wall_seconds": round(seconds, 1),
        "processor": processor_name(torch.device("cpu")),
        "config": config.to_dict(),
    }
    kept = {k: v for k, v in metadata.items()
            if k not in ("format_version", "data_sha256", "network", "lineage")}
    save_model(output, student, {**kept, "architecture": "mtnet",
                                 "network": student_config.to_dict(), "distilled": record,
                                 "lineage": lineage(metadata)})
    return Path(output)
