"""How exact each optical flow is on real frames moved by exactly known sub-pixel motions: the
steady mode's DIS, the measure's Farneback, and (with opencv-contrib) DeepFlow and TV-L1.

    python -m experiments.video_flow_accuracy
    python -m experiments.video_flow_accuracy --frames 20 100 180 --methods dis-fast-1 farneback

City-cc0's frames (``experiments.video_carry``'s cache: run it first), each moved by
translations of 0.1-3 px and zooms of 0.1-0.3% about the centre (bicubic), with independent
grey noise of 1.5 levels on both frames; flow from the moved frame back to the original,
as the steady mode and the measure compute it. Printed: the mean end-point error in pixels
on textured pixels (grey spread > 3 in 9 px) and on flat ones (the night sky), 20 px from
the edges, and milliseconds a flow on the 2 cores. Methods at 480 px (the steady mode's
``steady_flow_size``) are scaled up to full size before they are compared.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable

import numpy as np

from brushwork.hyper_parameters import VideoConfig
from brushwork.video.flow import FARNEBACK, Flow, cv2_module, grey, pixel_grid
from brushwork.video.steady import _texture, at_flow_size
from experiments.video_carry import OUT

#: (x shift, y shift, zoom) of the current frame against the previous one.
MOTIONS = [(0.4, 0.1, 1.002), (0.25, -0.3, 1.0), (1.3, 0.6, 0.997), (0.1, 0.05, 1.001),
           (3.0, 1.0, 1.0)]


def solvers() -> dict[str, tuple[Callable[[np.ndarray, np.ndarray], np.ndarray], bool]]:
    """name -> (flow(current, previous), whether it runs at the steady mode's 480 px)."""
    cv2 = cv2_module()
    found: dict[str, tuple[Callable[[np.ndarray, np.ndarray], np.ndarray], bool]] = {
        "dis-fast-1 (the steady mode)": (Flow("fast", 1), True),
        "dis-fast-0": (Flow("fast", 0), True),
        "dis-medium-0, full size": (Flow("medium", 0), False),
        "farneback, 480 px": (Flow("farneback"), True),
        "farneback, full size (the measure)": (Flow("farneback"), False),
    }
    if hasattr(cv2, "optflow"):  # opencv-contrib-python(-headless) only
        deep = cv2.optflow.createOptFlow_DeepFlow()
        tvl1 = cv2.optflow.DualTVL1OpticalFlow_create()
        found["deepflow, full size"] = (lambda a, b: deep.calc(a, b, None), False)
        found["tv-l1, full size"] = (lambda a, b: tvl1.calc(a, b, None), False)
    return found


def to_full_size(flow: np.ndarray, h: int, w: int) -> np.ndarray:
    cv2 = cv2_module()
    sx, sy = w / flow.shape[1], h / flow.shape[0]
    return np.dstack([cv2.resize(flow[..., 0], (w, h)) * sx,
                      cv2.resize(flow[..., 1], (w, h)) * sy])


def cases(frames: np.ndarray, chosen: list[int], seed: int = 0):
    """(current, previous, exact backward flow, textured, flat) for each frame and motion."""
    cv2 = cv2_module()
    rng = np.random.default_rng(seed)
    for t in chosen:
        image = grey(np.ascontiguousarray(frames[t])).astype(np.float32)
        h, w = image.shape
        xs, ys = pixel_grid(h, w)
        inner = np.zeros((h, w), bool)
        inner[20:-20, 20:-20] = True
        for tx, ty, zoom in MOTIONS:
            bx = (xs - w / 2) / zoom + w / 2 - tx - xs
            by = (ys - h / 2) / zoom + h / 2 - ty - ys
            moved = cv2.remap(image, xs + bx, ys + by, cv2.INTER_CUBIC,
                              borderMode=cv2.BORDER_REFLECT)

            def noisy(a: np.ndarray) -> np.ndarray:
                return np.clip(a + rng.normal(0, 1.5, a.shape), 0, 255).astype(np.uint8)

            current = noisy(moved)
            spread = _texture(current, 9)
            yield current, noisy(image), np.dstack([bx, by]), inner & (spread > 3), \
                inner & (spread <= 3)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--frames", type=int, nargs="+", default=[20, 60, 100, 140, 180],
                        help="frames of city-cc0 to move")
    args = parser.parse_args(argv)
    frames = np.load(OUT / "city" / "frames.npy", mmap_mode="r")
    config = VideoConfig()
    prepared = list(cases(frames, args.frames))
    print(f"{len(prepared)} moved frames; Farneback's parameters {FARNEBACK}")
    for name, (solve, small) in solvers().items():
        textured, flat, seconds = [], [], []
        for current, previous, exact, on_texture, on_flat in prepared:
            h, w = current.shape
            began = time.perf_counter()
            if small:
                flow = to_full_size(solve(at_flow_size(current, config),
                                          at_flow_size(previous, config)), h, w)
            else:
                flow = solve(current, previous)
            seconds.append(time.perf_counter() - began)
            error = np.hypot(*(flow - exact).transpose(2, 0, 1))
            textured.append(error[on_texture].mean())
            flat.append(error[on_flat].mean() if on_flat.any() else np.nan)
        print(f"{name:36s} end-point error: textured {np.mean(textured):.3f} px, "
              f"flat {np.nanmean(flat):.3f} px; {1e3 * np.median(seconds):.0f} ms a flow")
    return 0


if __name__ == "__main__":
    sys.exit(main())
