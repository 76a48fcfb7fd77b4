"""Steady brushwork: painted strokes carried along the optical flow, each resampled rarely.

A feed-forward network paints every frame on its own, and small changes of the input (noise,
a pixel of motion, instance-norm statistics that move with the content) come out as different
strokes: the painting flickers. Here the painted strokes are carried along the input's optical
flow (``flow.Flow``, current -> previous) and kept where the flow is reliable:
forward-backward consistent, not on a motion boundary (Ruder et al. 2016), and photometrically
plausible (the warped previous input matches the current one). Occluded and newly seen
pixels, and every pixel after a shot cut (``flow.cut_distance``), are painted afresh, so
nothing smears across a cut or a moving edge.

Why the strokes are *anchored* instead of the previous output being warped again every frame:
resampling compounds. OpenCV's bicubic (Keys, a = -0.75) has a gain above 1 at mid
frequencies for sub-pixel shifts (about 1.5% a resample at a 6-pixel period, averaged over
shifts), so a painting carried for 100 frames had its stroke texture amplified into
high-contrast "zebra" streaks (its texture contrast tripled on a long zoom); bilinear loses
about 9% a resample there and blurs the strokes away instead. So each pixel keeps the
coordinate of its stroke in one of the last ``VideoConfig.steady_ring`` outputs; the
coordinates travel along the flow (smooth maps, interpolated without harm), and the colours
are sampled once from that output. A pixel whose output is about to leave the ring is
re-anchored to the newest one, so a stroke carried n frames is resampled about n / ring
times, with a kernel whose gain stays near 1 (``steady_cubic_share``).

Two more things matter over a whole clip (docs/video.md measures each): the flow is
computed one pyramid level finer than DIS's "fast" preset (``steady_flow_finest``); and the
network paints weaker texture within a few dozen pixels of the frame's edge, so strokes born
there as a pan brings them in are repainted once they have moved inwards
(``steady_edge``), in bands every ``steady_edge_every`` frames rather than in thin slices,
each band fading in over ``steady_edge_fade`` frames (its fresh strokes carried along the flow
meanwhile) instead of replacing the old strokes in one frame.
Where the picture is flat (a night sky) DIS's flow is noise, often of several pixels, that
passes the reliability tests (a flat region matches itself under any flow): carried along
it, strokes were drawn out into smears; painted afresh, they flickered as per-frame painting
does. So flat pixels away from texture move with the camera (``steady_camera``): a
similarity motion fitted to the flow of the textured, reliable pixels (``camera_motion``);
so do weakly textured pixels whose flow strays far from the camera's (the noise again).
``VideoConfig.steady_keep`` below 1 blends the carried painting with the fresh one (a
recursive filter along motion paths); that averages unrelated strokes and flattens the
texture, which is why the default keeps all of it. Known limit: in a long zoom, carried
strokes grow with the picture (1.45x over the test zoom still kept the style within 10%).

It works on any painter's output (no change to the network).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np

from ..hyper_parameters import VIDEO_DEFAULTS, VideoConfig
from .flow import (
    Flow,
    colour_histogram,
    cv2_module,
    grey,
    histogram_distance,
    inside_frame,
    pixel_grid,
    reliable,
    warp,
)

#: Replicated border, pixels, around each output in the ring (bicubic reads 2 px beyond).
PAD = 3


@dataclass
class SteadyStep:
    """What happened to one frame: whether a shot cut came before it (nothing carried over;
    never for the first frame), the share of its pixels that took the previous painting, and
    (for diagnostics: where a clip's warping error comes from) each pixel's weight of carried
    strokes against fresh paint, None when nothing was carried."""

    cut: bool
    carried: float
    keep: np.ndarray | None = None


class Steadier:
    """Holds the recent outputs and where each pixel's stroke is in them; call it once per
    frame, in order. Memory: ``steady_ring`` painted frames (8 x 6 MB at 1080p)."""

    def __init__(self, config: VideoConfig = VIDEO_DEFAULTS) -> None:
        self.config = config
        self._flow = Flow(config.steady_flow_preset, config.steady_flow_finest)
        self.reset()

    def reset(self) -> None:
        """Forget the previous frames (a new clip, or a seek)."""
        self._previous_input: np.ndarray | None = None
        self._previous_grey: np.ndarray | None = None
        self._previous_histogram: np.ndarray | None = None
        self._ring: np.ndarray | None = None  # the outputs, stacked vertically, with borders
        # per pixel (float32): its output in the ring and its stroke's coordinates there
        # (H x W x 3: slot, x, y; interpolated along the flow), and its output and how far
        # from the frame's edge the stroke was painted (H x W x 2: slot, born; the nearest's)
        self._anchor: np.ndarray | None = None
        self._tag: np.ndarray | None = None
        self._fade: _Fade | None = None  # the edge rule's repaint, fading in
        self._count = 0

    def __call__(self, frame: np.ndarray, painting: np.ndarray) -> tuple[np.ndarray, SteadyStep]:
        """The steady painting of ``frame`` (RGB uint8) from its per-frame ``painting``
        (RGB uint8); returns it with what was done. ``frame`` may have any size with the
        painting's proportions (the same for every frame of a clip): only its grey image at
        the flow's size and its colour histogram are read."""
        current_grey = at_flow_size(grey(frame), self.config)
        histogram = colour_histogram(frame)
        previous = self._previous_input
        out, step = painting, SteadyStep(cut=False, carried=0.0)
        carry = previous is not None and previous.shape == frame.shape
        if carry:
            assert self._previous_histogram is not None  # kept with the previous frame
            step.cut = (histogram_distance(self._previous_histogram, histogram)
                        > self.config.cut_distance)
            carry = not step.cut
        if carry:
            out, step.carried, step.keep = self._carry(current_grey, painting)
        else:
            self._start(painting)
        self._previous_input, self._previous_grey = frame, current_grey
        self._previous_histogram = histogram
        return out, step

    def _start(self, painting: np.ndarray) -> None:
        """A new shot: every stroke fresh, anchored in ``painting`` itself."""
        h, w = painting.shape[:2]
        self._ring = np.zeros((self.config.steady_ring * (h + 2 * PAD), w + 2 * PAD, 3),
                              np.uint8)
        xs, ys = pixel_grid(h, w)
        slot = np.zeros((h, w), np.float32)
        cv2 = cv2_module()
        self._anchor = cv2.merge([slot, xs, ys])
        self._tag = cv2.merge([slot, _edge_distance(h, w)])
        self._fade = None
        self._count = 0
        self._store(0, painting)

    def _store(self, slot: int, image: np.ndarray) -> None:
        assert self._ring is not None  # made by _start, on a shot's first frame
        h = image.shape[0]
        top = slot * (h + 2 * PAD)
        self._ring[top:top + h + 2 * PAD] = _bordered(image)

    def _reliable(self, current_grey: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The backward flow (current -> previous, at the flow's size) and where it holds."""
        config = self.config
        previous_grey = self._previous_grey
        assert previous_grey is not None  # kept with the previous frame
        backward, forward = self._flow.both_ways(previous_grey, current_grey)
        mask = reliable(backward, forward, config)
        if config.steady_camera:
            spread = _texture(current_grey, config.steady_flat_window)
            flat = spread <= config.steady_flat_level
            camera = camera_motion(backward, mask & ~flat)
            if camera is not None:
                # Flat: any flow fits, so the one that moves the least, the camera's; weakly
                # textured and flowing far from the camera: DIS's noise, the camera's too.
                deviation = np.hypot(*(backward - camera).transpose(2, 0, 1))
                # Not next to texture: there the painting's outlines of a moving thing lie
                # on flat pixels and must move with it, not with the camera.
                window = np.ones((config.steady_flat_window,) * 2, np.uint8)
                away = cv2_module().erode(flat.astype(np.uint8), window).astype(bool)
                simple = away | ((spread <= config.steady_weak_level)
                                 & (deviation > config.steady_camera_deviation))
                backward[simple] = camera[simple]
                # 1 px in: a pixel pointing just outside would sample the replicated
                # border, and a border row carried frame after frame is drawn into bars
                mask = np.where(simple, inside_frame(camera, 1.0), mask)
        seen = warp(previous_grey, backward).astype(np.float32)
        mask &= np.abs(seen - current_grey) <= config.steady_photometric
        return backward, mask

    def _carry(self, current_grey: np.ndarray, painting: np.ndarray
               ) -> tuple[np.ndarray, float, np.ndarray]:
        cv2 = cv2_module()
        config = self.config
        anchor, tag = self._anchor, self._tag
        assert anchor is not None and tag is not None  # made by _start, on a shot's first frame
        backward, mask = self._reliable(current_grey)
        keep = config.steady_keep * mask.astype(np.float32)
        if config.steady_feather:  # no hard seam between carried and fresh strokes
            keep = cv2.GaussianBlur(keep, (0, 0), config.steady_feather)
        h, w = painting.shape[:2]
        xs, ys = pixel_grid(h, w)
        if backward.shape[:2] != (h, w):  # flow in pixels of the small frames -> full size
            sx, sy = w / backward.shape[1], h / backward.shape[0]
            at_x = cv2.resize(backward[..., 0], (w, h), interpolation=cv2.INTER_LINEAR)
            at_y = cv2.resize(backward[..., 1], (w, h), interpolation=cv2.INTER_LINEAR)
            at_x = cv2.scaleAdd(at_x, sx, xs)
            at_y = cv2.scaleAdd(at_y, sy, ys)
            keep = cv2.resize(keep, (w, h), interpolation=cv2.INTER_LINEAR)
        else:
            at_x, at_y = xs + backward[..., 0], ys + backward[..., 1]
        # Where each pixel's stroke is: its coordinates interpolated from the source pixels'
        # (smooth maps), its output and birthplace those of the nearest source pixel.
        moved = cv2.remap(anchor, at_x, at_y, cv2.INTER_LINEAR,
                          borderMode=cv2.BORDER_REPLICATE)
        moved_tag = cv2.remap(tag, at_x, at_y, cv2.INTER_NEAREST,
                              borderMode=cv2.BORDER_REPLICATE)
        source_x, source_y = moved[..., 1], moved[..., 2]  # views: the next anchor in place
        slot, born = moved_tag[..., 0], moved_tag[..., 1]
        slot_mixed = moved[..., 0].copy()
        # Where the neighbours are anchored in different outputs, interpolating their
        # coordinates means nothing: the nearest one's, moved by the sub-pixel rest (rare:
        # the seams between strokes of different ages).
        seams = np.flatnonzero(cv2.absdiff(slot_mixed, slot) > 1e-3)
        if len(seams):
            rows, columns = np.divmod(seams, w)
            fx, fy = at_x[rows, columns], at_y[rows, columns]
            nx = np.clip(np.rint(fx), 0, w - 1).astype(np.intp)
            ny = np.clip(np.rint(fy), 0, h - 1).astype(np.intp)
            source_x[rows, columns] = anchor[ny, nx, 1] + (fx - nx)
            source_y[rows, columns] = anchor[ny, nx, 2] + (fy - ny)
        distance = _edge_distance(h, w)
        self._count += 1
        here = self._count % config.steady_ring
        edge_frame = bool(config.steady_edge) and self._count % config.steady_edge_every == 0
        ring_x = np.clip(source_x, 0, w - 1)
        ring_x += np.float32(PAD)
        ring_y = np.clip(source_y, 0, h - 1)
        ring_y += slot * np.float32(h + 2 * PAD) + np.float32(PAD)
        assert self._ring is not None  # made by _start, with the anchors
        carried = self._sample(self._ring, ring_x, ring_y)
        # The repaint fading in: its strokes travel with the picture, their weight rises.
        fade, arrived = self._fade, None
        if fade is not None:
            band, at = fade.move(at_x, at_y)
            share = np.float32(min(fade.frames / config.steady_edge_fade, 1.0))
            weight = (fade.weight.ravel()[band] * share)[:, None]
            incoming = self._sample(fade.painting, *at).reshape(-1, 3)[:len(band)]
            pixels = carried.reshape(-1, 3)  # a view: written through
            blended = weight * incoming + (1 - weight) * pixels[band]
            pixels[band] = np.rint(blended).astype(np.uint8)
            if fade.frames >= config.steady_edge_fade or edge_frame:  # fully in: anchor here
                arrived = fade.weight * share >= 0.5
                np.copyto(born, distance, where=arrived)
                self._fade = None
        if edge_frame:
            inwards = (born < config.steady_edge) & (distance >= born + config.steady_edge_step)
            if inwards.any():
                repaint = inwards.astype(np.float32)
                if config.steady_feather:
                    repaint = cv2.GaussianBlur(repaint, (0, 0), config.steady_feather)
                if config.steady_edge_fade > 1:
                    self._fade = _Fade.start(painting, repaint)
                    share = np.float32(1 / config.steady_edge_fade)
                    carried = cv2.blendLinear(np.ascontiguousarray(painting), carried,
                                              repaint * share, 1 - repaint * share)
                else:
                    keep = keep * (1 - repaint)
        out = cv2.blendLinear(carried, np.ascontiguousarray(painting), keep, 1 - keep)
        # The new state: carried pixels keep their anchors, the rest are anchored here.
        fresh = keep < 0.5
        if self._fade is not None:
            self._fade.weight[fresh] = 0  # painted afresh now: nothing left to fade in
        if arrived is not None:
            fresh |= arrived
        np.copyto(born, distance, where=fresh)
        self._store(here, out)
        # Anchored here: the fresh strokes, those whose output is overwritten next, and with
        # a blend (steady_keep < 1) every pixel, the output being what the next frame carries.
        here_now = (fresh | (slot == (self._count + 1) % config.steady_ring)
                    if config.steady_keep >= 1 else np.ones((h, w), bool))
        np.copyto(slot, np.float32(here), where=here_now)
        np.copyto(source_x, xs, where=here_now)
        np.copyto(source_y, ys, where=here_now)
        moved[..., 0] = slot
        self._anchor, self._tag = moved, moved_tag
        return out, float(mask.mean()), keep

    def _sample(self, source: np.ndarray, xs: np.ndarray, ys: np.ndarray) -> np.ndarray:
        """``source`` (the ring, or a fade's painting) at (xs, ys): bicubic and bilinear
        mixed (``steady_cubic_share``)."""
        cv2 = cv2_module()
        share = self.config.steady_cubic_share
        cubic = cv2.remap(source, xs, ys, cv2.INTER_CUBIC)
        if share >= 1:
            return cubic
        linear = cv2.remap(source, xs, ys, cv2.INTER_LINEAR)
        return cv2.addWeighted(cubic, share, linear, 1 - share, 0)


@dataclass
class _Fade:
    """An edge repaint fading in: the painting its strokes come from (with a replicated
    border), where each pixel's stroke is in it (H x W x 2, travelling along the flow like
    the ring's anchors), how much of it each pixel takes when fully in, and the frames it
    has been fading. Only the band it covers is moved and sampled (a pan's bands are a
    tenth of the frame; moving all of it cost 8 ms a frame at 720 px)."""

    painting: np.ndarray
    coordinates: np.ndarray
    weight: np.ndarray
    frames: int = 1

    @classmethod
    def start(cls, painting: np.ndarray, weight: np.ndarray) -> _Fade:
        return cls(_bordered(painting), cv2_module().merge(pixel_grid(*painting.shape[:2])),
                   weight)

    def move(self, at_x: np.ndarray, at_y: np.ndarray
             ) -> tuple[np.ndarray, tuple[np.ndarray, np.ndarray]]:
        """One frame on: the strokes and their weights follow the picture. Returns the band
        (flat pixel indices) and where to sample ``painting`` for it (as ``_points``)."""
        cv2 = cv2_module()
        self.weight = cv2.remap(self.weight, at_x, at_y, cv2.INTER_LINEAR,
                                borderMode=cv2.BORDER_CONSTANT, borderValue=0)
        self.frames += 1
        band = self.weight > 1e-3
        # The coordinates are moved a little beyond the band, so that next frame's band
        # interpolates between moved ones only.
        near = np.flatnonzero(cv2.dilate(band.view(np.uint8), np.ones((5, 5), np.uint8)))
        coordinates = self.coordinates.reshape(-1, 2)  # a view: written through
        moved = cv2.remap(self.coordinates, *_points(at_x.ravel()[near], at_y.ravel()[near]),
                          cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        coordinates[near] = moved.reshape(-1, 2)[:len(near)]
        inside = band.ravel()[near]
        near, points = near[inside], coordinates[near[inside]]
        h, w = band.shape
        xs = np.clip(points[:, 0], 0, w - 1) + np.float32(PAD)
        ys = np.clip(points[:, 1], 0, h - 1) + np.float32(PAD)
        return near, _points(xs, ys)


def _bordered(image: np.ndarray) -> np.ndarray:
    """``image`` with ``PAD`` replicated pixels around it, as the ring and a fade hold it."""
    cv2 = cv2_module()
    return cv2.copyMakeBorder(np.ascontiguousarray(image), PAD, PAD, PAD, PAD,
                              cv2.BORDER_REPLICATE)


def _points(xs: np.ndarray, ys: np.ndarray, width: int = 1024) -> tuple[np.ndarray, np.ndarray]:
    """Scattered points as maps for ``cv2.remap`` (which wants fewer than 32767 rows and
    columns): ``width`` a row, the last row padded; its output, reshaped to (-1, channels),
    holds the points in order."""
    count = len(xs)
    rows = max(1, -(-count // width))
    maps = np.zeros((2, rows * width), np.float32)
    maps[0, :count], maps[1, :count] = xs, ys
    return maps[0].reshape(rows, width), maps[1].reshape(rows, width)


def at_flow_size(image: np.ndarray, config: VideoConfig) -> np.ndarray:
    """``image`` at the flow's size: long side at most ``config.steady_flow_size`` (area
    averaged, so the flow is measured on the frame's detail, not on its aliasing)."""
    h, w = image.shape[:2]
    scale = config.steady_flow_size / max(h, w)
    if scale >= 1:
        return image
    size = (max(8, round(w * scale)), max(8, round(h * scale)))
    return cv2_module().resize(image, size, interpolation=cv2_module().INTER_AREA)


def camera_motion(flow: np.ndarray, where: np.ndarray, step: int = 4) -> np.ndarray | None:
    """The camera's motion that best explains ``flow`` (H x W x 2) at the pixels ``where``,
    as a flow field: a similarity (translation, rotation and zoom; an affine's shear and
    stretch, fitted on a band of textured picture, tilted the flow extrapolated to a sky),
    least squares on every ``step``-th pixel, refitted without the quarter it explains worst
    (a moving object's). None when too few pixels (1%) are given."""
    h, w = flow.shape[:2]
    ys, xs = np.mgrid[0:h:step, 0:w:step]
    chosen = where[::step, ::step]
    if chosen.sum() < max(12, 0.01 * chosen.size):
        return None
    x, y = xs[chosen].astype(np.float64), ys[chosen].astype(np.float64)
    target = flow[::step, ::step][chosen].astype(np.float64)
    ones, zeros = np.ones_like(x), np.zeros_like(x)
    # flow = a (x, y) + b (-y, x) + (tx, ty): both components in one system
    system = np.concatenate([np.stack([x, -y, ones, zeros], 1),
                             np.stack([y, x, zeros, ones], 1)])
    values = np.concatenate([target[:, 0], target[:, 1]])
    a, b, tx, ty = np.linalg.lstsq(system, values, rcond=None)[0]
    residual = np.hypot(a * x - b * y + tx - target[:, 0], b * x + a * y + ty - target[:, 1])
    keep = np.tile(residual <= max(np.percentile(residual, 75), 0.5), 2)
    a, b, tx, ty = np.linalg.lstsq(system[keep], values[keep], rcond=None)[0]
    gx, gy = pixel_grid(h, w)
    field = np.empty((h, w, 2), np.float32)
    field[..., 0] = a * gx - b * gy + tx
    field[..., 1] = b * gx + a * gy + ty
    return field


def _texture(grey_image: np.ndarray, window: int) -> np.ndarray:
    """The grey levels' standard deviation in a ``window`` px window around each pixel."""
    cv2 = cv2_module()
    image = grey_image.astype(np.float32)
    mean = cv2.blur(image, (window, window))
    variance = cv2.blur(image * image, (window, window)) - mean * mean
    return np.sqrt(np.maximum(variance, 0))


@functools.lru_cache(maxsize=4)
def _edge_distance(h: int, w: int) -> np.ndarray:
    """Each pixel's distance, pixels, to the nearest edge of an h x w frame (float32,
    read-only: made once per clip, as ``flow.pixel_grid``)."""
    xs = np.minimum(np.arange(w), np.arange(w)[::-1]).astype(np.float32)
    ys = np.minimum(np.arange(h), np.arange(h)[::-1]).astype(np.float32)
    distance = np.minimum(xs[None, :], ys[:, None])
    distance.setflags(write=False)
    return distance
