"""Steady brushwork: the previous painted frame carried along the optical flow.

A feed-forward network paints every frame on its own, and small changes of the input (noise,
a pixel of motion, instance-norm statistics that move with the content) come out as different
strokes: the painting flickers. Here the previous *painted* frame is carried along the input's
optical flow (``flow.Flow``, current -> previous) and kept where the flow is reliable:
forward-backward consistent, not on a motion boundary (Ruder et al. 2016), and photometrically
plausible (the warped previous input matches the current one). Occluded and newly seen
pixels, and every pixel after a shot cut (``flow.cut_distance``), are painted afresh, so
nothing smears across a cut or a moving edge. ``VideoConfig.steady_keep`` below 1 blends the
carried painting with the fresh one instead (a recursive filter along motion paths): that
averages unrelated strokes and flattens the texture, which is why the default keeps all of it.
Known weakness: carried strokes move and scale with the picture, so in a long zoom they grow
coarser until a region is repainted (docs/video.md has the numbers).

It works on any painter's output (no change to the network) and costs two DIS flows at 480 px
and a few array operations per frame (~15% of painting a frame on a 2-core CPU);
docs/video.md compares it with per-frame painting and with the peer's frame averaging.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..hyper_parameters import VIDEO_DEFAULTS, VideoConfig
from .flow import Flow, colour_histogram, cv2_module, grey, histogram_distance, reliable, warp


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
        self._previous_histogram: np.ndarray | None = None

    def reset(self) -> None:
        """Forget the previous frame (a new clip, or a seek)."""
        self._previous_input = self._previous_grey = self._previous_painting = None
        self._previous_histogram = None

    def __call__(self, frame: np.ndarray, painting: np.ndarray) -> tuple[np.ndarray, SteadyStep]:
        """The steady painting of ``frame`` (RGB uint8, the painting's size) from its
        per-frame ``painting`` (RGB uint8); returns it with what was done."""
        current_grey = self._small(grey(frame))
        histogram = colour_histogram(frame)
        previous, previous_grey = self._previous_input, self._previous_grey
        out, step = painting, SteadyStep(cut=False, carried=0.0)
        if previous is not None and previous.shape == frame.shape:
            # both are kept with the previous frame
            assert previous_grey is not None and self._previous_histogram is not None
            step.cut = (histogram_distance(self._previous_histogram, histogram)
                        > self.config.cut_distance)
            if not step.cut:
                out, step.carried = self._blend(frame, current_grey, previous,
                                                previous_grey, painting)
        self._previous_input, self._previous_grey, self._previous_painting = (
            frame, current_grey, out)
        self._previous_histogram = histogram
        return out, step

    def _small(self, image: np.ndarray) -> np.ndarray:
        """``image`` at the flow's size: long side at most ``steady_flow_size``."""
        h, w = image.shape[:2]
        scale = self.config.steady_flow_size / max(h, w)
        if scale >= 1:
            return image
        size = (max(8, round(w * scale)), max(8, round(h * scale)))
        return cv2_module().resize(image, size, interpolation=cv2_module().INTER_AREA)

    def _blend(self, frame: np.ndarray, current_grey: np.ndarray, previous: np.ndarray,
               previous_grey: np.ndarray, painting: np.ndarray) -> tuple[np.ndarray, float]:
        cv2 = cv2_module()
        backward, forward = self._flow.both_ways(previous_grey, current_grey)
        mask = reliable(backward, forward, self.config)
        seen = warp(previous_grey, backward).astype(np.float32)
        mask &= np.abs(seen - current_grey) <= self.config.steady_photometric
        keep = self.config.steady_keep * mask.astype(np.float32)
        if self.config.steady_feather:  # no hard seam between carried and fresh strokes
            keep = cv2.GaussianBlur(keep, (0, 0), self.config.steady_feather)
        h, w = painting.shape[:2]
        if backward.shape[:2] != (h, w):  # flow in pixels of the small frames -> full size
            scale = np.array([w / backward.shape[1], h / backward.shape[0]], dtype=np.float32)
            backward = cv2.resize(backward, (w, h), interpolation=cv2.INTER_LINEAR) * scale
            keep = cv2.resize(keep, (w, h), interpolation=cv2.INTER_LINEAR)
        # Bicubic: a painting carried for many frames is resampled each time, and bilinear
        # blurs it a little more at every step.
        assert self._previous_painting is not None  # kept with the previous frame
        carried = warp(self._previous_painting, backward, cubic=True).astype(np.float32)
        keep = keep[..., None]
        fresh = painting.astype(np.float32)
        out = fresh + keep * (carried - fresh)
        return np.clip(out + 0.5, 0, 255).astype(np.uint8), float(mask.mean())
