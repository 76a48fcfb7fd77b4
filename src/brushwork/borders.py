"""The border of a painting's reproduction: a scan's black margin, a mat, a frame's gilt edge.

Museum images of paintings often keep a few pixels of what surrounds the canvas: a black
margin, then one or two bright lines where the frame's gilt edge or the canvas's edge catches
the light (the Met's Delacroix, *The Abduction of Rebecca*: 5 px of black, then 4 px of gilt,
on all four sides). They are not the painting's style, but a Gram matrix cannot tell: a
straight bright line the painting's full height is, to VGG, a strong vertical stroke. Trained
on such a scan, the default recipe painted vertical light bars like drips across reefs and
trees, and the line raised the painting's measured texture strength (hence its texture
weights) and its vertical-line energy, the baseline of the streak check, which then passed
the bars (docs/styles/own-painting.md, "Scan borders"). So every artwork is trimmed before it
becomes a style target (``LossConfig.trim_border``) and before the recipe or the quality
report measures it.

How a border is found, side by side: first the lines (rows or columns) from the edge inwards
that are one flat colour (a margin or mat, up to BORDER_UNIFORM_MAX of the side); then, within
BORDER_SEARCH of the side beyond them, every step between neighbouring lines that is the same
along the whole line (the median of the step over the line's length at least BORDER_STEP
grey levels), which a frame's straight edge is and a painting's content is not (its steps
change sign along the line, so their median is near 0). The cut is one line past the last
such step.
"""

from __future__ import annotations

import numpy as np
from PIL import Image

from .hyper_parameters import BORDER_SEARCH, BORDER_STEP, BORDER_UNIFORM_MAX, BORDER_UNIFORM_STD

#: The most of a side that is ever trimmed from each end (ours: a safety bound, so that a
#: picture that is all margin-like, a flat test pattern, keeps its middle half).
MAX_TRIM = 0.25


def _cut(lines: np.ndarray) -> int:
    """Lines to trim from the start of ``lines`` (one row of luminance per line, edge first)."""
    count = lines.shape[0]
    limit = int(count * MAX_TRIM)
    uniform = 0
    first = float(lines[0].mean())
    while (uniform < int(count * BORDER_UNIFORM_MAX) and lines[uniform].std() < BORDER_UNIFORM_STD
           and abs(float(lines[uniform].mean()) - first) < BORDER_UNIFORM_STD):
        uniform += 1
    start = max(uniform - 1, 0)  # the step from the margin into the picture counts too
    end = min(uniform + max(3, round(count * BORDER_SEARCH)), count - 1)
    steps = np.median(lines[start + 1:end + 1] - lines[start:end], axis=1)
    edges = np.flatnonzero(np.abs(steps) >= BORDER_STEP)
    cut = start + int(edges[-1]) + 2 if edges.size else uniform
    return min(cut, limit)


def border_margins(image: Image.Image) -> tuple[int, int, int, int]:
    """Pixels of border at the left, top, right and bottom of ``image`` (see the module)."""
    lum = np.asarray(image.convert("L"), dtype=np.float32)
    if min(lum.shape) < 8:
        return 0, 0, 0, 0
    return _cut(lum.T), _cut(lum), _cut(lum.T[::-1]), _cut(lum[::-1])


def trim_border(image: Image.Image,
                margins: tuple[int, int, int, int] | None = None) -> Image.Image:
    """``image`` without its scan border (the image itself where it has none); ``margins``
    when ``border_margins`` has already measured them."""
    left, top, right, bottom = margins if margins is not None else border_margins(image)
    if not (left or top or right or bottom):
        return image
    return image.crop((left, top, image.width - right, image.height - bottom))
