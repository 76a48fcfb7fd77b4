"""The image-only temporal term: paint a moved photo as the moved painting.

A feed-forward network paints a clip frame by frame; it flickers because it does not paint a
moved picture as a moved painting: its strided layers and instance norms turn a shift of a
pixel, or a few grey levels of compression noise, into different strokes (docs/video.md: a
3 px pan of a still photo, painted frame by frame, changes 400x more than the photo does).
Wang et al. (AAAI 2020, "Consistent video style transfer via compound regularization") showed
that this needs no video to learn: move a photo by a random small motion, add noise, and
penalise the difference between the painting of the moved photo and the moved painting.

Here the painting that is moved is the teacher's (``distillation``): the student is pulled
towards the teacher's painting of each crop as before, and towards the same painting, moved,
for the moved crop, so the student learns the teacher's strokes and to keep them still when
the picture moves under them. Motions are drawn per crop: a sub-pixel translation, a small
zoom and rotation about the centre, and a smooth random deformation (``DistilConfig``'s
``temporal_*`` fields give the sizes and why).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

#: Side of the coarse grid of random offsets that is upsampled into the smooth deformation
#: (ours: 4x4 over a crop, so the deformation varies over a quarter of it, as parallax does).
DEFORMATION_GRID = 4


def random_motion(batch: int, height: int, width: int, *, shift: float, zoom: float,
                  rotation: float, deform: float) -> torch.Tensor:
    """Source coordinates, in pixels, of every output pixel of ``batch`` random motions:
    (N, H, W, 2) as (x, y). Drawn from torch's global generator (so a seeded, checkpointed run
    draws the same motions): translation uniform in +-``shift`` px per axis, zoom factor in
    1 +- ``zoom``, rotation in +-``rotation`` degrees about the centre, plus a smooth
    deformation of standard deviation ``deform`` px. All zero: the identity."""
    ys, xs = torch.meshgrid(torch.arange(height, dtype=torch.float32),
                            torch.arange(width, dtype=torch.float32), indexing="ij")
    cx, cy = (width - 1) / 2, (height - 1) / 2
    u = 2 * torch.rand(batch, 4) - 1
    scale = 1 + zoom * u[:, 0]
    angle = math.radians(rotation) * u[:, 1]
    cos, sin = (torch.cos(angle) / scale).view(-1, 1, 1), (torch.sin(angle) / scale).view(-1, 1, 1)
    dx, dy = xs - cx, ys - cy
    source_x = cx + cos * dx - sin * dy - shift * u[:, 2].view(-1, 1, 1)
    source_y = cy + sin * dx + cos * dy - shift * u[:, 3].view(-1, 1, 1)
    coordinates = torch.stack([source_x, source_y], dim=-1)
    if deform > 0:
        offsets = deform * torch.randn(batch, 2, DEFORMATION_GRID, DEFORMATION_GRID)
        smooth = F.interpolate(offsets, size=(height, width), mode="bicubic",
                               align_corners=True)
        coordinates = coordinates + smooth.permute(0, 2, 3, 1)
    return coordinates


def _normalised(coordinates: torch.Tensor) -> torch.Tensor:
    """Pixel coordinates as ``grid_sample`` wants them (align_corners=False: -1 and 1 are the
    outer edges of the border pixels)."""
    height, width = coordinates.shape[1:3]
    size = coordinates.new_tensor([width, height])
    return (2 * coordinates + 1) / size - 1


def move(image: torch.Tensor, coordinates: torch.Tensor) -> torch.Tensor:
    """``image`` (N, C, H, W) sampled at ``coordinates`` (``random_motion``), bicubic: the
    moved picture. Outside the frame the picture is reflected; ``inside`` masks those pixels
    out of the comparison."""
    grid = _normalised(coordinates).to(image.dtype)
    return F.grid_sample(image, grid, mode="bicubic", padding_mode="reflection",
                         align_corners=False)


def inside(coordinates: torch.Tensor, margin: float) -> torch.Tensor:
    """(N, 1, H, W) True where the source pixel lies ``margin`` px or more inside the frame:
    there the moved photo is the photo and the moved painting is not the painting's border,
    where a network paints differently (docs/video.md, "the edge rule")."""
    height, width = coordinates.shape[1:3]
    x, y = coordinates[..., 0], coordinates[..., 1]
    ok = (x >= margin) & (x <= width - 1 - margin) & (y >= margin) & (y <= height - 1 - margin)
    return ok.unsqueeze(1)


def add_noise(image: torch.Tensor, strength: float) -> torch.Tensor:
    """Gaussian noise of a standard deviation drawn per image uniformly in [0, ``strength``]
    (a frame's compression noise, which per-frame painting amplifies in flat skies)."""
    if strength <= 0:
        return image
    sigma = strength * torch.rand(image.shape[0], 1, 1, 1, dtype=image.dtype)
    return (image + sigma * torch.randn_like(image)).clamp(0, 1)


def masked_l1(a: torch.Tensor, b: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean absolute difference over the pixels (and channels) where ``mask`` holds."""
    weights = mask.to(a.dtype).expand_as(a)
    return ((a - b).abs() * weights).sum() / weights.sum().clamp(min=1)


def temporal_loss(painted_moved: torch.Tensor, moved_painting: torch.Tensor,
                  mask: torch.Tensor, gradient_weight: float) -> torch.Tensor:
    """L1 between the painting of the moved photo and the moved painting inside ``mask``,
    plus ``gradient_weight`` times the L1 of their image gradients (as ``distillation_loss``
    weighs them: pixels alone let strokes blur)."""
    total = masked_l1(painted_moved, moved_painting, mask)
    if gradient_weight:
        for axis in (-2, -1):
            a, b = painted_moved.diff(dim=axis), moved_painting.diff(dim=axis)
            both = mask.narrow(axis, 1, mask.shape[axis] - 1) & mask.narrow(
                axis, 0, mask.shape[axis] - 1)
            total = total + gradient_weight * masked_l1(a, b, both)
    return total
