"""The level schedule at test time: the visible size of every level, coarse to fine.

``plan_levels`` is the one definition: painting (``hierarchy.stylize_tensor``, tiled or not),
``Stylizer.preview``, ``MTNet.forward``'s default and the ONNX graph (``onnx_export``, which
writes the same arithmetic as graph operations; tests/test_levels.py holds its level shapes to
this function) all follow it. Plain integer arithmetic, no tensors, so the networks can import
it without importing what runs them.

The requested size is the long side of the final output. At 1024 the levels run at size/4,
size/2 and size (the paper's 256 -> 512 -> 1024), each keeping the photo's aspect ratio: a 3:2
photo at 1024 gives 1024x683, with levels 512x341 and 256x171. From 512 to 1024 the style and
enhance subnets stay at 256 and 512 and only the refine level follows the size; below 512 the
levels run at size/4, size/2, size (``level_long_sides`` says why).

Beyond 1024 the hierarchy is extended recursively, as the paper suggests: the style subnet
keeps painting at 256 (``COARSE_SIZE``) and the enhance subnet at 512, so the coarse texture
keeps the scale it has at 1024 relative to the picture, and the refine subnet runs once per
doubling (1024, 2048, 4096, ...), each pass adding brushwork at its own pixel scale. Running
the style subnet at size/4 instead (1024 px for a 4096 output) would paint the coarse texture
four times smaller relative to the picture: the texture-scale mismatch the paper sets out to
fix. ``coarse`` moves that anchor (smaller: larger strokes relative to the picture).
"""

from __future__ import annotations

import math

from .errors import BrushworkError
from .hyper_parameters import COARSE_SIZE, LEVEL_SCALES

#: Levels an MT-Net is trained with (style, enhance, refine); passes beyond are extra refines.
TRAINED_LEVELS = 3
#: Largest long side we accept (ours: 16384^2 RGB float32 is 3 GB before the network runs).
MAX_SIZE = 16384

Size = tuple[int, int]


def scaled_size(height: int, width: int, long_side: int) -> Size:
    """(H, W) with the given long side and the aspect ratio of (height, width)."""
    scale = long_side / max(height, width)
    return max(1, round(height * scale)), max(1, round(width * scale))


def level_long_sides(size: int, coarse: int = COARSE_SIZE) -> list[int]:
    """Long side of every level's output for a final long side ``size`` (``plan_levels``).

    At ``4 * coarse`` (1024): size/4, size/2, size (paper 3.1). Beyond: coarse, 2 * coarse,
    then refine levels spaced evenly in scale up to ``size``, about one per doubling (2048 ->
    256, 512, 1024, 2048; 3000 -> 256, 512, 922, 1660, 3000). From ``2 * coarse`` up to
    ``4 * coarse`` (512-1024): coarse, 2 * coarse, size, for the same reason (ours): at 512
    the paper's size/4 runs the style subnet at 128 px, where its strokes, a fixed number of
    pixels, cover twice as much of the picture as at 1024, and smear the photo; keeping it at
    256 painted closer to the style and kept more of the photo's structure, as close as
    painting at 1024 and shrinking the result (docs/architecture.md, "Test time", gives the
    measurements; ``experiments/small_sizes.py``). Below ``2 * coarse`` the enhance level
    would be larger than the output: size/4, size/2, size.
    """
    if size <= 4 * coarse:
        if size >= 2 * coarse:
            return [coarse, 2 * coarse, size]
        return [max(1, round(size * s)) for s in LEVEL_SCALES]
    base = 2 * coarse
    passes = max(1, round(math.log2(size / base)))
    return [coarse, base] + [round(base * (size / base) ** (i / passes))
                             for i in range(1, passes + 1)]


def plan_levels(height: int, width: int, size: int, coarse: int = COARSE_SIZE) -> list[Size]:
    """Visible (H, W) of every level, coarse to fine, for a (height, width) photo painted at
    long side ``size``: ``level_long_sides`` at the photo's aspect ratio. The first three are
    the style, enhance and refine subnets; any beyond ``TRAINED_LEVELS`` are refine passes.
    Each level's input is padded to what its subnet needs and its output cropped back to this
    size (``hierarchy.paint_level``)."""
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
