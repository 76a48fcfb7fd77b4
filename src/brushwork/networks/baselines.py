"""The paper's baseline generators (section 4): singular transfer networks.

A singular transfer network is trained with one stylisation loss on one output (paper 4).
Each class here still returns a list, ``[y]``, and has the ``training_sizes`` of MT-Net with
a single level at the full size (``forward``'s default: the input's own size), so the code that
drives MT-Net drives these:

* ``JohnsonNet``: Johnson et al. 2016's transformer network, the paper's "Johnson Net"
  (Fig. 5, Table 1);
* ``TextureNet``: Ulyanov et al.'s multi-scale generator (Fig. 5);
* ``SingularNet``: MT-Net's style subnet alone (Fig. 5), or deepened to MT-Net's parameter
  count (Fig. 6);
* ``DeepSingularNet``: the "DS Net" of Table 1, MT-Net's three subnets chained at full size.

As in MT-Net, inputs are RGB in [0, 1], every convolution is reflection-padded, and outputs
are not squashed (no tanh): callers clamp when they make a picture.
"""

from __future__ import annotations

import itertools

import torch
import torch.nn.functional as F
from torch import nn

from ..hyper_parameters import (
    PAINTER_START_VALUE,
    JohnsonConfig,
    NetworkConfig,
    SingularConfig,
    TextureNetConfig,
)
from .blocks import Conv, ResizeConv, downsampling_branch, start_output_layer
from .multimodal import MTNet, MultimodalSubnet, resize

Size = tuple[int, int]


class SingleLevelNet(nn.Module):
    """A network with one output at the full size; subclasses define ``generate``.

    ``size_multiple`` is what every side must be a multiple of, so that each stride-2 layer
    halves exactly and the upsampling path doubles back to the input size.
    """

    size_multiple: int = 1

    @staticmethod
    def training_sizes(crop: int) -> list[Size]:
        """One level: the network runs at the crop size."""
        return [(crop, crop)]

    def stages(self) -> tuple[nn.Module, ...] | None:
        """The modules ``generate`` applies one after the other, or None where it does more
        than a chain (a subclass then overrides ``generate``)."""
        return None

    def generate(self, x: torch.Tensor) -> torch.Tensor:
        stages = self.stages()
        if stages is None:
            raise NotImplementedError
        for stage in stages:
            x = stage(x)
        return x

    def forward(self, x: torch.Tensor, sizes: list[Size] | None = None) -> list[torch.Tensor]:
        """Resize ``x`` to ``sizes[0]`` (default: its own size) and return ``[output]``."""
        if sizes is None:
            sizes = [(x.shape[-2], x.shape[-1])]
        if len(sizes) != 1:
            raise ValueError(f"{type(self).__name__} has one level, not {len(sizes)}")
        height, width = sizes[0]
        if height % self.size_multiple or width % self.size_multiple:
            raise ValueError(
                f"{type(self).__name__} needs sides that are multiples of "
                f"{self.size_multiple}, not {height}x{width}"
            )
        return [self.generate(resize(x, (height, width)))]


class JohnsonNet(SingleLevelNet):
    """Johnson et al. 2016's transformer network with instance norm (Ulyanov et al. 2016).

    Upsampling is by resize-convolutions (nearest x2 then a 3x3 conv) instead of Johnson et
    al.'s stride-1/2 transposed convolutions, which leave checkerboard artefacts (Odena et
    al. 2016); pytorch/examples' fast_neural_style does the same, and so does MT-Net (paper
    3.3.1), so the comparison is between architectures rather than upsampling layers.
    Johnson et al. pad the input by 40 px once and use unpadded convolutions; like
    pytorch/examples we reflection-pad every convolution instead, which keeps the output at
    the input size. The output has no tanh, as in MT-Net.
    """

    def __init__(self, config: JohnsonConfig | None = None) -> None:
        super().__init__()
        self.config = config or JohnsonConfig()
        widths = self.config.widths
        self.size_multiple = 2 ** (len(widths) - 1)
        self.encoder = downsampling_branch(3, widths, self.config.residual_blocks)
        self.decoder = nn.Sequential(
            *(ResizeConv(wide, narrow) for wide, narrow in itertools.pairwise(widths[::-1])),
            Conv(widths[0], 3, 9, norm=False, relu=False),
        )
        start_output_layer(self.decoder[-1], PAINTER_START_VALUE)  # as MT-Net's subnets

    def stages(self) -> tuple[nn.Module, ...]:
        return (self.encoder, self.decoder)


def _texture_block(in_channels: int, out_channels: int) -> nn.Sequential:
    """Ulyanov et al.'s convolution block: 3x3, 3x3 and 1x1 convs, each with norm and ReLU."""
    return nn.Sequential(
        Conv(in_channels, out_channels, 3),
        Conv(out_channels, out_channels, 3),
        Conv(out_channels, out_channels, 1),
    )


