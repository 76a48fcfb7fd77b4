"""Training checkpoints: one safetensors file with every tensor plus JSON state, never a pickle.

A checkpoint holds the network's parameters, Adam's moments, the random generators and, in its
metadata, the iteration, the configurations, the scheduler and data-order state and a SHA-256
of its tensor data. It is written to a temporary file, fsynced and renamed; the previous
checkpoint is kept as ``checkpoint.prev.safetensors`` so a corrupt latest one (a disk error, a
crash in the middle of the rename dance) falls back to the one before.

A process killed while writing (SIGKILL, a power cut) leaves the writer's temporary file
behind, a full checkpoint's worth of bytes; the next save removes such leftovers (the crash
test, tests/integration/test_crash_resume.py, found them piling up, one per kill). Only the
trainer, the one writer of a run folder, does this: a reader (``brushwork export`` during a
run) must never delete a file that a live trainer is writing.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load as load_safetensors_bytes
from safetensors.torch import save as save_safetensors_bytes

from .errors import BrushworkError
from .images import atomic_write

#: A checkpoint's tensor names: ``model.NAME`` the network's state, ``optim.I.NAME`` the
#: optimiser's (``optimizer_tensors``), ``rng.torch`` PyTorch's generator, ``rng.NAME`` the
#: photo stream's generators and ``rng.rankR.NAME`` those of data-parallel rank R > 0.
MODEL_PREFIX = "model."
#: The running average of the weights (``TrainConfig.average_decay``), when a run keeps one.
AVERAGE_PREFIX = "average."
TORCH_RNG = "rng.torch"

LATEST = "checkpoint.safetensors"
PREVIOUS = "checkpoint.prev.safetensors"
#: The complete new checkpoint, between its write and its rename to ``LATEST``.
NEXT = ".checkpoint.next"


def _digest(tensors: dict[str, torch.Tensor]) -> str:
    sha = hashlib.sha256()
    for name in sorted(tensors):
        tensor = tensors[name].contiguous()
        sha.update(name.encode())
        sha.update(str(tensor.dtype).encode())
        sha.update(tensor.reshape(-1).view(torch.uint8).numpy().tobytes())
    return sha.hexdigest()


def model_tensors(network: torch.nn.Module) -> dict[str, torch.Tensor]:
    """The network's state dict under checkpoint names."""
    return {f"{MODEL_PREFIX}{k}": v for k, v in network.state_dict().items()}


def average_tensors(average: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Checkpoint tensors of a run's weight average."""
    return {f"{AVERAGE_PREFIX}{k}": v for k, v in average.items()}


def average_state(tensors: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The weight average stored in checkpoint tensors (empty when the run keeps none)."""
    return {k[len(AVERAGE_PREFIX):]: v for k, v in tensors.items()
            if k.startswith(AVERAGE_PREFIX)}


def network_state(tensors: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The network's state dict back from a checkpoint's tensors (``model_tensors``)."""
    return {k[len(MODEL_PREFIX):]: v for k, v in tensors.items() if k.startswith(MODEL_PREFIX)}


def _stream_prefix(rank: int) -> str:
    return "rng." if rank == 0 else f"rng.rank{rank}."


def stream_tensors(generators: dict[str, torch.Tensor], rank: int = 0) -> dict[str, torch.Tensor]:
    """A photo stream's generator states (``PhotoStream.state``) under checkpoint names."""
    prefix = _stream_prefix(rank)
    return {f"{prefix}{k}": v for k, v in generators.items()}


def stream_state(tensors: dict[str, torch.Tensor], rank: int = 0) -> dict[str, torch.Tensor]:
    """Rank ``rank``'s photo stream generators back from a checkpoint (``stream_tensors``)."""
    prefix = _stream_prefix(rank)
    return {k[len(prefix):]: v for k, v in tensors.items()
            if k.startswith(prefix) and k != TORCH_RNG and "." not in k[len(prefix):]}


def optimizer_tensors(optimizer: torch.optim.Optimizer) -> dict[str, torch.Tensor]:
    """An optimizer's per-parameter state (Adam's moments and step) as ``optim.I.NAME``
    tensors for a checkpoint; its ``param_groups`` go in the JSON state."""
    return {f"optim.{index}.{key}": torch.as_tensor(value)
            for index, entry in optimizer.state_dict()["state"].items()
            for key, value in entry.items()}


def load_optimizer(optimizer: torch.optim.Optimizer, tensors: dict[str, torch.Tensor],
                   groups: list[dict[str, Any]]) -> None:
    """Put back what ``optimizer_tensors`` saved, with the saved ``param_groups``."""
    per_param: dict[int, dict[str, torch.Tensor]] = {}
    for key, value in tensors.items():
        if key.startswith("optim."):
            _, index, name = key.split(".", 2)
            per_param.setdefault(int(index), {})[name] = value
    optimizer.load_state_dict({"state": per_param, "param_groups": groups})


def save_checkpoint(run_dir: Path, tensors: dict[str, torch.Tensor], state: dict[str, Any]) -> Path:
    tensors = {name: t.detach().to("cpu").contiguous() for name, t in tensors.items()}
    document = {**state, "sha256": _digest(tensors)}
    blob = save_safetensors_bytes(tensors, metadata={"state": json.dumps(document)})
    latest, previous = run_dir / LATEST, run_dir / PREVIOUS
    temporary = run_dir / NEXT
    remove_leftovers(run_dir)
    atomic_write(temporary, lambda file: file.write(blob))
    if latest.exists():
        os.replace(latest, previous)
    os.replace(temporary, latest)
    return latest


def remove_leftovers(run_dir: Path) -> list[str]:
    """Delete the temporary files of checkpoint writes that were killed; returns their names.

    ``images.atomic_output`` names them ``.<target>.<random>.tmp``, the target being
    ``NEXT``. Call only from the run's writer (see the module docstring).
    """
    removed = []
    for path in run_dir.glob(f".{NEXT}.*.tmp"):
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
            removed.append(path.name)
    return removed


def _read(path: Path) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    data = path.read_bytes()
    try:
        tensors = load_safetensors_bytes(data)
        header_size = int.from_bytes(data[:8], "little")
        header = json.loads(data[8 : 8 + header_size])
        state = json.loads(header["__metadata__"]["state"])
    except (SafetensorError, ValueError, KeyError, TypeError) as error:
        raise BrushworkError(f"{path} is not a readable checkpoint ({error})") from error
    if state.get("sha256") != _digest(tensors):
        raise BrushworkError(f"{path} fails its checksum: the file is corrupt")
    return tensors, state


def load_checkpoint(run_dir: Path) -> tuple[dict[str, torch.Tensor], dict[str, Any], list[str]]:
    """The newest readable checkpoint in ``run_dir``, and warnings about any it had to skip."""
    warnings: list[str] = []
    for name in (LATEST, PREVIOUS):
        path = run_dir / name
        if not path.exists():
            continue
        try:
            tensors, state = _read(path)
        except BrushworkError as error:
            warnings.append(f"{error}; trying the previous checkpoint")
            continue
        return tensors, state, warnings
    raise BrushworkError(f"no usable checkpoint in {run_dir} to resume from")
