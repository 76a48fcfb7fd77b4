"""The warping error of Lai et al., "Learning Blind Video Temporal Consistency" (ECCV 2018).

For consecutive frames t-1, t of a painted clip O, with flow w computed on the *input* clip
(t -> t-1) and M_t the pixels that are neither occluded (forward-backward check) nor on a
motion boundary (``flow.reliable``):

    E_pair(t) = sum_x M_t(x) ||O_t(x) - O_{t-1}(x + w(x))||^2 / sum_x M_t(x)

with RGB in [0, 1] and ||.||^2 summed over the three channels (Lai et al.'s definition), and
E_warp the mean of E_pair over the clip's pairs. A perfectly steady painting that follows the
input's motion scores 0; the input clip's own E_warp is the floor any output can be compared
with (what flow errors, noise and light changes leave). Pairs across a shot cut
(``flow.cut_distance``) are skipped: their flow means nothing. Lai et al. use FlowNet2; we use
OpenCV's Farneback (``VideoConfig.measure_flow_preset``), a different method from the steady
mode's DIS. Where the input is flat (a night sky) no flow is observable and each method
answers differently (Farneback: still; DIS and DeepFlow: noise of up to 20 px), so there the
measure rewards agreement with its own guess; docs/video.md measures how much that matters.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np

from ..hyper_parameters import VIDEO_DEFAULTS, VideoConfig
from .flow import Flow, cut_distance, grey, reliable, warp


def pair_error(previous: np.ndarray, current: np.ndarray, backward: np.ndarray,
               mask: np.ndarray) -> float:
    """E_pair for painted frames ``previous`` and ``current`` (uint8 or [0, 255] floats)."""
    warped = warp(np.asarray(previous, np.float32), backward)
    difference = ((np.asarray(current, np.float32) - warped) / 255.0) ** 2
    count = mask.sum()
    return float((difference.sum(-1) * mask).sum() / count) if count else 0.0


@dataclass
class WarpingError:
    """Streaming E_warp of one or more painted clips against one input clip.

    ``add(frame, paintings)`` with each input frame and its paintings (name -> RGB uint8 at
    the input frame's size), in order; ``errors`` then holds each clip's E_warp, "input" the
    input's own (the floor). Only the previous frames are kept.
    """

    config: VideoConfig = field(default_factory=VideoConfig)
    pairs: dict[str, list[float]] = field(default_factory=dict)
    cuts: int = 0
    _previous: dict[str, np.ndarray] = field(default_factory=dict, repr=False)
    _flow: Flow | None = field(default=None, repr=False)

    def add(self, frame: np.ndarray, paintings: dict[str, np.ndarray],
            backward: np.ndarray | None = None, mask: np.ndarray | None = None) -> None:
        """One more frame. ``backward`` and ``mask`` override the measured flow and its
        reliable pixels (a synthetic clip's exact flow)."""
        clips = {"input": frame, **paintings}
        previous = self._previous.get("input")
        if previous is not None and cut_distance(previous, frame) > self.config.cut_distance:
            self.cuts += 1
        elif previous is not None:
            if backward is None:
                if self._flow is None:
                    self._flow = Flow(self.config.measure_flow_preset)
                backward, forward = self._flow.both_ways(grey(previous), grey(frame))
                if mask is None:
                    mask = reliable(backward, forward, self.config)
            if mask is None:
                mask = np.ones(frame.shape[:2], bool)
            for name, image in clips.items():
                self.pairs.setdefault(name, []).append(
                    pair_error(self._previous[name], image, backward, mask))
        self._previous = clips

    @property
    def errors(self) -> dict[str, float]:
        return {name: float(np.mean(values)) for name, values in self.pairs.items()}


def warping_error(frames: Iterable[np.ndarray], paintings: Iterable[np.ndarray],
                  config: VideoConfig = VIDEO_DEFAULTS) -> tuple[float, float]:
    """(E_warp of ``paintings``, E_warp of ``frames`` themselves): one painted clip against
    its input, frame by frame (RGB uint8, same sizes)."""
    meter = WarpingError(config)
    for frame, painting in zip(frames, paintings):
        meter.add(frame, {"painted": painting})
    errors = meter.errors
    return errors.get("painted", 0.0), errors.get("input", 0.0)
