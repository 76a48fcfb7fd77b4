"""Generator networks. ``build_network`` rebuilds one from the name and config in a model file.

A model file's configuration is untrusted: a header of a few hundred bytes could ask for a
network of any size, and the cost grows with the square of the width (one such file took a
gigabyte: docs/reliability.md, "Defects found and fixed"). So every architecture field is
checked against the bounds below, then the network is planned on PyTorch's "meta" device (shapes
without storage), counted, and refused if it is over ``MAX_PARAMETERS``: all of that before any
tensor is allocated.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import torch
from torch import nn

from ..errors import BrushworkError, quoted
from ..hyper_parameters import JohnsonConfig, NetworkConfig, SingularConfig, TextureNetConfig
from .baselines import DeepSingularNet, JohnsonNet, SingularNet, TextureNet
from .multimodal import MTNet

#: Architecture name -> (class, config class). Model files name one of these. The paper's
#: baselines (section 4) are here too; Fig. 6's singular network with MT-Net's parameter
#: count is "singular" with ``SingularConfig.matching_mtnet()``, not a name of its own.
#: Typed ``type[Any]``: callers use what every entry has and no shared base declares
#: (the networks' static ``training_sizes``, the configs' ``from_dict``).
ARCHITECTURES: dict[str, tuple[type[Any], type[Any]]] = {
    "mtnet": (MTNet, NetworkConfig),
    "johnson": (JohnsonNet, JohnsonConfig),
    "texture-net": (TextureNet, TextureNetConfig),
    "singular": (SingularNet, SingularConfig),
    "ds-net": (DeepSingularNet, NetworkConfig),
}

#: Widest layer a network may have (ours): 4x the widest layer any recipe trains (128, the
#: style and enhance subnets and Johnson et al.'s net); ``brushwork train --refine-widths``
#: takes what a user types, so it is bounded here too.
MAX_WIDTH = 512
#: Most widths in one branch (ours): the enhance subnet has 4 (paper 3.3.2); each further one
#: halves the resolution again, and 6 already works at 1/32 of the input.
MAX_WIDTHS = 6
#: Most residual blocks per block (ours): 2x the 7 of Fig. 6's deepened singular network
#: (``SingularConfig.matching_mtnet``), the deepest recipe; MT-Net has 3, Johnson et al. 5.
MAX_RESIDUAL_BLOCKS = 16
#: Most scales of the texture network (ours): Ulyanov et al.'s released code uses 6.
MAX_SCALES = 8
#: Bounds (lowest, highest) of each integer field of a network configuration; a field not
#: named here gets ``(0, MAX_WIDTH)``, and every tuple field is a list of layer widths.
FIELD_BOUNDS: dict[str, tuple[int, int]] = {
    "residual_blocks": (0, MAX_RESIDUAL_BLOCKS),
    "scales": (1, MAX_SCALES),
    "width": (1, MAX_WIDTH),
}
#: Largest network rebuilt from a configuration (ours): 5x the largest any recipe trains
#: (7.5M parameters, Fig. 6's singular network; MT-Net has 7.4M), i.e. 160 MB of float32
#: weights. Fields within their bounds can still multiply up to ~1e9 parameters together.
MAX_PARAMETERS = 40_000_000


def _check_widths(name: str, value: object, source: str) -> None:
    """A tuple field: a list of 1..MAX_WIDTHS layer widths, each 1..MAX_WIDTH."""
    if not isinstance(value, (list, tuple)):
        raise BrushworkError(f"{source}: {name} must be a list of layer widths, not "
                             f"{quoted(value)}")
    if not 1 <= len(value) <= MAX_WIDTHS:
        raise BrushworkError(f"{source}: {name} has {len(value)} widths; Brushwork builds 1 "
                             f"to {MAX_WIDTHS}")
    for width in value:
        _check_integer(name, width, (1, MAX_WIDTH), source)


def _check_integer(name: str, value: object, bounds: tuple[int, int], source: str) -> None:
    """An integer field (a bool is not one) within ``bounds``, inclusive."""
    low, high = bounds
    if type(value) is not int:
        raise BrushworkError(f"{source}: {name} must be a whole number, not {quoted(value)}")
    if not low <= value <= high:
        digits = str(value)
        shown = digits if len(digits) <= 20 else f"{digits[:12]}… ({len(digits)} digits)"
        raise BrushworkError(f"{source}: {name} {shown} is outside the range Brushwork "
                             f"builds ({low} to {high})")


def check_network_config(arch: str, config: Any, source: str = "model") -> dict[str, Any]:
    """Check an untrusted configuration against the bounds above; returns it as a dict.

    Only the config class's own fields are checked (``from_dict`` ignores other keys);
    this is pure Python on the parsed JSON, so it costs nothing whatever the file asks for.
    """
    if arch not in ARCHITECTURES:
        known = ", ".join(ARCHITECTURES)
        raise BrushworkError(f"{source}: unknown architecture {quoted(arch)}; known: {known}")
    if config is None:
        return {}
    if not isinstance(config, dict):
        raise BrushworkError(f"{source}: the network configuration is not a JSON object")
    for field in dataclasses.fields(ARCHITECTURES[arch][1]):
        if field.name not in config:
            continue
        value = config[field.name]
        if isinstance(field.default, tuple):
            _check_widths(field.name, value, source)
        elif isinstance(field.default, int) and not isinstance(field.default, bool):
            _check_integer(field.name, value, FIELD_BOUNDS.get(field.name, (0, MAX_WIDTH)),
                           source)
    return config


def _construct(arch: str, config: dict[str, Any], source: str) -> nn.Module:
    network_class, config_class = ARCHITECTURES[arch]
    try:
        return network_class(config_class.from_dict(config))
    except (AttributeError, LookupError, RuntimeError, TypeError, ValueError) as error:
        raise BrushworkError(f"{source}: invalid {arch} configuration: {error}") from error


def plan_network(
    arch: str, config: dict[str, Any] | None = None, source: str = "model"
) -> nn.Module:
    """The network a configuration asks for, on the "meta" device: every parameter's shape,
    no storage. Refuses out-of-bounds fields and networks over ``MAX_PARAMETERS``.

    Model files are checked against this plan (names and shapes of their tensors) before the
    real network is built, so a file costs no more memory than its own weights.
    """
    checked = check_network_config(arch, config, source)
    with torch.device("meta"):
        plan = _construct(arch, checked, source)
    parameters = sum(p.numel() for p in plan.parameters())
    if parameters > MAX_PARAMETERS:
        raise BrushworkError(
            f"{source}: this {arch} configuration has {parameters:,} parameters; Brushwork "
            f"builds networks of at most {MAX_PARAMETERS:,}"
        )
    return plan


def build_network(
    arch: str, config: dict[str, Any] | None = None, source: str = "model"
) -> nn.Module:
    """Rebuild a network from untrusted metadata: any malformed value is a ``BrushworkError``,
    and so is any field outside the bounds above (checked on a plan before allocating)."""
    plan_network(arch, config, source)
    return _construct(arch, check_network_config(arch, config, source), source)


__all__ = [
    "ARCHITECTURES", "MAX_PARAMETERS", "MAX_RESIDUAL_BLOCKS", "MAX_SCALES", "MAX_WIDTH",
    "MAX_WIDTHS", "DeepSingularNet", "JohnsonNet", "MTNet", "SingularNet", "TextureNet",
    "build_network", "check_network_config", "plan_network",
]
