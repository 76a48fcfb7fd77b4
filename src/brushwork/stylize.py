"""Hierarchical stylisation at test time (paper 3.1): any size, any aspect ratio.

The requested size is the long side of the final output; the levels run at size/4, size/2 and
size, each keeping the photo's aspect ratio (a 3:2 photo at 1024 gives 1024x683, with levels
512x341 and 256x171). The stride-2 layers need sides that are multiples of 32 at full size,
so the resized photo is reflect-padded on the bottom and right to the next multiple and every
level is cropped back: the output is never squashed and never drifts from the requested size.

With a memory budget, the hierarchy runs level by level and each subnet runs within what is
left of the budget, in tiles where it must (``tiling``): at 4096 the refine subnet works on
16.8 megapixels and the enhance subnet on 4.2, and their activations alone would need ~10 GB.
The style subnet still sees the whole photo at size/4 (a tiled first level would lose the
hierarchy's coarse view, GUIDE 5), and the tiled result equals the untiled one.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .errors import BrushworkError
from .hyper_parameters import LEVEL_SCALES, SIZE_MULTIPLE
from .networks.multimodal import resize
from .tiling import TiledRunner, estimated_peak, memory_budget, profile

#: Full-size sides are padded to a multiple of this: size/4 must still be a multiple of 8.
FULL_SIZE_MULTIPLE = 4 * SIZE_MULTIPLE
#: Largest long side we accept (ours: 16384^2 RGB float32 is 3 GB before the network runs).
MAX_SIZE = 16384


def scaled_size(height: int, width: int, long_side: int) -> tuple[int, int]:
    """(H, W) with the given long side and the aspect ratio of (height, width)."""
    scale = long_side / max(height, width)
    return max(1, round(height * scale)), max(1, round(width * scale))


def level_sizes(height: int, width: int, size: int) -> list[tuple[int, int]]:
    """Visible size of every level for a (height, width) photo stylised at long side ``size``."""
    return [scaled_size(height, width, max(1, round(size * s))) for s in LEVEL_SCALES]


def check_size(size: int) -> None:
    if not isinstance(size, int) or size <= 0:
        raise BrushworkError(f"size must be a positive number of pixels, not {size!r}")
    if size > MAX_SIZE:
        raise BrushworkError(f"size {size} is above the limit of {MAX_SIZE} pixels")


def _pad(image: torch.Tensor, multiple: int) -> torch.Tensor:
    h, w = image.shape[-2:]
    bottom, right = -h % multiple, -w % multiple
    if not bottom and not right:
        return image
    # Reflection needs the pad to be smaller than the side; tiny images fall back to replicate.
    mode = "reflect" if bottom < h and right < w else "replicate"
    return F.pad(image, (0, right, 0, bottom), mode=mode)


def stylize_tensor(
    net: nn.Module, photo: torch.Tensor, size: int, max_memory: int | str | None = None
) -> list[torch.Tensor]:
    """Run the hierarchy on a (1, 3, h, w) photo in [0, 1]; return y1, y2, y3 cropped.

    ``max_memory`` (bytes, or a text like '1.5GB') bounds the tensors alive at once, the
    photo included; None runs the network whole, as training previews do. Outputs are
    unclamped network values; ``images.to_image`` clamps when saving.
    """
    check_size(size)
    h, w = photo.shape[-2:]
    visible = level_sizes(h, w, size)
    if max_memory is None:
        levels = net(_pad(resize(photo, visible[-1]), FULL_SIZE_MULTIPLE))
    else:
        budget = memory_budget(max_memory, photo.device)
        with torch.no_grad():
            levels = _levels_within(net, photo, visible[-1], budget)
    # A single-level network (the baselines) returns only the full-size output.
    return [level[..., :vh, :vw] for level, (vh, vw) in zip(levels, visible[-len(levels):])]


class _LastLevel(nn.Module):
    """A network that is not a hierarchy of subnets, as one module giving its final output."""

    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.net = net

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)[-1]


def _levels_within(
    net: nn.Module, photo: torch.Tensor, full_size: tuple[int, int], budget: int
) -> list[torch.Tensor]:
    """The levels of ``net`` on ``photo`` at ``full_size``, within ``budget`` bytes."""
    full = _pad(resize(photo, full_size), FULL_SIZE_MULTIPLE)
    runner = TiledRunner(budget, profile(net, full))
    held = photo.nbytes  # the caller keeps the photo
    if runner.fits(estimated_peak(net, full), held):
        return net(full)  # the default 1024 path: exactly as without a budget
    subnets = getattr(net, "subnets", None)
    sizes = None if subnets is None else net.test_sizes(*full.shape[-2:])
    if sizes is None or len(subnets) != len(sizes):  # not a hierarchy: tile it whole
        return [runner.run(_LastLevel(net), full, held)]
    outputs: list[torch.Tensor] = []
    previous = full
    del full
    for subnet, level_size in zip(subnets, sizes):
        x = resize(previous, level_size)
        del previous  # the full-size photo is needed only to make the first level's input
        previous = runner.run(subnet, x, held + sum(o.nbytes for o in outputs))
        del x
        outputs.append(previous)
    return outputs
