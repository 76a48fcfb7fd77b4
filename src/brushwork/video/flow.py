"""Optical flow between input frames, warping along it, and which pixels it can be trusted on.

Shared by the steady mode (``steady``) and the stability measure (``warping_error``): both ask
"where did this pixel of frame t come from in frame t-1, and is that answer reliable?". Flow is
OpenCV's DIS (Kroeger et al., ECCV 2016): it runs on the CPU in milliseconds per frame, which
the learned flows of Lai et al. (FlowNet2) do not. Images are H x W x 3 uint8 RGB or float
arrays; flows are H x W x 2 float32 (x, y) in pixels.
"""

from __future__ import annotations

import functools

import numpy as np

from ..errors import BrushworkError
from ..hyper_parameters import VIDEO_DEFAULTS, VideoConfig

#: Long side of the frames whose colour histograms ``cut_distance`` compares (ours: 64 px
#: keeps a shot's palette and drops the motion inside it).
CUT_SIZE = 64
#: Histogram bins per channel for ``cut_distance`` (ours: 8, the classic colour-histogram
#: shot detector's; finer bins split one shot's lighting changes).
CUT_BINS = 8


def cv2_module():
    """OpenCV, or a one-line error saying how to install it (the ``video`` extra)."""
    try:
        import cv2
    except ImportError:
        raise BrushworkError("painting video needs OpenCV: pip install 'brushwork[video]'"
                             ) from None
    return cv2


_PRESETS = {"ultrafast": 0, "fast": 1, "medium": 2}
#: Farneback's dense flow (polynomial expansion; OpenCV's ``calcOpticalFlowFarneback``) as
#: the preset "farneback": pyramid scale, levels, window, iterations, polynomial size and
#: sigma (ours: a 5-level pyramid for motions of tens of pixels; a 21 px window, whose
#: smoothing keeps a flat region's flow at the motion around it, where DIS's is noise).
FARNEBACK = (0.5, 5, 21, 5, 7, 1.5)


def grey(image: np.ndarray) -> np.ndarray:
    """BT.601 luma of an RGB uint8 image, uint8 (what DIS reads)."""
    return cv2_module().cvtColor(np.ascontiguousarray(image), cv2_module().COLOR_RGB2GRAY)


class Flow:
    """DIS optical flow with one preset; the object keeps OpenCV's solver between frames.
    ``finest`` overrides the preset's finest pyramid level (0 is full size; "fast" stops at
    2, a quarter of the frame's size, "medium" at 1)."""

    def __init__(self, preset: str, finest: int | None = None) -> None:
        cv2 = cv2_module()
        if preset not in (*_PRESETS, "farneback"):
            raise BrushworkError(f"unknown flow preset {preset!r}: use "
                                 f"{', '.join(_PRESETS)} or farneback")
        self._dis = None if preset == "farneback" else cv2.DISOpticalFlow_create(
            _PRESETS[preset])
        if finest is not None and self._dis is not None:
            self._dis.setFinestScale(finest)

    def __call__(self, source: np.ndarray, target: np.ndarray) -> np.ndarray:
        """Flow w from ``source`` to ``target`` (grey uint8): source pixel x is at x + w(x)
        in ``target``."""
        if self._dis is None:
            return cv2_module().calcOpticalFlowFarneback(source, target, None, *FARNEBACK, 0)
        return self._dis.calc(source, target, None)

    def both_ways(self, previous: np.ndarray, current: np.ndarray
                  ) -> tuple[np.ndarray, np.ndarray]:
        """(backward, forward): current -> previous, and previous -> current."""
        return self(current, previous), self(previous, current)


@functools.lru_cache(maxsize=4)
def pixel_grid(h: int, w: int) -> tuple[np.ndarray, np.ndarray]:
    """Pixel coordinates (x, y) of an h x w frame, float32, read-only: a clip's frames share
    one size, so they are built once instead of three times a frame."""
    xs, ys = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
    xs.flags.writeable = ys.flags.writeable = False
    return xs, ys


