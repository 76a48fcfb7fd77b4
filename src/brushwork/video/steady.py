"""Steady brushwork: each painted frame blended with the previous one, warped along the flow.

A feed-forward network paints every frame on its own, and small changes of the input (noise,
a pixel of motion, instance-norm statistics that move with the content) come out as different
strokes: the painting flickers. Here the previous *painted* frame is carried along the input's
optical flow (``flow.Flow``, current -> previous) and blended into the fresh painting where the
flow is reliable: forward-backward consistent, not on a motion boundary (Ruder et al. 2016),
and photometrically plausible (the warped previous input matches the current one). Occluded
and newly seen pixels, and every pixel after a shot cut (``flow.cut_distance``), are painted
afresh, so nothing smears across a cut or a moving edge. The blend is a recursive filter along
motion paths, so a stroke lives ~1 / (1 - keep) frames: ``VideoConfig.steady_keep``.

It works on any painter's output (no change to the network) and costs two DIS flows and a few
array operations per frame; docs/video.md compares it with per-frame painting and with the
peer's frame averaging.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..hyper_parameters import VIDEO_DEFAULTS, VideoConfig
from .flow import Flow, cut_distance, grey, reliable, warp


@dataclass
class SteadyStep:
    """What happened to one frame: whether a shot cut came before it (nothing carried over;
    never for the first frame) and the share of its pixels that took the previous painting."""

    cut: bool
    carried: float


class Steadier:
    """Holds the previous input and painted frame; call it once per frame, in order."""

    def __init__(self, config: VideoConfig = VIDEO_DEFAULTS) -> None:
        self.config = config
        self._flow = Flow(config.steady_flow_preset)
        self._previous_input: np.ndarray | None = None
        self._previous_grey: np.ndarray | None = None
        self._previous_painting: np.ndarray | None = None

    def reset(self) -> None:
        """Forget the previous frame (a new clip, or a seek)."""
        self._previous_input = self._previous_grey = self._previous_painting = None

    def __call__(self, frame: np.ndarray, painting: np.ndarray) -> tuple[np.ndarray, SteadyStep]:
        """The steady painting of ``frame`` (RGB uint8, the painting's size) from its
        per-frame ``painting`` (RGB uint8); returns it with what was done."""
        current_grey = grey(frame)
        previous, previous_grey = self._previous_input, self._previous_grey
        out, step = painting, SteadyStep(cut=False, carried=0.0)
        if previous is not None and previous.shape == frame.shape:
            step.cut = cut_distance(previous, frame) > self.config.cut_distance
            if not step.cut:
                out, step.carried = self._blend(frame, current_grey, previous,
                                                previous_grey, painting)
        self._previous_input, self._previous_grey, self._previous_painting = (
            frame, current_grey, out)
        return out, step

    def _blend(self, frame: np.ndarray, current_grey: np.ndarray, previous: np.ndarray,
               previous_grey: np.ndarray, painting: np.ndarray) -> tuple[np.ndarray, float]:
        backward, forward = self._flow.both_ways(previous_grey, current_grey)
        mask = reliable(backward, forward, self.config)
        seen = warp(previous_grey, backward).astype(np.float32)
        mask &= np.abs(seen - current_grey) <= self.config.steady_photometric
        carried = warp(self._previous_painting, backward).astype(np.float32)
        keep = (self.config.steady_keep * mask).astype(np.float32)[..., None]
        fresh = painting.astype(np.float32)
        out = fresh + keep * (carried - fresh)
        return np.clip(out + 0.5, 0, 255).astype(np.uint8), float(mask.mean())
