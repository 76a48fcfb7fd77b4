"""Gatys et al. (2016) style transfer by optimisation: the paper's slow, per-photo baseline.

The same VGG-19, layers and loss normalisation as training (paper 3.2.1, Eq. 2-5), minimised
over the pixels of one image instead of over a network's weights. L-BFGS (Gatys et al.'s
choice) or Adam, starting from the photo, with an optional coarse-to-fine schedule: the image
is optimised at 1/4, then 1/2, then the full size, each stage starting from the upsampled
result of the one before, which sets the coarse texture cheaply and keeps large outputs
within reach of a CPU (peers' most common complaint is running out of memory at full size).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from .errors import BrushworkError
from .hyper_parameters import CONTENT_LAYER, TEXTURE_LAYERS
from .losses.perceptual import content_loss, gram, resize_long_side, texture_loss
from .losses.vgg import VGG19Features, build_vgg

METHODS = ("lbfgs", "adam")


@dataclass(frozen=True)
class OptimizeConfig:
    """Settings of one optimisation (ours unless marked; Gatys et al. give no pixel budget)."""

    size: int = 512  # long side of the result (paper Fig. 1: Gatys results "of size 512")
    steps: int = 300  # total optimiser steps over all stages
    method: str = "lbfgs"  # Gatys et al. 2016
    content_weight: float = 1.0  # paper 4: content weights 1
    texture_weight: float = 100.0  # ours: pixels move freely, so a higher weight than a network's
    learning_rate: float = 0.02  # Adam only, in [0, 1] pixel units
    multiscale: bool = False  # coarse-to-fine: 1/4, 1/2, full size


@dataclass
class OptimizeStep:
    step: int
    steps: int
    size: tuple[int, int]
    loss: float


def _stages(config: OptimizeConfig) -> list[tuple[int, int]]:
    """(long side, steps) per stage; the full size gets the remaining steps."""
    if not config.multiscale:
        return [(config.size, config.steps)]
    sizes = [max(32, config.size // 4), max(32, config.size // 2), config.size]
    share = config.steps // 4
    return [(sizes[0], share), (sizes[1], share), (sizes[2], config.steps - 2 * share)]


def optimize(
    photo: torch.Tensor,
    style: torch.Tensor,
    config: OptimizeConfig | None = None,
    vgg: VGG19Features | None = None,
    callback: Callable[[OptimizeStep], None] | None = None,
) -> torch.Tensor:
    """Return the (1, 3, H, W) image in [0, 1] whose long side is ``config.size``."""
    config = config or OptimizeConfig()
    if config.method not in METHODS:
        raise BrushworkError(f"unknown method {config.method!r}; use one of {', '.join(METHODS)}")
    if config.size <= 0 or config.steps <= 0:
        raise BrushworkError("size and steps must be positive")
    vgg = vgg or build_vgg((*TEXTURE_LAYERS, CONTENT_LAYER))
    emit = callback or (lambda event: None)
    image: torch.Tensor | None = None
    done = 0
    for long_side, steps in _stages(config):
        target = resize_long_side(photo, long_side)
        start = target if image is None else F.interpolate(
            image, size=tuple(target.shape[-2:]), mode="bilinear", align_corners=False)
        image = _optimize_stage(vgg, start, target, resize_long_side(style, long_side),
                                config, steps, done, emit)
        done += steps
    assert image is not None
    return image


def _optimize_stage(
    vgg: VGG19Features, start: torch.Tensor, photo: torch.Tensor, style: torch.Tensor,
    config: OptimizeConfig, steps: int, done: int, emit: Callable[[OptimizeStep], None],
) -> torch.Tensor:
    """Optimise the pixels of ``start`` for ``steps`` steps at its own size."""
    with torch.no_grad():
        content_target = vgg(photo)[CONTENT_LAYER]
        style_features = vgg(style)
        style_grams = [gram(style_features[layer]) for layer in TEXTURE_LAYERS]
    pixels = start.clone().requires_grad_(True)
    size = (pixels.shape[-2], pixels.shape[-1])

    def objective() -> torch.Tensor:
        features = vgg(pixels)
        grams = [gram(features[layer]) for layer in TEXTURE_LAYERS]
        return (config.content_weight * content_loss(features[CONTENT_LAYER], content_target)
                + config.texture_weight * texture_loss(grams, style_grams))

    if config.method == "lbfgs":
        _run_lbfgs(pixels, objective, steps, lambda step, loss: emit(
            OptimizeStep(done + step, config.steps, size, loss)))
        with torch.no_grad():
            pixels.clamp_(0, 1)
        return pixels.detach()
    optimizer = torch.optim.Adam([pixels], lr=config.learning_rate)
    for step in range(steps):
        optimizer.zero_grad()
        loss = objective()
        loss.backward()
        optimizer.step()
        with torch.no_grad():
            pixels.clamp_(0, 1)
        emit(OptimizeStep(done + step + 1, config.steps, size, float(loss.detach())))
    return pixels.detach()


def _run_lbfgs(
    pixels: torch.Tensor, objective: Callable[[], torch.Tensor], steps: int,
    progress: Callable[[int, float], None],
) -> None:
    """``steps`` L-BFGS iterations in ONE ``step()`` call, as the optimiser is built to run.

    Calling ``step()`` once per iteration (``max_iter=1``) and clamping in between, as this
    module first did, stalled: on a 256-px photo the loss stayed at 4.96e7 for 30 steps (with
    or without the clamp), while one call of 40 iterations took it to 8.5e5 and Adam's 30
    steps to 1.7e6. So the pixels are clamped to [0, 1] once, at the end (Gatys et al. also
    optimise unconstrained), and progress is reported from inside the closure. Tolerances
    are 0 so the budget, not a heuristic, decides when to stop; the line search may evaluate
    the loss more than once per iteration (up to 2x ``steps`` evaluations in all).
    """
    optimizer = torch.optim.LBFGS(
        [pixels], lr=1.0, max_iter=steps, max_eval=2 * steps, history_size=50,
        line_search_fn="strong_wolfe", tolerance_grad=0.0, tolerance_change=0.0)
    reported = 0

    def closure() -> torch.Tensor:
        nonlocal reported
        optimizer.zero_grad()
        loss = objective()
        loss.backward()
        iteration = optimizer.state[pixels].get("n_iter", 0) + 1
        if iteration > reported and iteration <= steps:
            reported = iteration
            progress(iteration, float(loss.detach()))
        return loss

    optimizer.step(closure)
    if reported < steps:  # stopped early (evaluation budget): the bar still ends
        with torch.no_grad():
            progress(steps, float(objective()))
