"""Generator networks. ``build_network`` rebuilds one from the name and config in a model file."""

from __future__ import annotations

from typing import Any

from torch import nn

from ..errors import BrushworkError
from ..hyper_parameters import JohnsonConfig, NetworkConfig, SingularConfig, TextureNetConfig
from .baselines import DeepSingularNet, JohnsonNet, SingularNet, TextureNet
from .multimodal import MTNet

#: Architecture name -> (class, config class). Model files name one of these. The paper's
#: baselines (section 4) are here too; Fig. 6's singular network with MT-Net's parameter
#: count is "singular" with ``SingularConfig.matching_mtnet()``, not a name of its own.
ARCHITECTURES: dict[str, tuple[type[nn.Module], type]] = {
    "mtnet": (MTNet, NetworkConfig),
    "johnson": (JohnsonNet, JohnsonConfig),
    "texture-net": (TextureNet, TextureNetConfig),
    "singular": (SingularNet, SingularConfig),
    "ds-net": (DeepSingularNet, NetworkConfig),
}


def build_network(
    arch: str, config: dict[str, Any] | None = None, source: str = "model"
) -> nn.Module:
    """Rebuild a network from untrusted metadata: any malformed value is a ``BrushworkError``."""
    if arch not in ARCHITECTURES:
        raise BrushworkError(
            f"{source}: unknown architecture {arch!r}; known: {', '.join(ARCHITECTURES)}"
        )
    if config is not None and not isinstance(config, dict):
        raise BrushworkError(f"{source}: the network configuration is not a JSON object")
    network_class, config_class = ARCHITECTURES[arch]
    try:
        return network_class(config_class.from_dict(config or {}))
    except (AttributeError, LookupError, RuntimeError, TypeError, ValueError) as error:
        raise BrushworkError(f"{source}: invalid {arch} configuration: {error}") from error


__all__ = [
    "ARCHITECTURES", "DeepSingularNet", "JohnsonNet", "MTNet", "SingularNet", "TextureNet",
    "build_network",
]
