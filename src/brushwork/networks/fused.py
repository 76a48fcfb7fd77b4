"""Networks built for inference: ``fuse(network)`` computes the same function, cheaper.

The modules of networks/blocks.py are the definition: training, the ONNX export and model
files use them. ``fuse`` rebuilds a network once, when a model is loaded for painting (as
timm's ``reparameterize_model``), with each layer replaced by one made for inference. The
rebuilt network shares the definition's parameters (no copy), keeps its composition
(residual blocks and subnets run their own ``compose``), and the tests check
``fuse(net)(x) == net(x)`` for every architecture. At 1024 px in bfloat16 on a 2-core
AVX-512 BF16 CPU the enhance and refine subnets took 0.52 and 1.06 s as modules, 0.32 and
0.36 s fused (docs/performance.md).

* **``InPlaceInstanceNorm2d``: instance norm as batch norm of one image, in place.** For a
  batch of one, instance norm's statistics (per channel, over H and W) are batch norm's
  training-mode statistics (per channel, over N, H and W). PyTorch's instance norm reshapes
  the image to (1, N*C, H, W), which copies a channels-last tensor to the contiguous layout
  and back, and the next convolution (channels-last weights) copies it again: 16% of the
  time at 1024 px in bfloat16. Batch norm has a channels-last kernel, and its output may
  overwrite its input (the statistics are taken first, the rest is elementwise).
* **``UpsamplingConv2d``: resize-convolution as one stride-2 transposed convolution of the
  small image.** A 3x3 convolution of the nearest-neighbour x2 upsampled image gives each
  output pixel a 2x2 window of the small image, with taps that are sums of the 3x3 taps
  (``UPSAMPLED_TAPS``): the sub-pixel form of Shi et al. 2016 (ESPCN), computed by oneDNN's
  transposed convolution, which writes the interleaved output directly. 16 instead of 36
  multiply-adds per output pixel and input channel, and no upsampled copy of the input. The
  transposed kernel is computed once, by ``fuse``.
* **``ReflectConv2d``: reflection padding without the padded copy** at the full-size layers
  (``reflect_conv``, from ``hyper_parameters.STRIPS_FROM`` pixels): the convolution pads
  with zeros on the fly, and the thin bands of outputs whose window reaches the border are
  computed again from reflection-padded strips.

The last two are rewrites whose worth depends on the machine: on a 2-core AVX2 EPYC in float32
a 9x9 convolution with zero padding on the fly ran 2x slower than on a padded copy, and the
strips made 2048 px take 65 s instead of 7.7 s. So each is used only where a short measurement
on this machine found it faster, per layer shape, precision and layout (``kernel_choice``,
cached per machine and PyTorch build); the plain form is the other candidate.

The fused layers are still one layer each (a convolution, a norm, a ReLU), subclasses of
PyTorch's, so the tiler (``brushwork.tiling``) reads their reach and cost as it reads the
modules', and runs the fused network in tiles.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import TypeGuard, cast

import torch
import torch.nn.functional as F
from torch import nn

from .. import hyper_parameters
from ..kernel_choice import choose, probe_image
from ..levels import Size
from .blocks import Conv, ResizeConv, memory_layout


def fuse(network: nn.Module) -> nn.Module:
    """``network`` rebuilt for inference: same function, same parameters (shared, not
    copied), faster layers (module docstring). Fuse after moving the network to its device,
    dtype and layout: the transposed kernels are computed from the weights as they are then.
    With autograd on, the fused layers compute as the modules do (no in-place norm)."""
    return rebuilt(network, _fused_layer)


def rebuilt(module: nn.Module, replace: Callable[[nn.Module], nn.Module | None]) -> nn.Module:
    """A copy of ``module``'s tree with ``replace(m)`` put wherever it returns a module.

    Only the containers on the way to a replaced module are copied (shallowly: their own
    parameter, buffer and hook tables are new, the tensors in them are shared); untouched
    subtrees are the originals. The tiler substitutes norm layers this way too."""
    replacement = replace(module)
    if replacement is not None:
        return replacement
    children = {name: rebuilt(child, replace) for name, child in module.named_children()}
    if all(children[name] is child for name, child in module.named_children()):
        return module
    clone = copy.copy(module)
    for name, value in vars(module).items():  # tables of its own, not the original's
        if isinstance(value, (dict, set)):
            setattr(clone, name, copy.copy(value))
    clone._modules.update(children)
    return clone


def _fused_layer(module: nn.Module) -> nn.Module | None:
    """The inference form of a block of networks/blocks.py, or None (look inside it)."""
    if type(module) is ResizeConv:
        upsample, block = module
        pad, conv, *rest = cast(Conv, block)  # as ResizeConv builds it
        if (isinstance(upsample, nn.Upsample) and upsample.mode == "nearest"
                and upsample.scale_factor in (2, 2.0) and _plain(conv)
                and conv.kernel_size == (3, 3) and conv.stride == (1, 1)
                and isinstance(pad, nn.ReflectionPad2d) and tuple(pad.padding) == (1,) * 4):
            return nn.Sequential(UpsamplingConv2d.sharing(conv), *map(_fused_norm, rest))
    if type(module) is Conv:
        pad, conv, *rest = module
        if (isinstance(pad, nn.ReflectionPad2d) and len(set(pad.padding)) == 1
                and _plain(conv) and conv.kernel_size[0] == conv.kernel_size[1]
                and conv.kernel_size[0] == 2 * pad.padding[0] + 1
                and conv.stride[0] == conv.stride[1]):
            return nn.Sequential(ReflectConv2d.sharing(conv, pad.padding[0]),
                                 *map(_fused_norm, rest))
    if type(module) is nn.InstanceNorm2d:
        return _fused_norm(module)
    return None


def _plain(conv: nn.Module) -> TypeGuard[nn.Conv2d]:
    return (type(conv) is nn.Conv2d and conv.padding == (0, 0) and conv.dilation == (1, 1)
            and conv.groups == 1)


def _fused_norm(layer: nn.Module) -> nn.Module:
    if type(layer) is nn.InstanceNorm2d and layer.affine and not layer.track_running_stats:
        return InPlaceInstanceNorm2d.sharing(layer)
    return layer


def _sharing_parameters(layer: nn.Module, source: nn.Module) -> None:
    for name, parameter in source.named_parameters(recurse=False):
        setattr(layer, name, parameter)


class ReflectConv2d(nn.Conv2d):
    """A reflection-padded convolution (PyTorch's ``padding_mode="reflect"``), computed by
    ``reflect_conv``: strips or a padded copy, whichever this machine runs faster."""

    padding: tuple[int, ...]  # always numbers here, never "same" or "valid"

    @classmethod
    def sharing(cls, conv: nn.Conv2d, pad: int) -> ReflectConv2d:
        """``ReflectionPad2d(pad)`` then ``conv``, as one layer with ``conv``'s parameters."""
        with torch.device("meta"):  # the parameters are conv's: allocate none
            kernel, stride = cast(Size, conv.kernel_size), cast(Size, conv.stride)
            layer = cls(conv.in_channels, conv.out_channels, kernel, stride, padding=pad,
                        bias=conv.bias is not None, padding_mode="reflect")
        _sharing_parameters(layer, conv)
        return layer

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return reflect_conv(x, self.weight, self.bias, self.stride[0], self.padding[0])


class UpsamplingConv2d(nn.Conv2d):
    """Nearest-neighbour x2 upsampling then a reflection-padded 3x3 convolution, as one
    layer: a stride-2 transposed convolution of the small image where that runs faster
    (``transposed_conv``), else the two steps (``upsampled_conv``)."""

    #: The upsampling before the convolution (the tiler reads it).
    scale_factor = 2
    transposed_weight: torch.Tensor

    @classmethod
    def sharing(cls, conv: nn.Conv2d) -> UpsamplingConv2d:
        """``Upsample(2)``, ``ReflectionPad2d(1)`` then the 3x3 ``conv``, with its parameters."""
        with torch.device("meta"):
            layer = cls(conv.in_channels, conv.out_channels, 3, padding=1,
                        bias=conv.bias is not None, padding_mode="reflect")
        _sharing_parameters(layer, conv)
        with torch.no_grad():
            layer.register_buffer("transposed_weight", transposed_weights(conv.weight),
                                  persistent=False)
        return layer

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # With autograd on, the gradient must reach the 3x3 weight, not the derived kernel.
        if torch.is_grad_enabled() or not _transposed_pays(x, self.weight):
            return upsampled_conv(x, self.weight, self.bias)
        return transposed_conv(x, self.transposed_weight, self.bias)


class InPlaceInstanceNorm2d(nn.InstanceNorm2d):
    """Instance norm of one image through batch norm's channels-last kernel, on the CPU in
    place (module docstring). A batch of several images, other devices and autograd get the
    ordinary computation (the in-place form is measured and tested on the CPU only)."""

    @classmethod
    def sharing(cls, norm: nn.InstanceNorm2d) -> InPlaceInstanceNorm2d:
        with torch.device("meta"):
            # torch annotates momentum as float, but takes the None it may hold
            layer = cls(norm.num_features, norm.eps, norm.momentum,  # type: ignore[arg-type]
                        affine=True)
        _sharing_parameters(layer, norm)
        return layer.train(norm.training)

    def forward(self, y: torch.Tensor) -> torch.Tensor:
        if y.shape[0] != 1 or self.weight.dtype != y.dtype or torch.is_grad_enabled():
            return super().forward(y)
        if y.device.type != "cpu":
            return F.batch_norm(y, None, None, self.weight, self.bias, training=True,
                                momentum=0.0, eps=self.eps)
        stats = [torch.empty(y.shape[1], dtype=y.dtype, device=y.device) for _ in range(2)]
        torch.ops.aten.native_batch_norm.out(y, self.weight, self.bias, None, None, True, 0.0,
                                             self.eps, out=y, save_mean=stats[0],
                                             save_invstd=stats[1])
        return y


def reflect_conv(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None,
                 stride: int, pad: int) -> torch.Tensor:
    """``conv2d(reflection_pad(x, pad), weight, bias, stride)`` without the padded copy.

    The convolution runs with zero padding, which oneDNN applies on the fly; only the
    outputs whose window reaches into the padding are wrong, a band ``ceil(pad / stride)``
    wide along each side, and those are computed again from thin strips of ``x``,
    reflection-padded on their outer sides only. A strip is cut on the stride grid, so its
    outputs are the same samples.
    """
    h, w = x.shape[-2:]
    band = -(-pad // stride)
    if (pad == 0 or h * w < hyper_parameters.STRIPS_FROM
            or min(h, w) < 4 * (pad + stride * band) or not _strips_pay(x, weight, stride, pad)):
        return padded_conv(x, weight, bias, stride, pad)
    return strip_conv(x, weight, bias, stride, pad)


def padded_conv(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None,
                stride: int, pad: int) -> torch.Tensor:
    """The plain form: a reflection-padded copy, then the convolution."""
    return F.conv2d(F.pad(x, (pad,) * 4, mode="reflect"), weight, bias, stride)


#: Side of the square input on which ``_strips_pay`` times the two forms (ours: the refine
#: subnet's size at a 1024 px painting, where most of the full-size work is; at 576 px, just
#: above STRIPS_FROM, the 9x9 input convolution tied in bf16 on an AVX-512 BF16 EPYC, and
#: the strips were 0.59x the padded copy's time at 1024 and 0.95x at 2048).
STRIP_PROBE_SIDE = 1024
#: Multiply-adds a strip probe may cost (ours: the 9x9 3->16 input convolution at
#: STRIP_PROBE_SIDE); wider layers are probed on a smaller square, down to 576 px, so the
#: first painting on a new machine waits seconds, not minutes.
STRIP_PROBE_WORK = 4e9


def _layout(t: torch.Tensor) -> str:
    """The layout's name in a measured question: "channels_last" or "contiguous"."""
    return "channels_last" if memory_layout(t) == torch.channels_last else "contiguous"


def _strips_pay(x: torch.Tensor, weight: torch.Tensor, stride: int, pad: int) -> bool:
    """Whether ``strip_conv`` beats ``padded_conv`` on this machine for this layer's shape,
    precision and layout (measured once on a STRIP_PROBE_SIDE square, then cached)."""
    out_c, in_c, k, _ = weight.shape
    question = (f"reflect-conv/{x.device.type}/{x.dtype}/{_layout(x)}/"
                f"{in_c}-{out_c}-k{k}-s{stride}")

    def candidates() -> dict[str, Callable[[], object]]:
        side = (STRIP_PROBE_WORK / (in_c * out_c * k * k)) ** 0.5 // 32 * 32
        probe = _probe_like(x, in_c, int(min(STRIP_PROBE_SIDE, max(576, side))))
        return {"padded copy": lambda: padded_conv(probe, weight, None, stride, pad),
                "strips": lambda: strip_conv(probe, weight, None, stride, pad)}

    return choose(question, candidates) == "strips"


def _probe_like(x: torch.Tensor, channels: int, side: int) -> torch.Tensor:
    """A fixed random square input with ``x``'s device, dtype and layout."""
    return probe_image(channels, side, side, x.device).to(x.dtype,
                                                          memory_format=memory_layout(x))


def strip_conv(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None,
               stride: int, pad: int) -> torch.Tensor:
    """The same as ``padded_conv``: zero padding on the fly, borders recomputed from strips."""
    h, w = x.shape[-2:]
    band = -(-pad // stride)
    out = F.conv2d(x, weight, bias, stride, padding=pad)
    out_h, out_w = out.shape[-2:]
    # Outputs rows [0, band) read input rows up to stride * (band - 1) + pad; the rows from
    # ``first`` on read past h - 1. Likewise for columns.
    reach = stride * (band - 1) + pad + 1
    first_h = _first_outside(h, stride, pad, out_h)
    first_w = _first_outside(w, stride, pad, out_w)

    def strip(t: torch.Tensor, sides: tuple[int, int, int, int]) -> torch.Tensor:
        return F.conv2d(F.pad(t, sides, mode="reflect"), weight, bias, stride)

    out[..., :band, :] = strip(x[..., :reach, :], (pad, pad, pad, 0))
    out[..., :, :band] = strip(x[..., :, :reach], (pad, 0, pad, pad))
    if first_h < out_h:
        out[..., first_h:, :] = strip(x[..., stride * first_h - pad:, :], (pad, pad, 0, pad))
    if first_w < out_w:
        out[..., :, first_w:] = strip(x[..., :, stride * first_w - pad:], (0, pad, pad, pad))
    return out


def _first_outside(size: int, stride: int, pad: int, outputs: int) -> int:
    """The first output index whose window (centre ``stride * i``) reaches past ``size - 1``."""
    return min(outputs, max(0, -(-(size - pad) // stride)))


#: Which 3x3 taps of a convolution of a nearest-neighbour x2 upsampled image fall on each of
#: the four taps of the equivalent stride-2 transposed convolution of the small image, along
#: one axis (rows k of the 4-tap kernel, columns: the 3x3 kernel's taps). Output row 2m reads
#: upsampled rows 2m-1, 2m, 2m+1 = small rows m-1, m, m (taps w0 | w1 + w2); output row 2m+1
#: reads small rows m, m, m+1 (w0 + w1 | w2); a transposed convolution with stride 2 and
#: padding 3 of the small image padded by one pixel gives row y the small rows i with
#: k = y + 3 - 2i in 0..3.
UPSAMPLED_TAPS = ((0.0, 0.0, 1.0), (0.0, 1.0, 1.0), (1.0, 1.0, 0.0), (1.0, 0.0, 0.0))


def transposed_weights(weight: torch.Tensor) -> torch.Tensor:
    """The (in, out, 4, 4) stride-2 transposed-convolution kernel equal to nearest x2
    upsampling followed by the 3x3 convolution ``weight`` (out, in, 3, 3); sums in float32
    (float64 for float64 weights)."""
    compute = torch.promote_types(weight.dtype, torch.float32)
    taps = torch.tensor(UPSAMPLED_TAPS, dtype=compute, device=weight.device)
    return torch.einsum("ky,oiyx,lx->iokl", taps, weight.to(compute), taps).to(weight.dtype)


def upsampled_conv(x: torch.Tensor, weight: torch.Tensor,
                   bias: torch.Tensor | None) -> torch.Tensor:
    """The plain form: nearest x2 upsampling, reflection padding by 1, the 3x3 convolution."""
    upsampled = F.interpolate(x, scale_factor=2, mode="nearest")
    return F.conv2d(F.pad(upsampled, (1, 1, 1, 1), mode="reflect"), weight, bias)


def transposed_conv(x: torch.Tensor, weight: torch.Tensor,
                    bias: torch.Tensor | None) -> torch.Tensor:
    """The same as ``upsampled_conv`` given ``transposed_weights`` of its 3x3 kernel."""
    # Reflection padding of the upsampled image by one pixel repeats its edge pixel, which is
    # the small image's edge pixel: edge-replicating the small image reads the same values.
    edged = F.pad(x, (1, 1, 1, 1), mode="replicate")
    return F.conv_transpose2d(edged, weight, bias, stride=2, padding=3)


#: Largest side of the square input on which ``_transposed_pays`` times the two forms (ours:
#: what the refine subnet's resize-convolutions read at 1024 px output, /4 and /2)...
TRANSPOSED_PROBE_SIDE = 256
#: ...for a probe of at most this many multiply-adds (ours: the enhance subnet's 192->128
#: layer at 256 px cost 58e9, 4 s of measuring on an AVX2 CPU; wide layers get a smaller
#: square, down to 32 px).
TRANSPOSED_PROBE_WORK = 1e9


def _transposed_pays(x: torch.Tensor, weight: torch.Tensor) -> bool:
    """Whether ``transposed_conv`` beats ``upsampled_conv`` on this machine for this layer's
    shape, precision and layout (measured once, then cached: ``kernel_choice``)."""
    out_c, in_c = weight.shape[:2]
    question = f"resize-conv/{x.device.type}/{x.dtype}/{_layout(x)}/{in_c}-{out_c}"

    def candidates() -> dict[str, Callable[[], object]]:
        side = (TRANSPOSED_PROBE_WORK / (in_c * out_c * 9 * 4)) ** 0.5 // 32 * 32
        probe = _probe_like(x, in_c, int(min(TRANSPOSED_PROBE_SIDE, max(32, side))))
        taps = transposed_weights(weight)
        return {"upsampled": lambda: upsampled_conv(probe, weight, None),
                "transposed": lambda: transposed_conv(probe, taps, None)}

    return choose(question, candidates) == "transposed"