def warp(image: np.ndarray, flow: np.ndarray, cubic: bool = False) -> np.ndarray:
    """``image`` (of frame t-1) pulled into frame t along ``flow`` (t -> t-1): output pixel x
    is image(x + flow(x)), bilinear (bicubic with ``cubic``), edges replicated."""
    cv2 = cv2_module()
    xs, ys = pixel_grid(*flow.shape[:2])
    return cv2.remap(image, xs + flow[..., 0], ys + flow[..., 1],
                     cv2.INTER_CUBIC if cubic else cv2.INTER_LINEAR,
                     borderMode=cv2.BORDER_REPLICATE)


def reliable(backward: np.ndarray, forward: np.ndarray,
             config: VideoConfig = VIDEO_DEFAULTS) -> np.ndarray:
    """Where the backward flow (t -> t-1) can be trusted: a boolean H x W mask.

    Ruder et al. (2016), as Lai et al. (2018) use it for the warping error: a pixel is
    occluded where the forward flow, read where the backward flow points, does not bring it
    back (|w + w'|^2 > a (|w|^2 + |w'|^2) + b), and on a motion boundary (|grad u|^2 +
    |grad v|^2 > a |w|^2 + b); pixels whose flow leaves the frame are dropped too.
    """
    back_forward = warp(forward, backward)
    w2 = _squared_length(backward)
    consistent = _squared_length(backward + back_forward) <= (
        config.consistency_a * (w2 + _squared_length(back_forward)) + config.consistency_b)
    gy_u, gx_u = np.gradient(backward[..., 0])
    gy_v, gx_v = np.gradient(backward[..., 1])
    boundary = gx_u ** 2 + gy_u ** 2 + gx_v ** 2 + gy_v ** 2 > (
        config.boundary_a * w2 + config.boundary_b)
    return consistent & ~boundary & inside_frame(backward)


def _squared_length(flow: np.ndarray) -> np.ndarray:
    """|w|^2 of each vector of an H x W x 2 flow (NumPy's ``sum(-1)`` over a last axis of 2
    is several times slower: 4 ms a frame of the steady mode's 40 at 720 px)."""
    return flow[..., 0] * flow[..., 0] + flow[..., 1] * flow[..., 1]


def inside_frame(flow: np.ndarray, margin: float = 0.0) -> np.ndarray:
    """Where ``flow`` (H x W x 2) points at least ``margin`` px inside the frame."""
    h, w = flow.shape[:2]
    xs, ys = pixel_grid(h, w)
    x, y = xs + flow[..., 0], ys + flow[..., 1]
    return (x >= margin) & (x <= w - 1 - margin) & (y >= margin) & (y <= h - 1 - margin)


def colour_histogram(image: np.ndarray) -> np.ndarray:
    """What ``cut_distance`` compares: the normalised 8x8x8 colour histogram of an RGB frame
    at 64 px (kept by the steady mode for the next frame, so each frame's is made once)."""
    cv2 = cv2_module()
    # Every s-th pixel first where a frame is 4 or more times the size (s = 2 at 1280 x 720,
    # 4 at 1920 x 1080): averaging all of them cost 3 ms a frame at 720p.
    step = max(1, min(image.shape[:2]) // (4 * CUT_SIZE))
    image = np.ascontiguousarray(image[::step, ::step])
    h, w = image.shape[:2]
    scale = CUT_SIZE / max(h, w)
    small = cv2.resize(image, (max(1, round(w * scale)), max(1, round(h * scale))),
                       interpolation=cv2.INTER_AREA)
    hist = cv2.calcHist([small], [0, 1, 2], None, [CUT_BINS] * 3, [0, 256] * 3)
    return cv2.normalize(hist, hist).flatten()


def cut_distance(previous: np.ndarray, current: np.ndarray) -> float:
    """Bhattacharyya distance of two RGB frames' colour histograms: 0 for the same palette,
    1 for disjoint ones. A shot cut changes the whole palette at once; motion within a shot
    moves pixels without changing their colours much."""
    return histogram_distance(colour_histogram(previous), colour_histogram(current))


def histogram_distance(previous: np.ndarray, current: np.ndarray) -> float:
    """``cut_distance`` of two frames from their ``colour_histogram``s."""
    cv2 = cv2_module()
    return float(cv2.compareHist(previous, current, cv2.HISTCMP_BHATTACHARYYA))
