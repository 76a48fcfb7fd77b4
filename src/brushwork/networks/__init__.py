"""Generator networks. ``build_network`` rebuilds one from the name and config in a model file."""

from __future__ import annotations

from typing import Any

from torch import nn

from ..errors import BrushworkError
from ..hyper_parameters import NetworkConfig
from .multimodal import MTNet

#: Architecture name -> (class, config class). Model files name one of these.
ARCHITECTURES: dict[str, tuple[type[nn.Module], type]] = {"mtnet": (MTNet, NetworkConfig)}


def build_network(arch: str, config: dict[str, Any] | None = None) -> nn.Module:
    if arch not in ARCHITECTURES:
        raise BrushworkError(f"unknown architecture {arch!r}; known: {', '.join(ARCHITECTURES)}")
    network_class, config_class = ARCHITECTURES[arch]
    try:
        return network_class(config_class.from_dict(config or {}))
    except (TypeError, ValueError) as error:
        raise BrushworkError(f"invalid {arch} configuration: {error}") from error


__all__ = ["ARCHITECTURES", "MTNet", "build_network"]
