"""Model files: safetensors weights (float16, or int8 for built-in styles) plus JSON metadata.

A model file is a plain safetensors file; its header's ``__metadata__`` holds one key,
``brushwork``, whose value is a JSON document: format version, architecture and its
configuration, training configuration and record, style image(s), package version. Loading
reads the header with the safetensors library, which never executes anything: Brushwork never
unpickles a file it is handed. Every tensor's name, shape and finiteness are checked against
the architecture before the weights are used, and the SHA-256 of the tensor bytes, stored in
the metadata (``data_sha256``), is verified: a damaged download or a flipped bit on disk is
refused instead of painting garbage (files written before the checksum existed load without).

Built-in styles are stored compactly, so that all of them fit one wheel under PyPI's 100 MB
limit: each convolution's weights as int8 with one float32 scale per output channel
(``<name>::scale``), everything else float16, dequantised to float32 on load. Their paintings
stay far above the 40 dB PSNR bar against the float16 model's (``experiments/compact_models.py``;
measured in README.md, "Built-in styles").

The metadata is untrusted too: its nesting is bounded (a deeply nested header was a
``RecursionError``, i.e. a 500 from the server: docs/reliability.md), and
``network_from_file`` checks the architecture it asks for against ``networks``' bounds and the
tensors' names and shapes against a plan of the network before the network itself is built
(``networks.plan_network``).

``export_model`` writes a model file from a training run's latest checkpoint.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load as load_safetensors_bytes
from safetensors.torch import save as save_safetensors_bytes
from torch import nn

from . import __version__
from .checkpoints import average_state, load_checkpoint, network_state
from .errors import BrushworkError, quoted
from .images import atomic_write
from .networks import build_network, plan_network

#: Version of the metadata layout; bump when an older Brushwork could not read a new file.
FORMAT_VERSION = 1
#: Largest header we accept (safetensors headers of our models are a few tens of kB).
MAX_HEADER_BYTES = 1 << 22
#: Pickle protocol 2+ starts with 0x80, torch.save's zip format with "PK"; protocols 0-1 start
#: with an opcode such as "(", "c" or "}" and are caught by the header-size check instead.
_PICKLE_SIGNATURES = (b"\x80", b"PK\x03\x04")
#: Weight dtypes a model file may hold (we write float16; the others are accepted from tools).
_WEIGHT_DTYPES = (torch.float16, torch.bfloat16, torch.float32)
#: Suffix of the per-output-channel scale of an int8 tensor in a compact file.
SCALE_SUFFIX = "::scale"
#: Largest integer of the symmetric int8 grid (ours: -127..127, so that 0 is exact and the
#: grid is symmetric; -128 is never written).
INT8_LEVELS = 127
#: Deepest nesting of lists and objects in the metadata (ours): Brushwork's own is 3 deep
#: (document -> styles -> one style); the margin is for tools that add their own records.
MAX_METADATA_DEPTH = 16


def save_model(path: str | Path, network: nn.Module, metadata: dict[str, Any], *,
               compact: bool = False) -> None:
    """Write ``network``'s weights as float16 with ``metadata`` (must be JSON-serialisable).

    ``compact`` stores convolution weights as int8 per output channel (half the size; the
    built-in styles), the rest as float16."""
    tensors: dict[str, torch.Tensor] = {}
    for name, tensor in network.state_dict().items():
        tensor = tensor.detach().to("cpu", torch.float32)
        if compact and tensor.dim() >= 2:
            tensors[name], tensors[name + SCALE_SUFFIX] = quantize_per_channel(tensor)
        else:
            tensors[name] = tensor.to(torch.float16).contiguous()
    document = {"format_version": FORMAT_VERSION, **metadata}
    # The tensor bytes do not depend on the header (offsets are relative to the data), so
    # serialise once to hash them, then again with the hash in the metadata.
    draft = save_safetensors_bytes(tensors, metadata={"brushwork": json.dumps(document)})
    document["data_sha256"] = _data_digest(draft)
    blob = save_safetensors_bytes(tensors, metadata={"brushwork": json.dumps(document)})
    atomic_write(path, lambda file: file.write(blob))


def write_compact(source: str | Path, target: str | Path) -> None:
    """A compact copy (int8 convolutions) of a model file, keeping its metadata and lineage."""
    tensors, metadata = read_model_file(source)
    network = network_from_file(tensors, metadata, str(source))
    kept = {k: v for k, v in metadata.items() if k not in ("format_version", "data_sha256")}
    save_model(target, network, {**kept, "lineage": lineage(metadata)}, compact=True)


def add_metadata(path: str | Path, extra: dict[str, Any]) -> None:
    """Rewrite a model file written by ``save_model`` (float16, not compact) atomically, with
    ``extra`` merged into its metadata; the weights stay as they are (float16 both ways)."""
    tensors, metadata = read_model_file(path)
    network = network_from_file(tensors, metadata, str(path))
    kept = {k: v for k, v in metadata.items() if k not in ("format_version", "data_sha256")}
    save_model(path, network, {**kept, **extra, "lineage": lineage(metadata)})


def quantize_per_channel(weight: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Symmetric int8 weights and one float32 scale per output channel (dim 0).

    Per channel rather than per tensor because the output channels of one convolution differ
    in range by orders of magnitude (instance norm follows most of them, so each channel's
    relative error is what matters)."""
    flat = weight.reshape(weight.shape[0], -1)
    scale = flat.abs().amax(dim=1).clamp_min(torch.finfo(torch.float32).tiny) / INT8_LEVELS
    values = torch.round(flat / scale[:, None]).clamp(-INT8_LEVELS, INT8_LEVELS)
    return values.to(torch.int8).reshape(weight.shape).contiguous(), scale.contiguous()