class _Join(nn.Module):
    """Ulyanov et al.'s join: upsample the coarser path x2, normalise both, concatenate, and
    run a convolution block as wide as the concatenation."""

    def __init__(self, coarse_channels: int, fine_channels: int) -> None:
        super().__init__()
        channels = coarse_channels + fine_channels
        self.upsample = nn.Upsample(scale_factor=2, mode="nearest")
        self.coarse_norm = nn.InstanceNorm2d(coarse_channels, affine=True)
        self.fine_norm = nn.InstanceNorm2d(fine_channels, affine=True)
        self.block = _texture_block(channels, channels)

    def forward(self, coarse: torch.Tensor, fine: torch.Tensor) -> torch.Tensor:
        joined = torch.cat(
            [self.coarse_norm(self.upsample(coarse)), self.fine_norm(fine)], dim=1
        )
        return self.block(joined)


class TextureNet(SingleLevelNet):
    """Ulyanov et al.'s multi-scale generator ("Texture Networks", ICML 2016) for stylisation.

    The image is average-pooled to K scales (full, 1/2, ..., 1/2**(K-1); average pooling as in
    their released code). Each scale goes through its own convolution block; from the
    coarsest up, the running path is upsampled x2 and joined to the next finer scale's
    block, and a 1x1 convolution maps the full-resolution path to RGB. Sides must be
    multiples of 2**(K-1).

    Departures from the original: instance norm instead of batch norm (Ulyanov et al.,
    "Instance Normalization", 2016, and paper 4); reflection instead of circular padding,
    since a photo, unlike a texture, does not wrap around; and no noise inputs. Texture
    Networks concatenates a noise tensor to each scale for sample diversity; their released
    code (texture_nets, pyramid.lua) adds it only in texture-synthesis mode, never for
    stylisation, so the deterministic generator here is the one they trained for style.
    """

    def __init__(self, config: TextureNetConfig | None = None) -> None:
        super().__init__()
        self.config = config or TextureNetConfig()
        scales, width = self.config.scales, self.config.width
        if scales < 1:
            raise ValueError("a texture network needs at least one scale")
        self.size_multiple = 2 ** (scales - 1)
        self.branches = nn.ModuleList(_texture_block(3, width) for _ in range(scales))
        self.joins = nn.ModuleList(_Join(k * width, width) for k in range(1, scales))
        self.output = Conv(scales * width, 3, 1, norm=False, relu=False)
        start_output_layer(self.output, PAINTER_START_VALUE)  # as MT-Net's subnets

    def generate(self, x: torch.Tensor) -> torch.Tensor:
        factors = [2**k for k in reversed(range(self.config.scales))]
        pyramid = [F.avg_pool2d(x, f) if f > 1 else x for f in factors]
        features = self.branches[0](pyramid[0])
        for branch, join, image in zip(self.branches[1:], self.joins, pyramid[1:]):
            features = join(features, branch(image))
        return self.output(features)


class SingularNet(SingleLevelNet):
    """MT-Net's style subnet alone as a singular transfer network (paper 4, Figs. 5 and 6).

    The subnet is kept under the name ``style``, as in MT-Net, so a trained MT-Net's style
    subnet weights load into a default ``SingularNet`` unchanged. For Fig. 6's network with
    MT-Net's parameter count use ``SingularConfig.matching_mtnet()`` (registered under the
    same name, "singular": only the configuration differs).
    """

    def __init__(self, config: SingularConfig | None = None) -> None:
        super().__init__()
        self.config = config or SingularConfig()
        c = self.config
        self.size_multiple = 2 ** (len(c.style_rgb) - 1)
        self.style = MultimodalSubnet(c.style_rgb, c.style_l, c.residual_blocks)

    def stages(self) -> tuple[nn.Module, ...]:
        return (self.style,)


class DeepSingularNet(SingleLevelNet):
    """The paper's "DS Net" (Table 1): MT-Net's structure, one loss, all at full size.

    Paper 4: a deep singular transfer network "which had the same structure as the MT Net",
    compared at equal parameter count. The style, enhance and refine subnets are MT-Net's
    own (built by ``MTNet`` from the same ``NetworkConfig``, hence the same parameters and
    state-dict names), chained without the bilinear resizes: each runs at the full input
    size, and only the final output is returned, as it is the only one with a loss.
    """

    def __init__(self, config: NetworkConfig | None = None) -> None:
        super().__init__()
        hierarchy = MTNet(config)
        self.config = hierarchy.config
        self.style, self.enhance, self.refine = hierarchy.subnets
        self.size_multiple = 2 ** (
            max(len(self.config.style_rgb), len(self.config.enhance_rgb),
                len(self.config.refine)) - 1
        )

    @property
    def subnets(self) -> tuple[nn.Module, ...]:
        return (self.style, self.enhance, self.refine)

    def stages(self) -> tuple[nn.Module, ...]:
        return self.subnets
