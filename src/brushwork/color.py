"""Colour preservation and style strength: two ways to keep more of the photo.

**Colour preservation** is the luminance-only transfer of Gatys, Bethge, Hertzmann and
Shechtman, "Preserving Color in Neural Artistic Style Transfer" (arXiv:1606.05897, 2016): the
painting keeps its luminance (brush strokes, texture, light and shade) and takes its colour
from the photo. The paper works in YIQ; we use BT.601 luma (0.299 R + 0.587 G + 0.114 B), the
same luminance MT-Net's L-Block sees. When *all* of the chroma comes from the photo the choice of
Y-based space does not matter: YIQ, YUV and YCbCr share this Y row and differ only by a linear
map of the chroma plane, so in every one of them the result is

    out = Y(painting) + (photo - Y(photo))   (the photo's chroma on the painting's luma)

The paper's other method, colour histogram matching of the artwork before training, needs the
artwork and a retrained model; luminance-only transfer works on any model at test time, so it
is the one we use. (The paper's luminance-only variant also matches the artwork's luminance
histogram to the photo's before *training*; a feed-forward model has already learned its
luminance, so that step has no test-time counterpart.)

*Out-of-gamut pixels (ours).* A dark stroke over a saturated colour gives an RGB value outside
[0, 1] (a saturated blue has a blue channel far above its luma). Clipping each channel, as a
plain YIQ-to-RGB conversion does, changes the luminance there: the stroke loses contrast.
Instead, where a pixel would leave the gamut, its chroma is scaled down just enough to fit
(per pixel: the largest k <= 1 with Y + k * chroma inside [0, 1] on every channel). The
painting's luminance is then kept exactly and the photo's hue kept, with saturation reduced
only in those pixels; in-gamut pixels are exactly the formula above.

**Strength** is a linear blend with the photo, applied last:
``strength * painting + (1 - strength) * photo``. 1 is the model's full painting, 0 the photo.
Both terms are inside the gamut, so the blend is too.

The photo is resized to the painting's size with the same bilinear filter the network uses
for its input, so the two line up pixel for pixel.

**Colour matching of an artwork** (``match_colours``) is that paper's other method, used before
training a two-artwork style (paper Fig. 7; ``LossConfig.fine_colours``): the fine artwork is
recoloured to the coarse artwork's colour statistics, so the refine level learns the fine
painting's brushwork without repainting the coarse painting's colours (without it, a style with
The Great Wave at levels 1-2 and Morisot at level 3 came out in Morisot's colours at every scale:
docs/styles/zoo.md).
"""

from __future__ import annotations

import numpy as np
import torch
from PIL import Image

from .errors import BrushworkError
from .hyper_parameters import LUMA_WEIGHTS
from .losses.colour import colour_statistics, recolour_batch


def check_strength(strength: float) -> float:
    """``strength`` as a float in [0, 1], or a BrushworkError saying what is allowed."""
    try:
        value = float(strength)
    except (TypeError, ValueError):
        raise BrushworkError(f"strength must be a number from 0 to 1, not {strength!r}") from None
    if not 0.0 <= value <= 1.0:  # also rejects NaN
        raise BrushworkError(f"strength must be from 0 to 1 (1 = full style), not {strength}")
    return value


def _array(image: Image.Image) -> np.ndarray:
    return np.asarray(image.convert("RGB"), dtype=np.float32) / 255.0


def _photo_like(photo: Image.Image, painting: Image.Image) -> np.ndarray:
    if photo.size != painting.size:
        photo = photo.convert("RGB").resize(painting.size, Image.Resampling.BILINEAR)
    return _array(photo)


def _image(array: np.ndarray) -> Image.Image:
    return Image.fromarray((np.clip(array, 0.0, 1.0) * 255.0).round().astype(np.uint8), "RGB")


def luminance(array: np.ndarray) -> np.ndarray:
    """BT.601 luma of an (H, W, 3) float array in [0, 1], as (H, W, 1)."""
    return (array @ np.asarray(LUMA_WEIGHTS, dtype=np.float32))[..., None]


def _luminance_transfer(painting: np.ndarray, photo: np.ndarray) -> np.ndarray:
    """The painting's luma with the photo's chroma, scaled down per pixel to stay in gamut."""
    luma = np.clip(luminance(painting), 0.0, 1.0)
    chroma = photo - luminance(photo)
    with np.errstate(divide="ignore", invalid="ignore"):
        room = np.where(chroma > 0, (1.0 - luma) / chroma,
                        np.where(chroma < 0, -luma / chroma, np.inf))
    scale = np.clip(room.min(axis=-1, keepdims=True), 0.0, 1.0)
    return luma + scale * chroma


def match_colours(image: Image.Image, reference: Image.Image) -> Image.Image:
    """``image`` with the mean and covariance of ``reference``'s RGB colours.

    The linear map of Gatys et al.'s colour histogram matching, in its symmetric form
    (Hertzmann's Image Analogies): ``x -> A (x - mean) + reference mean`` with
    ``A = C_ref^(1/2) C^(-1/2)``, so the result's covariance is ``C_ref``. Unlike a rotation
    of colour axes, the symmetric root moves every colour as little as this allows, so the
    image's light and dark (its strokes) stay where they are. Out-of-gamut values are clipped.
    """
    source = torch.from_numpy(_array(image)).permute(2, 0, 1).unsqueeze(0).double()
    reference_mean, reference_cov = colour_statistics(
        torch.from_numpy(_array(reference).reshape(-1, 3)))
    matched = recolour_batch(source, reference_mean, reference_cov)
    return _image(matched[0].permute(1, 2, 0).numpy())


def adjust(
    painting: Image.Image, photo: Image.Image, *, preserve_color: bool = False,
    strength: float = 1.0,
) -> Image.Image:
    """The painting with the photo's colours kept and/or blended back in (see the module).

    With the defaults (no preservation, strength 1) the painting is returned unchanged.
    """
    strength = check_strength(strength)
    if not preserve_color and strength == 1.0:
        return painting
    styled = _array(painting)
    original = _photo_like(photo, painting)
    if preserve_color:
        styled = _luminance_transfer(styled, original)
    if strength != 1.0:
        styled = strength * styled + (1.0 - strength) * original
    return _image(styled)


def preserve_color(painting: Image.Image, photo: Image.Image) -> Image.Image:
    """Luminance-only transfer: the painting's luminance with the photo's colours."""
    return adjust(painting, photo, preserve_color=True)


def blend(painting: Image.Image, photo: Image.Image, strength: float) -> Image.Image:
    """``strength`` of the painting over ``1 - strength`` of the photo."""
    return adjust(painting, photo, strength=strength)
