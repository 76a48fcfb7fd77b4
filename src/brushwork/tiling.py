"""Inference under a memory budget: big images go through a network in overlapping tiles.

Cutting an image into tiles changes a convolutional network's output in two ways, and both
are undone here, so a tiled result equals the untiled one up to float rounding (no blending
is needed, so none is done: a blend would only hide an error the tests should see):

* **Borders.** A tile's reflection padding invents pixels the whole image does not have. A
  tile therefore carries a halo at least as wide as the network's reach (how far an output
  pixel sees), and only its interior is kept. Tiles at the image border end at the true
  border, where the network pads exactly as it does untiled. Tile edges sit on multiples of
  the network's total stride, so every stride-2 conv samples the same pixels as untiled.
* **Instance norm.** Each InstanceNorm2d layer normalises by the mean and variance of the
  whole image (paper 3.3.1, after Ulyanov et al.); per-tile statistics would change the
  colours from tile to tile and leave seams. The statistics are computed exactly, on the
  whole image, before any output is produced.

How the statistics are computed, cheapest first (``TiledRunner`` picks per piece of network):

1. Untiled: a piece whose whole-image activations fit the budget simply runs.
2. Layer by layer: a piece that is a chain (``nn.Sequential``, flattened) is cut where the
   activation in between fits the budget. A conv then runs tile by tile into a whole-image
   tensor, and the instance norm and ReLU after it run in place on that tensor, with its
   exact statistics. Each layer is computed once. Residual blocks and the MT-Net subnets,
   whose forward is more than a chain, are ``Composite`` modules (networks/blocks.py): their
   forward is ``compose(x, run)`` with a plain ``run``, and the runner calls that same
   ``compose`` with its own ``run``, so each child is run (and tiled) on its own while the
   composition itself, whatever it is, is the network's. Nothing here knows what it does.
3. Streamed statistics: where no activation in a stretch fits, the stretch runs as one
   tiled piece. For each norm layer in forward order, one pass runs the tiles up to that
   layer (the earlier layers already using their fixed whole-image statistics) and adds up
   per-channel sums and sums of squares over each tile's interior, at that layer's
   resolution; then a last pass computes the outputs. This costs one partial pass per norm
   layer, so the planner prefers 1 and 2 and uses 3 only where memory forces it.

Shapes, strides and memory are measured, not hand-written, so they follow the networks as
they change: a probe forward at ``PROBE_SIDE`` px records every module's shapes, the bytes
alive during its call, its convolution work and its norm layers in call order (``_probe``).
The reach of a chain is composed from its layers' kernels, strides, pads and upsamplings;
a module no rule covers (a residual block, a whole subnet) is measured by the impulse
response of a linearised stand-in, ReLU and instance norm removed and every convolution a
positive kernel, so no path can cancel out (``measure_reach``; the tests check that both
agree).

In float32, tiled and untiled results agree to ~1e-5. In bfloat16 PyTorch's own instance
norm rounds its statistics (mean, sum of squared deviations, 1/std) to bfloat16; the terms
here are rounded the same way, and match bit for bit on contiguous tensors, but for
channels-last tensors PyTorch accumulates in an order tiles cannot repeat, so there the two
agree to bfloat16 noise (>= 40 dB PSNR at 2048 even with random weights, which amplify it).

The budget covers tensors: the photo, the levels already computed, the whole-image
activations kept between layers and the working memory of one tile. The Python interpreter,
PyTorch's libraries and the weights (~0.25 GB resident on CPU, plus ~0.1 GB of oneDNN
scratch) come on top.

Why one module (over 500 lines): the memory probe, the tile planner and the tiled runner are
one algorithm (the runner plans with the probe's numbers and the planner's reach), explained
above as a whole.
"""

from __future__ import annotations

import copy
import itertools
import math
import os
import re
import weakref
from collections.abc import Callable
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import TypeGuard

import torch
from torch import nn

from .errors import BrushworkError
from .networks.blocks import Composite, memory_layout
from .networks.fused import UpsamplingConv2d, rebuilt

GIB = 1024**3
#: Cap of the automatic budget (ours): 4096x4096 output then stays under 3 GB resident on
#: CPU, our target for high-resolution output (measured in docs/performance.md), and
#: anything up to 2048 runs untiled or nearly so.
DEFAULT_MAX_MEMORY = 2 * GIB
#: Side of the probe image used to measure shapes and memory (ours: a multiple of MT-Net's
#: 32 that keeps 16 px at the enhance subnet's deepest layer). Measured against peak RSS on
#: CPU: MT-Net untiled, float32 at 1024, 0.58 GB estimated vs 0.57 used; bfloat16 at 2048,
#: 1.16 vs 1.15.
PROBE_SIDE = 256
#: Cost charged per element of an activation kept whole between layers, in multiply-adds
#: (ours): enough that a free layer (an upsampling) is never materialised for nothing.
KEEP_COST = 16
#: Elements per chunk when statistics are summed in float64 (bounds the temporary copies).
CHUNK = 1 << 21

