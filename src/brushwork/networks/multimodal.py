"""The multimodal transfer network, MT-Net (paper 3.1 and 3.3, Fig. 2).

Three subnets, each behind a fixed bilinear resize:

* style subnet at 1/4 of the output size: an RGB-Block on the colour image and an L-Block on
  its luminance, concatenated and decoded by the Conv-Block (paper 3.3.1);
* enhance subnet at 1/2: the same shape with one more stride-2 conv and one more
  resize-conv, for a larger receptive field (3.3.2);
* refine subnet at full size: a shallow encoder-decoder with an identity connection, so it
  learns only a correction of its input (3.3.2).

During training the refine subnet runs at the enhance subnet's size (512) to save memory; at
test time its input is the enhance output upsampled to the full size (paper 3.3: "the
upsampling layer between enhance subnet and refine subnet is only inserted at test time").

Images are RGB in [0, 1], shape (N, 3, H, W). Outputs are not clamped inside the network, so
gradients reach every subnet; callers clamp when they turn a tensor into a picture.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..hyper_parameters import (
    LUMA_WEIGHTS,
    PAINTER_START_VALUE,
    RESIDUAL_START_VALUE,
    NetworkConfig,
)
from ..levels import plan_levels
from .blocks import (
    Composite,
    Run,
    add_input,
    downsampling_branch,
    memory_layout,
    start_output_layer,
    upsampling_head,
)

Size = tuple[int, int]


def luminance(rgb: torch.Tensor) -> torch.Tensor:
    """BT.601 luma of RGB in [0, 1], shape (N, 1, H, W).

    Computed on the raw [0, 1] image, before any normalisation: two public re-implementations
    computed it on ImageNet-normalised tensors, which mixes the per-channel offsets in.
    """
    weights = rgb.new_tensor(LUMA_WEIGHTS).view(1, 3, 1, 1)
    return (rgb * weights).sum(dim=1, keepdim=True)


def resize(image: torch.Tensor, size: Size) -> torch.Tensor:
    """The fixed bilinear resampling layer between subnets (paper 3.3)."""
    if tuple(image.shape[-2:]) == tuple(size):
        return image
    shrinking = size[0] < image.shape[-2] or size[1] < image.shape[-1]
    # Antialiased resampling has no bf16 kernel on the CPU: resample in float32, cast back.
    resized = F.interpolate(
        image.float(), size=size, mode="bilinear", align_corners=False, antialias=shrinking
    )
    return resized.to(image.dtype)


def like_parameters(x: torch.Tensor, module: nn.Module) -> torch.Tensor:
    """``x`` in the dtype and memory layout (channels-last or not) of ``module``'s weights:
    at inference a subnet's branches may compute in float32 and its Conv-Block in bfloat16,
    and the layout is chosen per machine (``api.prepare_for_inference``). Unchanged when they
    already agree."""
    weight = next(module.parameters(), None)
    if weight is None:
        return x
    layout = memory_layout(weight)
    if weight.dtype == x.dtype and x.is_contiguous(memory_format=layout):
        return x
    return x.to(weight.dtype, memory_format=layout)


class MultimodalSubnet(Composite):
    """RGB-Block + L-Block joined by a Conv-Block: the style and enhance subnets."""

    def __init__(self, rgb_widths: tuple[int, ...], l_widths: tuple[int, ...], blocks: int):
        super().__init__()
        if len(rgb_widths) != len(l_widths):
            raise ValueError("the RGB and L branches need the same number of layers")
        self.rgb_block = downsampling_branch(3, rgb_widths, blocks)
        self.l_block = downsampling_branch(1, l_widths, blocks)
        joined = rgb_widths[-1] + l_widths[-1]
        self.conv_block = upsampling_head(joined, rgb_widths, blocks)
        start_output_layer(self.conv_block[-1], PAINTER_START_VALUE)
        #: Sides must be multiples of this for the stride-2 convs to halve exactly.
        self.size_multiple = 2 ** (len(rgb_widths) - 1)

    def compose(self, x: torch.Tensor, run: Run) -> torch.Tensor:
        rgb = run(self.rgb_block, x, 0)
        lum = luminance(x)
        l_features = run(self.l_block, lum, x.nbytes + rgb.nbytes)
        del lum
        features = like_parameters(torch.cat([rgb, l_features], dim=1), self.conv_block)
        del rgb, l_features  # the branches' outputs are copied into features
        return run(self.conv_block, features, x.nbytes)


class RefineSubnet(Composite):
    """Shallow encoder-decoder with an identity connection from its input to its output."""

    def __init__(self, widths: tuple[int, ...], blocks: int):
        super().__init__()
        self.encoder = downsampling_branch(3, widths, 0)
        self.decoder = upsampling_head(widths[-1], widths, blocks)
        start_output_layer(self.decoder[-1], RESIDUAL_START_VALUE)
        self.size_multiple = 2 ** (len(widths) - 1)

    def compose(self, x: torch.Tensor, run: Run) -> torch.Tensor:
        encoded = run(self.encoder, x, 0)
        decoded = run(self.decoder, encoded, x.nbytes)
        del encoded
        return add_input(decoded, x)  # x + decoder(encoder(x))


class MTNet(nn.Module):
    """The hierarchical network. ``forward`` returns every level's output, y1, y2, y3."""

    def __init__(self, config: NetworkConfig | None = None) -> None:
        super().__init__()
        self.config = config or NetworkConfig()
        c = self.config
        self.style = MultimodalSubnet(c.style_rgb, c.style_l, c.residual_blocks)
        self.enhance = MultimodalSubnet(c.enhance_rgb, c.enhance_l, c.residual_blocks)
        self.refine = RefineSubnet(c.refine, c.residual_blocks)

    #: The subnets' names, coarse to fine (``TrainConfig.frozen_subnets`` names them).
    SUBNET_NAMES = ("style", "enhance", "refine")

    @property
    def subnets(self) -> tuple[MultimodalSubnet | RefineSubnet, ...]:
        return tuple(getattr(self, name) for name in self.SUBNET_NAMES)

    def level_subnets(self, levels: int) -> list[MultimodalSubnet | RefineSubnet]:
        """The subnet of each level at test time: style, enhance, then refine once per level
        beyond the third (the paper: "the same concept can be extended recursively")."""
        if levels < 3:
            raise ValueError("MT-Net has at least three levels")
        return [self.style, self.enhance] + [self.refine] * (levels - 2)

    @staticmethod
    def training_sizes(crop: int) -> list[Size]:
        """Level sizes during training: style at crop/2, enhance and refine at crop (3.3)."""
        return [(crop // 2, crop // 2), (crop, crop), (crop, crop)]

    def forward(self, x: torch.Tensor, sizes: list[Size] | None = None) -> list[torch.Tensor]:
        """Run the three subnets; ``sizes`` gives each level's spatial size.

        Default: the test-time schedule at the input's own size (``levels.plan_levels``),
        whose sides must then halve exactly in every subnet. Painting any size, with padding,
        tiling and the refine passes beyond ``4 * COARSE_SIZE``, is ``hierarchy.stylize_tensor``.
        """
        if sizes is None:
            sizes = self._own_size_levels(*x.shape[-2:])
        outputs = []
        current = x
        for subnet, size in zip(self.subnets, sizes):
            current = subnet(resize(current, size))
            outputs.append(current)
        return outputs

    def _own_size_levels(self, height: int, width: int) -> list[Size]:
        sizes = plan_levels(height, width, max(height, width))
        if len(sizes) != len(self.subnets):
            raise ValueError(f"{height}x{width} has {len(sizes)} levels; forward runs "
                             f"{len(self.subnets)}: paint it with hierarchy.stylize_tensor")
        for subnet, (h, w) in zip(self.subnets, sizes):
            if h % subnet.size_multiple or w % subnet.size_multiple:
                raise ValueError(
                    f"level sizes {sizes} of a {height}x{width} input are not multiples of "
                    "what the subnets halve by; pad the input, or use hierarchy.stylize_tensor")
        return sizes


def parameter_count(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


