"""Building blocks shared by every generator network (paper 3.3.1).

All convolutions use reflection padding: zero padding makes the network see a dark frame
around every image and paints visible borders (GUIDE 5). Every non-residual convolution is
followed by instance normalisation (Ulyanov et al. 2016) and ReLU, except the output layer.
"""

from __future__ import annotations

import itertools

import torch
from torch import nn


class Conv(nn.Sequential):
    """Reflection-padded convolution, optionally followed by instance norm and ReLU."""

    def __init__(
        self, in_channels: int, out_channels: int, kernel_size: int, stride: int = 1,
        *, norm: bool = True, relu: bool = True,
    ) -> None:
        layers: list[nn.Module] = [
            nn.ReflectionPad2d(kernel_size // 2),
            nn.Conv2d(in_channels, out_channels, kernel_size, stride),
        ]
        if norm:
            layers.append(nn.InstanceNorm2d(out_channels, affine=True))
        if relu:
            layers.append(nn.ReLU(inplace=True))
        super().__init__(*layers)


class ResidualBlock(nn.Module):
    """conv-IN-ReLU-conv-IN plus the identity (He et al. 2016, as used by Johnson et al.)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.body = nn.Sequential(
            Conv(channels, channels, 3),
            Conv(channels, channels, 3, relu=False),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


class ResizeConv(nn.Sequential):
    """Nearest-neighbour x2 upsampling then a 3x3 convolution.

    Used instead of transposed convolutions, which leave checkerboard artefacts (paper 3.3.1,
    citing Odena et al. 2016, https://distill.pub/2016/deconv-checkerboard/).
    """

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__(
            nn.Upsample(scale_factor=2, mode="nearest"),
            Conv(in_channels, out_channels, 3),
        )


def downsampling_branch(
    in_channels: int, widths: tuple[int, ...], residual_blocks: int
) -> nn.Sequential:
    """9x9 stride-1 conv, then one 3x3 stride-2 conv per further width, then residual blocks.

    This is the paper's RGB-Block / L-Block shape (3.3.1); the enhance subnet passes one
    width more, which adds the extra downsampling layer of 3.3.2.
    """
    layers: list[nn.Module] = [Conv(in_channels, widths[0], 9)]
    for previous, width in itertools.pairwise(widths):
        layers.append(Conv(previous, width, 3, stride=2))
    layers.extend(ResidualBlock(widths[-1]) for _ in range(residual_blocks))
    return nn.Sequential(*layers)


def upsampling_head(
    in_channels: int, widths: tuple[int, ...], residual_blocks: int
) -> nn.Sequential:
    """Residual blocks, one resize-convolution per width step back up, and the RGB output conv.

    ``widths`` are the widths of the matching downsampling path (e.g. 32-64-128); the head
    climbs back through them in reverse, so the output has the input's spatial size.
    """
    layers: list[nn.Module] = [ResidualBlock(in_channels) for _ in range(residual_blocks)]
    channels = in_channels
    for width in reversed(widths[:-1]):
        layers.append(ResizeConv(channels, width))
        channels = width
    layers.append(Conv(channels, 3, 3, norm=False, relu=False))
    return nn.Sequential(*layers)