def _dequantize(tensors: dict[str, torch.Tensor], path: Path) -> dict[str, torch.Tensor]:
    """float32 tensors, with each int8 tensor multiplied back by its per-channel scale."""
    out: dict[str, torch.Tensor] = {}
    for name, tensor in tensors.items():
        if name.endswith(SCALE_SUFFIX):
            if tensors.get(name[: -len(SCALE_SUFFIX)], tensor).dtype != torch.int8:
                raise BrushworkError(f"{path}: {quoted(name)} scales no int8 tensor")
            continue
        if tensor.dtype == torch.int8:
            scale = tensors.get(name + SCALE_SUFFIX)
            if (scale is None or scale.dtype not in _WEIGHT_DTYPES or tensor.dim() < 1
                    or tuple(scale.shape) != (tensor.shape[0],)):
                raise BrushworkError(f"{path}: int8 tensor {quoted(name)} has no valid "
                                     "per-channel scale")
            shape = (-1,) + (1,) * (tensor.dim() - 1)
            out[name] = tensor.float() * scale.float().reshape(shape)
        else:
            out[name] = tensor.float()
    return out


def lineage(metadata: dict[str, Any]) -> str | None:
    """The checksum of the first model in a chain of fine-tunings (``--init-from``).

    Models with the same lineage started from the same weights, so their weights can be
    interpolated (``mixing``). A model trained from scratch is its own lineage; a compact
    copy keeps the lineage of the file it was made from (``save_model`` is given it)."""
    value = metadata.get("lineage") or metadata.get("data_sha256")
    return value if isinstance(value, str) else None


def _data_digest(blob: bytes) -> str:
    """SHA-256 of a safetensors file's data section (everything after its header)."""
    header_size = int.from_bytes(blob[:8], "little")
    return hashlib.sha256(memoryview(blob)[8 + header_size :]).hexdigest()