_UNITS = {"": 1, "b": 1, "k": 1024, "m": 1024**2, "g": GIB, "t": 1024**4}
_MEMORY = re.compile(r"\s*(\d+(?:\.\d*)?|\.\d+)\s*(?:([kmgt]?)(?:i?b)?|b)\s*", re.IGNORECASE)


# ------------------------------------------------------------------------------------ budget


def parse_memory(text: str) -> int:
    """'2GB', '512MB', '1.5G', '800MiB', '1073741824' -> bytes. Units are powers of 1024."""
    match = _MEMORY.fullmatch(text)
    if not match:
        raise BrushworkError(
            f"not an amount of memory: {text!r} (write e.g. 2GB, 512MB or 1.5GiB)"
        )
    value = int(float(match[1]) * _UNITS[(match[2] or "").lower()])
    if value <= 0:
        raise BrushworkError(f"the memory budget must be positive, not {text!r}")
    return value


def available_memory() -> int | None:
    """Bytes of RAM this process could still take: MemAvailable, capped by a cgroup limit."""
    available = None
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                available = int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        try:
            available = os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
        except (OSError, ValueError, AttributeError):
            return None
    try:  # a container's own limit (cgroup v2) can be far below the machine's RAM
        limit = Path("/sys/fs/cgroup/memory.max").read_text().strip()
        used = Path("/sys/fs/cgroup/memory.current").read_text().strip()
        if limit != "max":
            room = int(limit) - int(used)
            available = room if available is None else min(available, room)
    except (OSError, ValueError):
        pass
    return available


