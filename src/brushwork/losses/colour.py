"""Colour maths of the losses on tensors: the colour statistics that recolour a batch to a
painting's palette, and BT.601 chroma (``LossConfig.colour_layout``, ``LossConfig.fine_colours``;
``color.match_colours`` applies the same map to a PIL artwork)."""

from __future__ import annotations

import torch

from ..hyper_parameters import LUMA_WEIGHTS


def colour_statistics(pixels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean ``(..., 3)`` and covariance ``(..., 3, 3)`` of ``(..., P, 3)`` RGB pixels, in
    float64 (the 3x3 roots below need it for near-flat colour channels).

    The sample covariance, divided by P - 1, as ``torch.cov`` and the chroma variance
    (``Tensor.var``) beside it in the colour-layout loss: the shipped styles were trained
    with it. Over a picture's pixels the biased form (divided by P) differs by 1/P, and the
    recolouring map uses two covariances, so only their ratio counts."""
    pixels = pixels.double()
    mean = pixels.mean(dim=-2)
    centred = pixels - mean.unsqueeze(-2)
    cov = centred.transpose(-1, -2) @ centred / max(pixels.shape[-2] - 1, 1)
    return mean, cov


def _symmetric_power(matrix: torch.Tensor, power: float) -> torch.Tensor:
    """``matrix ** power`` of symmetric positive semi-definite 3x3 matrices (by their
    eigenbasis; eigenvalues are floored so that a flat colour channel does not divide by
    zero)."""
    values, vectors = torch.linalg.eigh(matrix)
    return (vectors * values.clamp_min(1e-6) ** power) @ vectors.transpose(-1, -2)


def colour_transform(source_cov: torch.Tensor, reference_cov: torch.Tensor) -> torch.Tensor:
    """``A = C_ref^(1/2) C^(-1/2)``: the symmetric linear map that gives colours of
    covariance ``source_cov`` the covariance ``reference_cov`` (batched over leading dims)."""
    return _symmetric_power(reference_cov, 0.5) @ _symmetric_power(source_cov, -0.5)


def recolour_batch(images: torch.Tensor, reference_mean: torch.Tensor,
                   reference_cov: torch.Tensor) -> torch.Tensor:
    """``match_colours`` for a batch of ``(N, 3, H, W)`` tensors in [0, 1], each image by its
    own statistics, towards one reference's (``colour_statistics``); not clipped."""
    n, _, h, w = images.shape
    pixels = images.detach().double().flatten(2).transpose(1, 2)  # (N, P, 3)
    mean, cov = colour_statistics(pixels)
    transform = colour_transform(cov, reference_cov.to(cov))
    matched = (pixels - mean.unsqueeze(1)) @ transform.transpose(-1, -2) + reference_mean.to(cov)
    return matched.transpose(1, 2).reshape(n, 3, h, w).to(images.dtype)


def chroma(images: torch.Tensor) -> torch.Tensor:
    """BT.601 chroma (Cb, Cr), ``(N, 2, H, W)``, of ``(N, 3, H, W)`` RGB tensors in [0, 1]."""
    r, g, b = images[:, 0], images[:, 1], images[:, 2]
    wr, wg, wb = LUMA_WEIGHTS
    y = wr * r + wg * g + wb * b
    return torch.stack([0.564 * (b - y), 0.713 * (r - y)], dim=1)
