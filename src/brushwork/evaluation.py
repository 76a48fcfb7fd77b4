"""Objective scores for stylised images: a multi-scale style distance and a content distance.

The paper argues with pictures; these numbers let a reader check its claims.

* **Style distance at scale s**: resize the stylised output and the artwork so that their long
  side is s pixels (bilinear, antialiased), take the Gram matrices of VGG-19 relu1_1, relu2_1,
  relu3_1 and relu4_1 (normalised by C*H*W, exactly as in training), and sum over the four layers
  the mean squared difference between the two images' Grams. Reported for s = 256, 512 and 1024:
  a texture painted at the wrong scale matches the artwork at some scale but not at the others.
* **Content distance**: the mean squared difference of relu4_2 features between the output and
  the photo, the photo resized to the output's size, both with long side 512 (ours: a fixed size,
  so scores of outputs of different sizes compare).

* **Structure** (ours): the correlation of the output's and the photo's luminance, both
  resized to long side ``STRUCTURE_SIZE`` (antialiased, so strokes average out and the
  picture's layout of light and dark remains). 1 keeps the photo's layout, ~0 paints
  something unrelated (a flat image, or a texture field of blobs, as runs without the texture
  warm-up painted: docs/styles/calibration.md). The relu4_2 content distance does not
  separate these well under strong stylisation (a grey image scores 3e5-6e5 and a painting
  that keeps the photo ~4e5).

Lower is better for the distances, higher for structure. Distances are raw (no weights), so
the numbers do not depend on the texture weights a model was trained with.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import cast

import torch

from .hyper_parameters import CONTENT_LAYER, TEXTURE_LAYERS
from .losses.perceptual import content_loss, gram, resize_long_side
from .losses.vgg import VGG19Features, build_vgg
from .networks.multimodal import luminance

#: Long sides at which the style distance is measured (ours: the paper's three scales).
EVAL_SCALES = (256, 512, 1024)
#: Long side at which the content distance is measured (ours).
CONTENT_SIZE = 512
#: Long side at which structure is compared (ours: 64 px keeps a photo's shapes and layout
#: and averages brush strokes away).
STRUCTURE_SIZE = 64


@dataclass
class Scores:
    """Style distance per scale (long side -> distance) and content distance."""

    style: dict[int, float] = field(default_factory=dict)
    content: float | None = None
    structure: float | None = None


class Evaluator:
    """Holds the loss network and the artwork's Grams at every scale (computed once)."""

    def __init__(
        self, style: torch.Tensor, scales: Sequence[int] = EVAL_SCALES,
        vgg: VGG19Features | None = None,
    ) -> None:
        self.vgg = vgg or build_vgg((*TEXTURE_LAYERS, CONTENT_LAYER))
        self.scales = tuple(scales)
        with torch.no_grad():
            self.style_grams = {s: self._grams(resize_long_side(style, s)) for s in self.scales}

    def _grams(self, image: torch.Tensor) -> list[torch.Tensor]:
        features = self.vgg(image)
        return [gram(features[layer]) for layer in TEXTURE_LAYERS]

    def style_distance_tensor(self, image: torch.Tensor, scale: int) -> torch.Tensor:
        """The style distance as a differentiable tensor (for optimisation and tests)."""
        grams = self._grams(resize_long_side(image, scale))
        return cast(torch.Tensor, sum(torch.mean((a - b) ** 2)
                                      for a, b in zip(grams, self.style_grams[scale])))

    @torch.no_grad()
    def style_distance(self, image: torch.Tensor, scale: int) -> float:
        return float(self.style_distance_tensor(image, scale))

    @torch.no_grad()
    def content_distance(self, image: torch.Tensor, photo: torch.Tensor) -> float:
        out = resize_long_side(image, CONTENT_SIZE)
        ref = torch.nn.functional.interpolate(
            photo, size=out.shape[-2:], mode="bilinear", align_corners=False, antialias=True
        )
        return float(content_loss(self.vgg(out)[CONTENT_LAYER], self.vgg(ref)[CONTENT_LAYER]))

    def score(self, image: torch.Tensor, photo: torch.Tensor | None = None) -> Scores:
        scores = Scores({s: self.style_distance(image, s) for s in self.scales})
        if photo is not None:
            scores.content = self.content_distance(image, photo)
            scores.structure = structure(image, photo)
        return scores


def structure(image: torch.Tensor, photo: torch.Tensor) -> float:
    """Correlation of the luminance of ``image`` and ``photo`` (N=1, RGB in [0, 1]) at
    ``STRUCTURE_SIZE``: how much of the photo's layout of light and dark a painting keeps."""
    small = resize_long_side(luminance(image.float()), STRUCTURE_SIZE)
    ref = torch.nn.functional.interpolate(luminance(photo.float()), size=small.shape[-2:],
                                          mode="bilinear", align_corners=False, antialias=True)
    a, b = small.flatten() - small.mean(), ref.flatten() - ref.mean()
    denominator = float(a.norm() * b.norm())
    return float(a @ b) / denominator if denominator > 0 else 0.0


def psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    """Peak signal-to-noise ratio in dB of two images in [0, 1] (inf when identical): how the
    compact (int8) models and other faster paths are held to the float32 output."""
    mse = torch.mean((a.double() - b.double()) ** 2).item()
    return float("inf") if mse == 0 else 10 * torch.log10(torch.tensor(1.0 / mse)).item()


#: Long side and tile side at which ``orientation_energy`` is measured (ours: at 512 px a
#: 32 px tile holds a few strokes of a painting; a barcode streak crosses many tiles).
STREAK_SIZE = 512
STREAK_TILE = 32


def orientation_energy(image: torch.Tensor) -> tuple[float, float]:
    """How much of an image's detail lies along vertical and along horizontal lines, each
    from 0 (none) to 1 (all of it).

    Per STREAK_TILE tile of the luminance at STREAK_SIZE, the energy of the horizontal
    neighbour differences Ex against the vertical ones Ey: (Ex - Ey) / (Ex + Ey) is 1 where
    every edge is a vertical line, -1 for horizontal lines, about 0 for texture, strokes or
    edges at other angles. The 90th percentile over tiles of each sign (a streaked sky or
    fur is a region, not the whole picture). Straight vertical things in a photo (trees,
    columns) and a painting's own strokes (Manet's horizontal ripples) score too, so compare
    a painted photo with its photo and its painting, axis by axis (``quality_report``): the
    streaks docs/styles/own-painting.md shows were vertical lines that neither had.
    """
    lum = resize_long_side(luminance(image.float()), STREAK_SIZE)[0, 0]
    ex = (lum[:, 1:] - lum[:, :-1])[:-1, :].pow(2)
    ey = (lum[1:, :] - lum[:-1, :])[:, :-1].pow(2)
    t = STREAK_TILE
    h, w = (s // t * t for s in ex.shape)
    if h == 0 or w == 0:
        return 0.0, 0.0

    def per_tile(energy: torch.Tensor) -> torch.Tensor:
        return energy[:h, :w].reshape(h // t, t, w // t, t).mean(dim=(1, 3)).flatten()

    x, y = per_tile(ex), per_tile(ey)
    balance = (x - y) / (x + y).clamp_min(1e-12)
    return (float(torch.quantile(balance.clamp(min=0), 0.9)),
            float(torch.quantile((-balance).clamp(min=0), 0.9)))
