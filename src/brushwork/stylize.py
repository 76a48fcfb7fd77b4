"""Hierarchical stylisation at test time (paper 3.1): any size, any aspect ratio.

The requested size is the long side of the final output. At 1024 the levels run at size/4,
size/2 and size (the paper's 256 -> 512 -> 1024), each keeping the photo's aspect ratio: a 3:2
photo at 1024 gives 1024x683, with levels 512x341 and 256x171. From 512 to 1024 the style and
enhance subnets stay at 256 and 512 and only the refine level follows the size; below 512 the
levels run at size/4, size/2, size (``level_long_sides`` says why). Each level's input is
reflect-padded on the bottom and right to what its stride-2 layers need and its output cropped
back, so the output is never squashed and never drifts from the requested size.

Beyond 1024 the hierarchy is extended recursively, as the paper suggests: the style subnet
keeps painting at 256 (``COARSE_SIZE``) and the enhance subnet at 512, so the coarse texture
keeps the scale it has at 1024 relative to the picture, and the refine subnet runs once per
doubling (1024, 2048, 4096, ...), each pass adding brushwork at its own pixel scale. Running
the style subnet at size/4 instead (1024 px for a 4096 output) would paint the coarse texture
four times smaller relative to the picture: the texture-scale mismatch the paper sets out to
fix. ``coarse`` moves that anchor (smaller: larger strokes relative to the picture).

With a memory budget, each level's subnet runs within what is left of the budget, in tiles
where it must (``tiling``): at 4096 the last refine pass works on 16.8 megapixels. The style
subnet always sees the whole photo (a tiled first level would lose the hierarchy's coarse
view, GUIDE 5), and the tiled result equals the untiled one.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from .errors import BrushworkError
from .hyper_parameters import COARSE_SIZE, LEVEL_SCALES, SIZE_MULTIPLE
from .networks.multimodal import like_parameters, resize
from .tiling import TiledRunner, memory_budget

#: Sides of a network without a declared ``size_multiple`` are padded to a multiple of this.
FULL_SIZE_MULTIPLE = 4 * SIZE_MULTIPLE
#: Levels an MT-Net is trained with (style, enhance, refine); passes beyond are extra refines.
TRAINED_LEVELS = 3
#: Largest long side we accept (ours: 16384^2 RGB float32 is 3 GB before the network runs).
MAX_SIZE = 16384


def scaled_size(height: int, width: int, long_side: int) -> tuple[int, int]:
    """(H, W) with the given long side and the aspect ratio of (height, width)."""
    scale = long_side / max(height, width)
    return max(1, round(height * scale)), max(1, round(width * scale))


def level_long_sides(size: int, coarse: int = COARSE_SIZE) -> list[int]:
    """Long side of every level's output for a final long side ``size``.

    At ``4 * coarse`` (1024): size/4, size/2, size (paper 3.1). Beyond: coarse, 2 * coarse,
    then refine levels spaced evenly in scale up to ``size``, about one per doubling (2048 ->
    256, 512, 1024, 2048; 3000 -> 256, 512, 922, 1660, 3000). From ``2 * coarse`` up to
    ``4 * coarse`` (512-1024): coarse, 2 * coarse, size, for the same reason (ours): at 512
    the paper's size/4 runs the style subnet at 128 px, where its strokes, a fixed number of
    pixels, cover twice as much of the picture as at 1024, and smear the photo. On the three
    sample photos at 512 with five styles, keeping it at 256 raised the luminance structure
    in 13 of 15 cases (e.g. 0.773 -> 0.804) and brought the painting closer in 14 of 15
    (style distance at 256 relative to the photo's: 1.13 -> 0.58, 0.68 -> 0.54), as close as
    painting at 1024 and shrinking the result (``experiments/small_sizes.py``). Below
    ``2 * coarse`` the enhance level would be larger than the output: size/4, size/2, size.
    """
    if size <= 4 * coarse:
        if size >= 2 * coarse:
            return [coarse, 2 * coarse, size]
        return [max(1, round(size * s)) for s in LEVEL_SCALES]
    base = 2 * coarse
    passes = max(1, round(math.log2(size / base)))
    return [coarse, base] + [round(base * (size / base) ** (i / passes))
                             for i in range(1, passes + 1)]


def level_sizes(
    height: int, width: int, size: int, coarse: int = COARSE_SIZE
) -> list[tuple[int, int]]:
    """Visible size of every level for a (height, width) photo stylised at long side ``size``."""
    return [scaled_size(height, width, side) for side in level_long_sides(size, coarse)]


def check_size(size: int) -> None:
    if not isinstance(size, int) or size <= 0:
        raise BrushworkError(f"size must be a positive number of pixels, not {size!r}")
    if size > MAX_SIZE:
        raise BrushworkError(f"size {size} is above the limit of {MAX_SIZE} pixels")


def check_coarse(coarse: int) -> None:
    """``coarse`` (the style subnet's long side beyond ``4 * coarse``) must be a positive int."""
    if isinstance(coarse, bool) or not isinstance(coarse, int) or coarse <= 0:
        raise BrushworkError(f"coarse must be a positive number of pixels, not {coarse!r}")


def _pad(image: torch.Tensor, multiple: int) -> torch.Tensor:
    """Pad bottom and right to a multiple of ``multiple``, and to at least twice it.

    Twice the multiple leaves every stride-2 stage at least 2 px, so the reflection padding
    inside the network (which needs a side larger than the pad) works for tiny outputs too.
    """
    h, w = image.shape[-2:]
    smallest = max(2 * multiple, 8)  # 8: room for the 9x9 input convolutions' padding of 4
    bottom = max(-h % multiple, smallest - h)
    right = max(-w % multiple, smallest - w)
    if not bottom and not right:
        return image
    # Reflection needs the pad to be smaller than the side; tiny images fall back to replicate.
    mode = "reflect" if bottom < h and right < w else "replicate"
    return F.pad(image, (0, right, 0, bottom), mode=mode)


def stylize_tensor(
    net: nn.Module, photo: torch.Tensor, size: int, max_memory: int | str | None = None,
    coarse: int = COARSE_SIZE, on_level: Callable[[int, int], None] | None = None,
) -> list[torch.Tensor]:
    """Run the hierarchy on a (1, 3, h, w) photo in [0, 1]; return every level, coarse first.

    ``max_memory`` (bytes, or a text like '1.5GB') bounds the tensors alive at once, the
    photo included; None runs each subnet whole, as training previews do. A single-level
    network (the paper's baselines) runs once at the full size. Outputs are unclamped
    network values; ``images.to_image`` clamps when saving. ``coarse``: see
    ``level_long_sides`` (``coarse`` = size / 4 gives the paper's size/4, size/2, size).
    ``on_level(k, n)`` is called as level k of n is done.

    ``net`` is run as given: painting passes the network ``fuse`` built for inference (the
    same function, faster layers: networks/fused.py), training previews the modules.
    """
    check_size(size)
    check_coarse(coarse)
    h, w = photo.shape[-2:]
    hierarchical = hasattr(net, "level_subnets")
    visible = level_sizes(h, w, size, coarse) if hierarchical else [scaled_size(h, w, size)]
    modules = net.level_subnets(len(visible)) if hierarchical else [_LastLevel(net)]
    runner = None
    if max_memory is not None:
        runner = TiledRunner(memory_budget(max_memory, photo.device))
    outputs: list[torch.Tensor] = []
    previous = photo
    for level, (module, (vh, vw)) in enumerate(zip(modules, visible)):
        source = resize(previous, (vh, vw))
        extra_pass = hierarchical and level >= TRAINED_LEVELS
        source_mean = _channel_means(source) if extra_pass else None
        x = _pad(source, getattr(module, "size_multiple", 1))
        del source
        x = like_parameters(x, module)  # levels may differ in precision and layout
        if runner is None:
            y = module(x)
        else:
            held = photo.nbytes + sum(o.nbytes for o in outputs)
            with torch.no_grad():
                y = runner.run(module, x, held)
        del x
        previous = y[..., :vh, :vw]
        if source_mean is not None:
            previous = _keep_colour(previous, source_mean)
        outputs.append(previous)
        if on_level is not None:
            on_level(level + 1, len(visible))
    return outputs


def _channel_means(image: torch.Tensor) -> torch.Tensor:
    """Per-channel mean of (N, C, H, W) in float32, shaped to broadcast: (N, C, 1, 1)."""
    return image.float().mean(dim=(-2, -1), keepdim=True)


def _keep_colour(output: torch.Tensor, source_mean: torch.Tensor) -> torch.Tensor:
    """Shift an extra refine pass's output back to its input's mean colour, in place.

    The refine subnet was trained once, on the enhance subnet's output, and learned to lift
    that darker picture towards the artwork's palette; run again on its own output (beyond
    1024 px) it lifts again, and the picture turned paler and yellower with every pass (mean
    RGB 89, 116, 129 at 1024 -> 149, 164, 162 at 4096). A pass beyond the trained ones is
    there to add brushwork at a finer pixel scale, not to change the palette, so its mean
    colour is reset to its input's. One global shift over the whole image (never per tile),
    so tiled and untiled results stay equal; contrast and texture are untouched.
    """
    shift = (_channel_means(output) - source_mean).to(output.dtype)
    return output.sub_(shift)


class _LastLevel(nn.Module):
    """A network that is not a hierarchy of subnets, as one module giving its final output."""

    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.net = net
        self.size_multiple = getattr(net, "size_multiple", FULL_SIZE_MULTIPLE)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)[-1]
