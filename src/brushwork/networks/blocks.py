"""Building blocks shared by every generator network (paper 3.3.1).

All convolutions use reflection padding: zero padding makes the network see a dark frame
around every image and paints visible borders. Every non-residual convolution is
followed by instance normalisation (Ulyanov et al. 2016) and ReLU, except the output layer.

Modules whose forward is more than a chain of layers (the residual block, MT-Net's subnets)
are ``Composite``: their forward is written once, in ``compose``, with every child run
through a function it is given. The plain forward gives ``call``; the tiler
(``brushwork.tiling``) gives its own, which runs each child within a memory budget.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable

import torch
from torch import nn

from ..hyper_parameters import OUTPUT_INIT_GAIN

#: How a ``Composite`` runs a child: ``run(child, x, held)`` -> ``child(x)``. ``held``: bytes
#: of the other tensors the composite keeps alive meanwhile (its own input, unless ``x`` is
#: that), which a runner under a memory budget must leave room for; ``call`` ignores it.
Run = Callable[[nn.Module, torch.Tensor, int], torch.Tensor]


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


def memory_layout(t: torch.Tensor) -> torch.memory_format:
    """``torch.channels_last`` for a 4-d tensor stored channels-last (and not also plain
    contiguous, as one with a single channel is), else ``torch.contiguous_format``."""
    channels_last = t.dim() == 4 and not t.is_contiguous() and t.is_contiguous(
        memory_format=torch.channels_last)
    return torch.channels_last if channels_last else torch.contiguous_format


def call(child: nn.Module, x: torch.Tensor, held: int = 0) -> torch.Tensor:
    """The plain ``Run``: ``child(x)``, whatever the memory."""
    return child(x)


class Composite(nn.Module):
    """A module whose forward is ``compose(x, call)``.

    Subclasses define ``compose`` (not ``forward``), running each child through ``run`` and
    dropping what they no longer need before the next child runs (``del``), so a runner can
    keep big images within a budget. The tiler calls ``compose`` with its own ``run``, so the
    plain and the tiled forward are one piece of code: a change of composition (in this
    package or in a subclass) needs no change there. A subclass that overrides ``forward``
    is run by the tiler as an opaque module instead (exact too, only slower). ``fuse``
    (networks/fused.py) rebuilds a composite with its children made for inference; the
    composition stays this one.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.compose(x, call)

    def compose(self, x: torch.Tensor, run: Run) -> torch.Tensor:
        raise NotImplementedError


def add_input(output: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """``output + x``, the identity connection: in place into ``output`` where that is safe.

    In place saves a whole-image tensor at inference (a 4096 px float32 RGB image is 200 MB,
    a residual block's activation many times that). It is safe when no autograd graph can
    need ``output`` as it was (training keeps the out-of-place add) and ``output`` is not
    ``x``'s memory (a child that returns its input, or a view of it).
    """
    in_place = (
        not (torch.is_grad_enabled() and (output.requires_grad or x.requires_grad))
        and output.shape == x.shape and output.dtype == x.dtype
        and output.untyped_storage().data_ptr() != x.untyped_storage().data_ptr()
    )
    return output.add_(x) if in_place else output + x


class ResidualBlock(Composite):
    """conv-IN-ReLU-conv-IN plus the identity (He et al. 2016, as used by Johnson et al.)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.body = nn.Sequential(
            Conv(channels, channels, 3),
            Conv(channels, channels, 3, relu=False),
        )

    def compose(self, x: torch.Tensor, run: Run) -> torch.Tensor:
        return add_input(run(self.body, x, 0), x)  # x + body(x)


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


def start_output_layer(layer: nn.Module, bias: float) -> None:
    """Make an output layer start from an almost constant picture (``bias`` everywhere).

    With PyTorch's default initialisation the RGB output conv paints high-contrast noise at
    iteration 1; VGG scores that as enormously far from every target, the first gradients
    are orders of magnitude larger than the later ones, and Adam's second moment
    (beta2 = 0.999) remembers them for thousands of iterations, so every later step is a
    small fraction of the learning rate (measured in docs/training-stall.md). Shrinking the
    weights by ``OUTPUT_INIT_GAIN`` and starting from a constant removes the spike; the
    layer still receives full gradients, so it learns at once.
    """
    convs = [m for m in layer.modules() if isinstance(m, nn.Conv2d)]
    if not convs:
        raise ValueError("the output layer has no convolution")
    conv = convs[-1]
    with torch.no_grad():
        conv.weight.mul_(OUTPUT_INIT_GAIN)
        if conv.bias is not None:
            conv.bias.fill_(bias)