def read_model_file(path: str | Path) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Read and validate the container; returns (float32 tensors, metadata)."""
    path = Path(path)
    if not path.is_file():
        raise BrushworkError(f"model file not found: {path}")
    try:
        data = path.read_bytes()
    except OSError as error:
        raise BrushworkError(f"cannot read model file {path}: {error.strerror or error}") from error
    header_size = int.from_bytes(data[:8], "little") if len(data) >= 8 else 0
    plausible = 0 < header_size <= min(MAX_HEADER_BYTES, len(data) - 8) and data[8:9] == b"{"
    # A safetensors file starts with its header's length, whose first byte may well be 0x80
    # (as a pickle's does), so the pickle test comes only after the header test has failed.
    if not plausible and data.startswith(_PICKLE_SIGNATURES):
        raise BrushworkError(
            f"{path} is a pickle / torch.save file, not a safetensors model; Brushwork never "
            "unpickles files (they can run code)"
        )
    if len(data) < 8:
        raise BrushworkError(f"{path} is not a Brushwork model file (too short)")
    if not plausible:
        raise BrushworkError(f"{path} is not a Brushwork model file (bad header)")
    try:
        header = json.loads(data[8 : 8 + header_size])
        metadata = json.loads(header.get("__metadata__", {}).get("brushwork", "null"))
        tensors = load_safetensors_bytes(data)
    except RecursionError:  # json's own limit on nesting (~1,000 levels)
        raise BrushworkError(f"{path} is not a valid model file (its header is nested too "
                             "deeply)") from None
    except (SafetensorError, ValueError, UnicodeDecodeError, TypeError, AttributeError) as error:
        raise BrushworkError(f"{path} is not a valid model file ({error})") from error
    if not isinstance(metadata, dict):
        raise BrushworkError(f"{path} is a safetensors file without Brushwork metadata")
    if _depth(metadata) > MAX_METADATA_DEPTH:
        raise BrushworkError(f"{path}: its metadata is nested more than {MAX_METADATA_DEPTH} "
                             "levels deep; Brushwork's own is 3")
    version = metadata.get("format_version")
    if type(version) is not int or version < 1:
        raise BrushworkError(f"{path}: missing or invalid format_version in its metadata")
    if version > FORMAT_VERSION:
        raise BrushworkError(
            f"{path} uses model format {str(version)[:20]}; this Brushwork reads up to "
            f"{FORMAT_VERSION}: upgrade brushwork"
        )
    odd = sorted(n for n, t in tensors.items() if t.dtype not in (*_WEIGHT_DTYPES, torch.int8))
    if odd:
        raise BrushworkError(
            f"{path}: tensor {quoted(odd[0])} is {tensors[odd[0]].dtype}; model weights are "
            "float16, bfloat16, float32 or int8 with a per-channel scale"
        )
    expected = metadata.get("data_sha256")
    if expected is not None and expected != _data_digest(data):
        raise BrushworkError(
            f"{path} is damaged: its weights do not match the checksum written with them "
            "(a broken download or disk?); get the file again"
        )
    return _dequantize(tensors, path), metadata


def _depth(value: Any) -> int:
    """Nesting depth of parsed JSON (a scalar is 0), without recursion."""
    deepest, stack = 0, [(value, 0)]
    while stack:
        item, depth = stack.pop()
        deepest = max(deepest, depth)
        if deepest > MAX_METADATA_DEPTH:
            break
        children = item.values() if isinstance(item, dict) else item if isinstance(
            item, list) else ()
        stack.extend((child, depth + 1) for child in children)
    return deepest


def network_from_file(
    tensors: dict[str, torch.Tensor], metadata: dict[str, Any], source: str
) -> nn.Module:
    """The network a model file describes, with its weights: what every loader calls.

    The architecture is checked (bounds, size) and planned without storage, and the tensors'
    names and shapes are checked against the plan, before the network is built: a file
    whose header asks for a huge network is refused having cost nothing, and one that is
    built costs no more than its own weights.
    """
    architecture = metadata.get("architecture")
    if not isinstance(architecture, str):
        raise BrushworkError(f"{source}: the metadata names no architecture")
    config = metadata.get("network")
    check_names_and_shapes(plan_network(architecture, config, source), tensors, source)
    network = build_network(architecture, config, source)
    load_state_into(network, tensors, source)
    return network


def check_names_and_shapes(network: nn.Module, tensors: dict[str, torch.Tensor],
                           source: str) -> None:
    """The tensors are exactly ``network``'s (a plan on the meta device will do)."""
    expected = network.state_dict()
    missing = sorted(set(expected) - set(tensors))
    extra = sorted(set(tensors) - set(expected))
    if missing or extra:
        raise BrushworkError(
            f"{source}: weights do not match the architecture "
            f"({len(missing)} missing, e.g. {_names(missing)}; "
            f"{len(extra)} unexpected, e.g. {_names(extra)})"
        )
    for name, tensor in tensors.items():
        if tuple(tensor.shape) != tuple(expected[name].shape):
            raise BrushworkError(
                f"{source}: tensor {name} has shape {tuple(tensor.shape)}, "
                f"expected {tuple(expected[name].shape)}"
            )


def _names(names: list[str]) -> str:
    """The first two tensor names for a message, each cut short (a file names its own)."""
    return "[" + ", ".join(quoted(n) for n in names[:2]) + "]"


def load_state_into(network: nn.Module, tensors: dict[str, torch.Tensor], source: str) -> None:
    """Copy ``tensors`` into ``network`` after checking names, shapes and finiteness."""
    check_names_and_shapes(network, tensors, source)
    for name, tensor in tensors.items():
        if not torch.isfinite(tensor).all():
            raise BrushworkError(f"{source}: tensor {name} holds NaN or infinite values")
    network.load_state_dict(tensors)


def export_model(run_dir: str | Path, output: str | Path) -> Path:
    """Write a model file from the latest checkpoint of a run (also mid-run)."""
    run_dir = Path(run_dir)
    tensors, state, _ = load_checkpoint(run_dir)
    arch = state.get("arch", "mtnet")
    net = build_network(arch, state["network"])
    net.load_state_dict(network_state(tensors))
    # A run that keeps a weight average (TrainConfig.average_decay) writes the average.
    net.load_state_dict(average_state(tensors), strict=False)
    metadata = {
        "architecture": arch,
        "network": state["network"],
        "loss": state["loss"],
        "train": state["train"],
        "styles": state["style_images"],
        "record": {
            "iterations": state["iteration"],
            "wall_seconds": round(state.get("wall_seconds", 0.0), 1),
            "device": state.get("device", "cpu"),
            # The machine of the run's last stretch (older checkpoints do not say).
            "processor": state.get("processor", ""),
            "bf16": state.get("bf16", False),
            "data": Path(state.get("data", "")).name,
            "init_from": state.get("init_from"),
            "recipe": state.get("recipe"),
            # Data-parallel processes (torchrun): each iteration averaged this many photos.
            "processes": state.get("world_size", 1),
        },
        "brushwork_version": __version__,
    }
    if (state.get("init_from") or {}).get("lineage"):
        metadata["lineage"] = state["init_from"]["lineage"]
    save_model(output, net, metadata)
    return Path(output)