def default_memory_budget(device: torch.device | str = "cpu") -> int:
    """The automatic budget: half of the free memory, at most ``DEFAULT_MAX_MEMORY``."""
    device = torch.device(device)
    if device.type == "cuda":
        free, _total = torch.cuda.mem_get_info(device)
        return free // 2
    available = available_memory()
    return DEFAULT_MAX_MEMORY if available is None else min(DEFAULT_MAX_MEMORY, available // 2)


def memory_budget(
    max_memory: int | str | None, device: torch.device | str = "cpu"
) -> int:
    """A budget in bytes from a user value: None (automatic), a count of bytes or '1.5GB'."""
    if max_memory is None:
        return default_memory_budget(device)
    if isinstance(max_memory, str):
        return parse_memory(max_memory)
    if isinstance(max_memory, bool) or not isinstance(max_memory, int) or max_memory <= 0:
        raise BrushworkError(
            f"max_memory must be a positive number of bytes or a text like '2GB', "
            f"not {max_memory!r}"
        )
    return max_memory


def format_memory(n: float) -> str:
    if n >= GIB / 4:
        return f"{n / GIB:.2f} GiB"
    return f"{n / 1024**2:.0f} MiB" if n >= 1024**2 else f"{n / 1024:.0f} KiB"


# ------------------------------------------------------------------------------------ probes


@dataclass
class _Record:
    """What one module did during the probe forward (sizes at the probe's scale)."""

    in_shape: tuple[int, ...]
    item: int  # bytes per element of the probe's tensors
    out_shape: tuple[int, ...] = ()
    peak: int = 0  # bytes alive during the call, its input included, the caller's excluded
    flops: int = 0  # multiply-adds of the convolutions inside
    min_hw: tuple[int, int] = (1 << 30, 1 << 30)  # smallest tensor (h, w) seen inside
    norms: list[nn.Module] = field(default_factory=list)  # instance norms called, in order


def _tensors(value: object) -> list[torch.Tensor]:
    if isinstance(value, torch.Tensor):
        return [value]
    if isinstance(value, (tuple, list)):
        return [t for v in value for t in _tensors(v)]
    return []


def _probe(module: nn.Module, x: torch.Tensor) -> dict[int, _Record]:
    """Run ``module(x)`` once with hooks on every submodule and record what each one did.

    Memory is simulated, not sampled: every tensor entering or leaving a module is tracked by
    a weak reference, and at every module boundary the bytes of the distinct storages still
    alive are added up. Inputs of modules still running stay alive (their callers hold them),
    so this sees the skip tensors, the RGB branch waiting for the L branch, and the
    upsampled tensor a resize-convolution pads. Inside an op only the convolutions' are
    counted: a copy of their input and output, as oneDNN makes to reorder float32 NCHW
    tensors (without it, MT-Net's float32 peak at 1024 is underestimated by ~45%).
    """
    records: dict[int, _Record] = {}  # by id(module): a cached profile must not keep the
    # network alive
    stack: list[tuple[_Record, int]] = []  # (record, bytes alive outside the call)
    seen: list[weakref.ref] = []

    def alive() -> int:
        storages: dict[int, int] = {}
        for ref in seen:
            t = ref()
            if t is not None:
                storage = t.untyped_storage()
                storages[storage.data_ptr()] = storage.nbytes()
        return sum(storages.values())

    def note(tensors: list[torch.Tensor], transient: int = 0) -> None:
        for t in tensors:
            seen.append(weakref.ref(t))
        now = alive() + transient
        for record, outside in stack:
            record.peak = max(record.peak, now - outside)
            for t in tensors:
                if t.dim() == 4:
                    record.min_hw = (min(record.min_hw[0], t.shape[-2]),
                                     min(record.min_hw[1], t.shape[-1]))

    def before(m: nn.Module, args: tuple) -> None:
        inputs = _tensors(args)
        if not inputs:
            raise BrushworkError(f"cannot tile {type(m).__name__}: it takes no tensor")
        x = inputs[0]
        record = records.setdefault(id(m), _Record(tuple(x.shape), x.element_size()))
        seen.append(weakref.ref(x))
        stack.append((record, alive() - x.untyped_storage().nbytes()))
        if isinstance(m, nn.InstanceNorm2d):
            for r, _ in stack:
                r.norms.append(m)
        note(inputs)

    def after(m: nn.Module, args: tuple, output: object) -> None:
        outputs = _tensors(output)
        transient = 0
        if isinstance(m, nn.Conv2d) and outputs:
            work = outputs[0].numel() * m.weight[0].numel()
            for r, _ in stack:
                r.flops += work
            # oneDNN may copy its input and output into blocked layouts while it runs.
            transient = sum(t.untyped_storage().nbytes() for t in (*_tensors(args), *outputs))
        note(outputs, transient)
        record, _ = stack.pop()
        if outputs:
            record.out_shape = tuple(outputs[-1].shape)

    handles = []
    for m in module.modules():
        handles.append(m.register_forward_pre_hook(before))
        handles.append(m.register_forward_hook(after))
    try:
        with torch.no_grad():
            module(x)
    finally:
        for handle in handles:
            handle.remove()
    return records


_PROFILES: weakref.WeakKeyDictionary[nn.Module, dict] = weakref.WeakKeyDictionary()


def profile(module: nn.Module, x: torch.Tensor) -> dict[int, _Record]:
    """The probe records of ``module`` for inputs like ``x``, measured once and cached."""
    key = (x.shape[1], x.dtype, x.device.type)
    cache = _PROFILES.setdefault(module, {})
    if key not in cache:
        probe = torch.zeros(1, x.shape[1], PROBE_SIDE, PROBE_SIDE, dtype=x.dtype, device=x.device)
        cache[key] = _probe(module, probe)
    return cache[key]


class _Footprint(nn.Module):
    """Where a convolution looks: the sum of its input channels through a positive kernel of
    the convolution's shape and stride. One channel out, whatever the width, so the reach of
    the widest subnet is measured in milliseconds; broadcasting takes care of the adds."""

    kernel: torch.Tensor

    def __init__(self, conv: nn.Conv2d) -> None:
        super().__init__()
        self.stride, self.padding, self.dilation = conv.stride, conv.padding, conv.dilation
        # Taps of 1/sqrt(n): the response neither overflows nor underflows float32 through
        # some 70 layers of 3x3 (a tap's share shrinks by 3 per layer, the sum grows by 3).
        kernel = torch.ones(1, 1, *conv.kernel_size)
        self.register_buffer("kernel", kernel / kernel.numel() ** 0.5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.nn.functional.conv2d(
            x.sum(dim=1, keepdim=True), self.kernel, stride=self.stride,
            padding=self.padding, dilation=self.dilation)


def estimated_peak(module: nn.Module, x: torch.Tensor) -> float:
    """Bytes of tensors alive at once while ``module(x)`` runs untiled, ``x`` included."""
    record = profile(module, x)[id(module)]
    return record.peak * x.shape[-2] * x.shape[-1] / (record.in_shape[-2] * record.in_shape[-1])


def _linear_stand_in(module: nn.Module) -> nn.Module:
    if isinstance(module, (nn.InstanceNorm2d, nn.ReLU)):
        return nn.Identity()
    if isinstance(module, UpsamplingConv2d):  # a fused resize-convolution
        return nn.Sequential(nn.Upsample(scale_factor=module.scale_factor), _Footprint(module))
    if isinstance(module, nn.Conv2d):
        return _Footprint(module)
    return module


def _linearised_copy(module: nn.Module) -> nn.Module:
    """A float32 CPU copy, ReLU and instance norm removed, convolutions made footprints.

    What is left is linear with positive coefficients on every path, so its impulse response
    is non-zero exactly where the real network's output can depend on the impulse.
    """
    with torch.inference_mode(False), torch.no_grad():
        probe = _linear_stand_in(copy.deepcopy(module).to(device="cpu", dtype=torch.float32))
        for parent in list(probe.modules()):
            # Hooks were copied too; a user's hook must not see the probe's runs.
            parent._forward_hooks.clear()
            parent._forward_pre_hooks.clear()
            for name, child in parent.named_children():
                setattr(parent, name, _linear_stand_in(child))
    return probe.eval()


def measure_reach(module: nn.Module, channels: int, align: int, scale: Fraction) -> int:
    """How far (in input px) an output pixel of ``module`` sees beyond its own footprint.

    Output pixel o covers input px [o/scale, (o+1)/scale); it depends on input px up to the
    reach before and after that. One impulse per stride phase, probes doubled in size until
    the response stays clear of the probe's borders.
    """
    probe = _linearised_copy(module)
    side = max(64, 8 * align)
    while side <= 8192:
        x = torch.zeros(align, channels, side, side)
        centre = side // 2
        for phase in range(align):
            x[phase, :, centre + phase, centre + phase] = 1.0
        with torch.no_grad():
            hit = probe(x).abs().sum(dim=1) > 0
        rows, cols = hit.any(dim=2), hit.any(dim=1)
        edges = torch.cat([rows[:, [0, -1]], cols[:, [0, -1]]], dim=1)
        if edges.any():
            side *= 2
            continue
        reach = Fraction(0)
        for phase in range(align):
            p = centre + phase
            for axis in (rows[phase], cols[phase]):
                where = axis.nonzero().flatten()
                first, last = int(where[0]), int(where[-1])
                reach = max(reach, last / scale - p, p - (first + 1) / scale + 1)
        return math.ceil(reach)
    raise BrushworkError(f"cannot measure the reach of {type(module).__name__}: it is global")


_PADS = (nn.ReflectionPad2d, nn.ReplicationPad2d, nn.ZeroPad2d, nn.ConstantPad2d)


def _rule(layer: nn.Module, axis: int) -> Callable[[int, int], tuple[int, int]] | None:
    """For layers whose reach is known from their settings: output rows (axis 0) or columns
    (axis 1) lo..hi -> the input rows or columns they depend on. None for any other layer."""
    if _is_pointwise(layer) or isinstance(layer, nn.Identity):
        return lambda lo, hi: (lo, hi)
    if isinstance(layer, _PADS):
        before = layer.padding[2 - 2 * axis]  # (left, right, top, bottom)
        return lambda lo, hi: (lo - before, hi - before)
    if isinstance(layer, nn.Conv2d) and isinstance(layer.padding, tuple):
        k = layer.dilation[axis] * (layer.kernel_size[axis] - 1)
        s, p = layer.stride[axis], layer.padding[axis]
        if isinstance(layer, UpsamplingConv2d):  # the convolution reads the upsampled image
            up = layer.scale_factor
            return lambda lo, hi: ((lo * s - p) // up, (hi * s - p + k) // up)
        return lambda lo, hi: (lo * s - p, hi * s - p + k)
    factor = getattr(layer, "scale_factor", None)
    if isinstance(layer, nn.Upsample) and layer.mode == "nearest" and factor in (2, 2.0):
        return lambda lo, hi: (lo // 2, hi // 2)
    return None


# ----------------------------------------------------------------------- whole-image norm stats


class _Stop(Exception):
    """Ends a statistics pass at the layer whose input has just been summed."""


def _uses_image_stats(norm: nn.Module) -> bool:
    """False for an instance norm that normalises by stored running statistics instead."""
    return norm.training or not norm.track_running_stats


def _moments(t: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, int]:
    """Per-(sample, channel) sum and sum of squares in float64, over chunks of rows."""
    n, c, h, w = t.shape
    rows = max(1, CHUNK // max(1, n * c * w))
    total = t.new_zeros((n, c), dtype=torch.float64)
    squares = t.new_zeros((n, c), dtype=torch.float64)
    for top in range(0, h, rows):
        # A copy even when t is float64 already: the squares are formed in place below.
        chunk = t[:, :, top:top + rows].to(torch.float64, copy=True)
        total += chunk.sum(dim=(2, 3))
        squares += chunk.mul_(chunk).sum(dim=(2, 3))
    return total, squares, h * w


def _affine_terms(
    norm: nn.Module, total: torch.Tensor, squares: torch.Tensor, count: int, dtype: torch.dtype
) -> tuple[torch.Tensor, torch.Tensor]:
    """(alpha, beta) with norm(x) = x * alpha + beta: biased variance and eps, as InstanceNorm2d.

    Rounded the way PyTorch's CPU kernel rounds, so tiles match the untiled run bit for bit
    wherever the sums agree: the mean and the sum of squared deviations are stored in the
    activations' dtype (bfloat16 for bfloat16 activations), 1/std is formed from them in
    float32 and stored in that dtype too, and alpha and beta are formed in float32.
    """
    assert isinstance(norm, nn.InstanceNorm2d)  # the only norms the tiler records
    compute = torch.promote_types(dtype, torch.float32)
    mean = total / count
    deviations = (squares - total * mean).clamp_min(0.0)
    mean = mean.to(dtype).to(compute)
    variance = deviations.to(dtype).to(compute) / count
    invstd = (1 / torch.sqrt(variance + norm.eps)).to(dtype).to(compute)
    alpha, beta = invstd, -mean * invstd
    if norm.affine:
        weight, bias = norm.weight, norm.bias
        assert isinstance(weight, torch.Tensor) and isinstance(bias, torch.Tensor)
        alpha = invstd * weight.to(compute)
        beta = bias.to(compute) - mean * alpha
    return alpha[..., None, None], beta[..., None, None]


def _affine(
    x: torch.Tensor, alpha: torch.Tensor, beta: torch.Tensor, out: torch.Tensor | None = None
) -> torch.Tensor:
    """x * alpha + beta into ``out`` (x itself for in place), computed in alpha's precision
    by chunks of rows, so a bfloat16 activation never gets a float32 copy of itself."""
    if out is None:
        out = torch.empty_like(x)
    if x.dtype == alpha.dtype:
        return torch.mul(x, alpha, out=out).add_(beta)
    rows = max(1, CHUNK // max(1, x.shape[0] * x.shape[1] * x.shape[-1]))
    for top in range(0, x.shape[-2], rows):
        part = slice(top, top + rows)
        out[..., part, :] = torch.mul(x[..., part, :], alpha).add_(beta)
    return out


class WholeImageNorm(nn.Module):
    """An instance norm with statistics fixed beforehand (those of the whole image): what
    a norm layer becomes in the copy of a piece that the tiler runs tile by tile."""

    def __init__(self, alpha: torch.Tensor, beta: torch.Tensor) -> None:
        super().__init__()
        self.alpha, self.beta = alpha, beta

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return _affine(x, self.alpha, self.beta)


class _Summarise(nn.Module):
    """Hands its input to ``summarise`` and ends the pass (``_Stop``): where a statistics
    pass stops, at the norm layer whose input it sums."""

    def __init__(self, summarise: Callable[[torch.Tensor], None]) -> None:
        super().__init__()
        self.summarise = summarise

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.summarise(x)
        raise _Stop


def _with_norms(module: nn.Module, norms: dict[nn.Module, nn.Module]) -> nn.Module:
    """A copy of ``module`` with the given norm layers replaced (parameters shared): the
    network itself is never changed, so another thread may paint with it meanwhile."""
    return rebuilt(module, norms.get)


def _normalise_(t: torch.Tensor, norm: nn.Module) -> torch.Tensor:
    """``norm(t)`` computed in place on a whole-image tensor (saves a copy of it)."""
    if not _uses_image_stats(norm):
        return norm(t)
    alpha, beta = _affine_terms(norm, *_moments(t), t.dtype)
    return _affine(t, alpha, beta, out=t)


# -------------------------------------------------------------------------------------- tiles


@dataclass(frozen=True)
class Tile:
    """A tile in input px: ``region`` is what the network sees, ``interior`` what is kept."""

    region: tuple[int, int, int, int]  # top, bottom, left, right
    interior: tuple[int, int, int, int]

    def crop(self, scale: Fraction) -> tuple[slice, slice]:
        """Slices of the interior inside a tensor computed from the region, at ``scale``."""
        top, left = self.region[0], self.region[2]
        a, b, c, d = ((v - o) * scale for v, o in zip(self.interior, (top, top, left, left)))
        return slice(int(a), int(b)), slice(int(c), int(d))

    def placed(self, scale: Fraction) -> tuple[slice, slice]:
        """Slices of the interior in the whole output, at ``scale``."""
        a, b, c, d = (int(v * scale) for v in self.interior)
        return slice(a, b), slice(c, d)


def _spans(length: int, parts: int, align: int) -> list[tuple[int, int]]:
    units = length // align
    cuts = [round(k * units / parts) * align for k in range(parts + 1)]
    return list(itertools.pairwise(cuts))


def _largest_region(length: int, parts: int, align: int, halo: int) -> int:
    if parts == 1:
        return length
    return min(length, math.ceil(length / align / parts) * align + 2 * halo)


def plan_tiles(
    height: int, width: int, halo: int, align: int,
    max_pixels: float | None = None, max_side: int | None = None,
) -> list[Tile]:
    """Tiles covering (height, width): interiors on multiples of ``align``, halos clipped at
    the image border. Either the fewest input pixels computed with no region above
    ``max_pixels``, or interiors of at most ``max_side``. The halo is rounded up to a
    multiple of ``align``."""
    if height % align or width % align:
        raise ValueError(f"{height}x{width} is not a multiple of the stride {align}")
    halo = math.ceil(halo / align) * align  # tile edges must stay on stride multiples
    if max_side is not None:
        side = max(align, max_side // align * align)
        ny, nx = math.ceil(height / side), math.ceil(width / side)
    else:
        assert max_pixels is not None
        best = None
        for ny in range(1, height // align + 1):
            rows = _largest_region(height, ny, align, halo)
            computed_rows = height + 2 * halo * (ny - 1)
            if best is not None and computed_rows * width >= best[0]:
                break
            widest = max_pixels // rows
            if widest >= width:
                nx = 1
            else:
                inner = (widest - 2 * halo) // align * align
                if inner < align:
                    continue
                nx = math.ceil(width / inner)
            if _largest_region(width, nx, align, halo) * rows > max_pixels:
                continue
            cost = computed_rows * (width + 2 * halo * (nx - 1))
            if best is None or cost < best[0]:
                best = (cost, ny, nx)
        if best is None:
            raise _TooSmall
        _, ny, nx = best
    tiles = []
    for top, bottom in _spans(height, ny, align):
        for left, right in _spans(width, nx, align):
            region = (max(0, top - halo), min(height, bottom + halo),
                      max(0, left - halo), min(width, right + halo))
            tiles.append(Tile(region, (top, bottom, left, right)))
    return tiles


class _TooSmall(Exception):
    """No tile fits the memory left over."""


# ------------------------------------------------------------------------------------- pieces


@dataclass
class _Piece:
    """A stretch of layers run as one unit, with what the probe says about it."""

    layers: tuple[nn.Module, ...]
    in_shape: tuple[int, ...]  # at the probe's scale
    out_shape: tuple[int, ...]
    peak: int  # bytes at the probe's scale
    flops: int
    norms: list[nn.Module]
    norm_scales: dict[nn.Module, Fraction]
    align: int
    stats_cost: int  # multiply-adds of the partial passes that stream the norm statistics

    @property
    def module(self) -> nn.Module:
        return self.layers[0] if len(self.layers) == 1 else nn.Sequential(*self.layers)

    @property
    def scale(self) -> Fraction:
        return Fraction(self.out_shape[-2], self.in_shape[-2])

    def ratio(self, shape: tuple[int, ...]) -> float:
        """Pixels of an input of ``shape`` over pixels of the probe's input."""
        return shape[-2] * shape[-1] / (self.in_shape[-2] * self.in_shape[-1])


def _flatten(module: nn.Module) -> list[nn.Module]:
    """The layers of nested plain ``nn.Sequential``s (Conv, ResizeConv) as one chain."""
    if isinstance(module, nn.Sequential) and type(module).forward is nn.Sequential.forward:
        return [layer for child in module for layer in _flatten(child)]
    return [module]


def _is_pointwise(layer: nn.Module) -> bool:
    return isinstance(layer, (nn.InstanceNorm2d, nn.ReLU))


def _power_of_two(r: Fraction) -> bool:
    n, d = r.numerator, r.denominator
    return r > 0 and n & (n - 1) == 0 and d & (d - 1) == 0


def _around(scale: Fraction, reach: int) -> Callable[[int, int], tuple[int, int]]:
    """The rule of a layer known only by its scale and measured reach."""

    def rule(lo: int, hi: int) -> tuple[int, int]:
        return math.floor(lo / scale) - reach, math.ceil((hi + 1) / scale) - 1 + reach

    return rule


# ------------------------------------------------------------------------------------- runner


def _composite(module: nn.Module) -> TypeGuard[Composite]:
    """Whether ``module(x)`` is ``module.compose(x, call)``, so that the runner may call
    ``compose`` with its own ``run``; a subclass that overrides ``forward`` is opaque."""
    return isinstance(module, Composite) and type(module).forward is Composite.forward


class TiledRunner:
    """Runs modules within ``budget`` bytes of tensors (see the module docstring).

    ``held`` arguments count bytes alive elsewhere (the photo, earlier levels, skip tensors)
    that the budget must also cover. ``tile`` forces tiling everywhere, with interiors of at
    most ``tile`` px a side, whatever the budget: for tests and experiments. ``records`` are
    probe records of an enclosing network (``profile``), which saves probing its parts again.
    """

    def __init__(
        self, budget: int | None, records: dict[int, _Record] | None = None,
        tile: int | None = None,
    ) -> None:
        if budget is None and tile is None:
            raise ValueError("give a budget, a tile size or both")
        self.budget = budget
        self.tile = tile
        self.records: dict[int, _Record] = dict(records or {})
        self._reaches: dict[tuple[int, ...], int] = {}
        #: The tiles of every piece run tiled, in order (for tests and curious callers).
        self.tilings: list[list[Tile]] = []

    # -- public

    def run(self, module: nn.Module, x: torch.Tensor, held: int = 0) -> torch.Tensor:
        """``module(x)``, computed within the budget."""
        if id(module) not in self.records:
            self.records.update(profile(module, x))
        piece = self._piece((module,))
        if self.fits(piece.peak * piece.ratio(x.shape), held):
            return module(x)
        if _composite(module):  # its own forward, each child run within the budget
            return module.compose(x, lambda child, t, kept: self.run(child, t, held + kept))
        layers = _flatten(module)
        if len(layers) > 1:
            return self._chain(layers, x, held)
        return self._tiled(piece, x, held)

    def fits(self, peak: float, held: int = 0) -> bool:
        """Whether a computation needing ``peak`` bytes may run untiled beside ``held``."""
        return self.tile is None and self.budget is not None and held + peak <= self.budget

    # -- planning

    def _piece(self, layers: tuple[nn.Module, ...]) -> _Piece:
        records = [self.records[id(layer)] for layer in layers]
        first, last = records[0], records[-1]
        peak = first.peak
        for record in records[1:]:  # the piece's input stays alive: its caller holds it
            peak = max(peak, record.peak + math.prod(first.in_shape) * first.item)
        norms, stats_cost, done = [], 0, 0
        for layer, record in zip(layers, records):
            for norm in record.norms:
                if _uses_image_stats(norm):
                    norms.append(norm)
                    stats_cost += done + (0 if norm is layer else record.flops)
            done += record.flops
        if len(set(norms)) != len(norms):
            raise BrushworkError("cannot tile a network that calls a norm layer twice")
        stride = max(first.in_shape[-2] / min(r.min_hw[0] for r in records),
                     first.in_shape[-1] / min(r.min_hw[1] for r in records), 1)
        return _Piece(
            layers=layers, in_shape=first.in_shape, out_shape=last.out_shape, peak=peak,
            flops=sum(r.flops for r in records), norms=norms,
            norm_scales={n: Fraction(self.records[id(n)].in_shape[-2], first.in_shape[-2])
                         for n in norms},
            align=1 << math.ceil(math.log2(stride)), stats_cost=stats_cost,
        )

    def _chain(self, layers: list[nn.Module], x: torch.Tensor, held: int) -> torch.Tensor:
        """Run a chain of layers, keeping whole-image activations where it pays and fits.

        A small dynamic programme over the places where the chain may be cut (where the
        activation has the input's size times a power of two, so not after a padding):
        each stretch between two cuts runs in place, untiled, split, or tiled, and the
        cheapest plan in multiply-adds whose every step fits the budget wins.
        """
        n = len(layers)
        probe_in = self.records[id(layers[0])].in_shape
        shapes: list[tuple[int, ...] | None] = [tuple(x.shape)]
        for layer in layers:
            out = self.records[id(layer)].out_shape
            r = Fraction(out[-2], probe_in[-2]), Fraction(out[-1], probe_in[-1])
            size = x.shape[-2] * r[0], x.shape[-1] * r[1]
            whole = r[0] == r[1] and _power_of_two(r[0]) and all(
                s.denominator == 1 for s in size)
            shapes.append((x.shape[0], out[1], int(size[0]), int(size[1])) if whole else None)
        item = x.element_size()
        # best[j]: (cost, start of the last step, its kind) of running layers[:j] with the
        # activation after layer j - 1 kept whole.
        best: list[tuple[float, int, str] | None] = [None] * (n + 1)
        best[0] = (0.0, -1, "")
        for j in range(1, n + 1):
            shape_out = shapes[j]
            if shape_out is None and j < n:
                continue
            for i in range(j):
                reached, shape_in = best[i], shapes[i]
                if reached is None:
                    continue
                assert shape_in is not None  # a stretch is only reached where it is whole
                option = self._option(tuple(layers[i:j]), i, shape_in, shape_out, item,
                                      held + (x.nbytes if i else 0))
                if option is None:
                    continue
                kept = KEEP_COST * math.prod(shape_out) if j < n and shape_out is not None else 0
                total = reached[0] + option[1] + kept
                so_far = best[j]
                if so_far is None or total < so_far[0]:
                    best[j] = (total, i, option[0])
        if best[n] is None:
            raise self._too_small(x, held)
        plan, j = [], n
        while j:
            step = best[j]
            assert step is not None  # every step of the plan was reached
            _, i, kind = step
            plan.append((i, j, kind))
            j = i
        current = x
        for i, j, kind in reversed(plan):
            outside = held + (x.nbytes if i else 0)
            segment = tuple(layers[i:j])
            if kind == "pointwise":  # on an activation of our own, so in place is safe
                for layer in segment:
                    current = (_normalise_(current, layer)
                               if isinstance(layer, nn.InstanceNorm2d) else current.relu_())
            elif kind == "untiled":
                for layer in segment:
                    current = layer(current)
            elif kind == "split":
                current = self.run(segment[0], current, outside)
            else:
                current = self._tiled(self._piece(segment), current, outside)
        return current

    def _option(
        self, segment: tuple[nn.Module, ...], start: int, shape_in: tuple[int, ...],
        shape_out: tuple[int, ...] | None, item: int, held: int,
    ) -> tuple[str, float] | None:
        """How to run ``segment`` as one step of a chain and its cost, or None if it can't."""
        in_bytes = math.prod(shape_in) * item
        if start and all(_is_pointwise(layer) for layer in segment):
            return ("pointwise", in_bytes / item) if self._room(held + in_bytes) else None
        piece = self._piece(segment)
        ratio = piece.ratio(shape_in)
        if self.fits(piece.peak * ratio, held):
            return "untiled", piece.flops * ratio
        out_bytes = math.prod(shape_out) * item if shape_out else in_bytes
        if len(segment) == 1 and _composite(segment[0]):
            room = self._room(held + in_bytes + out_bytes)
            return ("split", piece.flops * ratio) if room else None
        try:
            tiles = self._plan(piece, shape_in, item, held)
        except _TooSmall:
            return None
        computed = sum((t.region[1] - t.region[0]) * (t.region[3] - t.region[2]) for t in tiles)
        return "tiled", (piece.stats_cost + piece.flops) * ratio * computed / math.prod(
            shape_in[-2:])

    def _room(self, needed: float) -> bool:
        return self.budget is None or needed <= self.budget

    def _too_small(self, x: torch.Tensor, held: int) -> BrushworkError:
        return BrushworkError(
            f"a memory budget of {format_memory(self.budget or 0)} is too small for a "
            f"{x.shape[-1]}x{x.shape[-2]} stage with {format_memory(held)} already in use: "
            "raise --max-memory or lower --size"
        )

    # -- execution

    def _reach(self, piece: _Piece) -> int:
        """The piece's reach: composed layer by layer from the layers' settings, with the
        impulse probe only for layers no rule covers (residual blocks, whole subnets)."""
        key = tuple(id(layer) for layer in piece.layers)
        if key in self._reaches:
            return self._reaches[key]
        steps: list[tuple[Callable[[int, int], tuple[int, int]], ...]] = []
        for layer in piece.layers:
            rows, cols = _rule(layer, 0), _rule(layer, 1)
            if rows is None or cols is None:
                alone = self._piece((layer,))
                if (id(layer),) not in self._reaches:
                    self._reaches[(id(layer),)] = measure_reach(
                        layer, alone.in_shape[1], alone.align, alone.scale)
                rows = cols = _around(alone.scale, self._reaches[(id(layer),)])
            steps.append((rows, cols))
        scale = piece.scale
        reach = Fraction(0)
        for axis in range(2):
            for o in range(1 << 12, (1 << 12) + 8):  # every phase of strides up to 8
                lo = hi = o
                for rules in reversed(steps):
                    lo, hi = rules[axis](lo, hi)
                reach = max(reach, o / scale - lo, hi - (o + 1) / scale + 1)
        self._reaches[key] = math.ceil(reach)
        return self._reaches[key]

    def _plan(self, piece: _Piece, shape: tuple[int, ...], item: int, held: int) -> list[Tile]:
        """Tiles for running ``piece`` on an input of ``shape`` beside ``held`` bytes: as
        large as the budget allows (fewest pixels computed twice); _TooSmall if none fits."""
        halo, (height, width) = self._reach(piece), shape[-2:]
        if self.tile is not None:
            return plan_tiles(height, width, halo, piece.align, max_side=self.tile)
        assert self.budget is not None
        in_bytes = math.prod(shape) * item
        out_bytes = int(in_bytes * piece.out_shape[1] / shape[1] * piece.scale**2)
        room = self.budget - held - in_bytes - out_bytes
        per_pixel = piece.peak / math.prod(piece.in_shape[-2:])
        if room <= 0:
            raise _TooSmall
        return plan_tiles(height, width, halo, piece.align, max_pixels=room / per_pixel)

    def _tiled(self, piece: _Piece, x: torch.Tensor, held: int) -> torch.Tensor:
        """Run one piece tile by tile, with whole-image statistics for its norm layers."""
        try:
            tiles = self._plan(piece, tuple(x.shape), x.element_size(), held)
        except _TooSmall:
            raise self._too_small(x, held) from None
        self.tilings.append(tiles)
        module = piece.module
        fixed: dict[nn.Module, nn.Module] = {}
        for norm in piece.norms:  # one pass per norm layer, in forward order
            sums: list[torch.Tensor | int] = [0, 0, 0]
            for tile in tiles:
                rows, cols = tile.crop(piece.norm_scales[norm])

                def summarise(
                    t: torch.Tensor, rows: slice = rows, cols: slice = cols, sums: list = sums,
                ) -> None:
                    for k, value in enumerate(_moments(t[..., rows, cols])):
                        sums[k] = sums[k] + value

                top, bottom, left, right = tile.region
                passing = _with_norms(module, {**fixed, norm: _Summarise(summarise)})
                try:
                    passing(x[..., top:bottom, left:right])
                except _Stop:
                    continue
                raise RuntimeError(f"{type(module).__name__} never called its norm layer")
            total, squares, count = sums  # tensors once a tile has added its moments
            assert isinstance(total, torch.Tensor) and isinstance(squares, torch.Tensor)
            assert isinstance(count, int)
            fixed[norm] = WholeImageNorm(*_affine_terms(norm, total, squares, count, x.dtype))
        scale = piece.scale
        shape = (x.shape[0], piece.out_shape[1], int(x.shape[-2] * scale),
                 int(x.shape[-1] * scale))
        out = None
        whole = _with_norms(module, fixed)
        for tile in tiles:
            top, bottom, left, right = tile.region
            y = whole(x[..., top:bottom, left:right])
            if out is None:  # in the layout the layers chose (channels-last for bf16)
                out = torch.empty(shape, dtype=y.dtype, device=y.device,
                                  memory_format=memory_layout(y))
            out[(..., *tile.placed(scale))] = y[(..., *tile.crop(scale))]
        assert out is not None
        return out


def run_tiled(
    module: nn.Module, x: torch.Tensor, max_memory: int | None = None, *,
    tile: int | None = None, held: int = 0,
) -> torch.Tensor:
    """``module(x)`` for a feed-forward image network, within ``max_memory`` bytes of tensors
    (or in tiles of at most ``tile`` px a side, for tests). Exact up to float rounding."""
    with torch.no_grad():
        return TiledRunner(max_memory, tile=tile).run(module, x, held)
