"""Steadying time per frame of steady-mode variants, side by side, with ratios.

    python -m experiments.steady_speed                                  # shipped vs camera off
    python -m experiments.steady_speed --variants shipped shipped:steady_edge=0 --sizes 1280
    python -m experiments.steady_speed --clip pan --variants shipped shipped:steady_edge_fade=1

City-cc0's frames 116-145 (its second shot; ``--clip pan``: the synthetic pan's frames 20-49,
where strokes come in through an edge all the time, so the edge rule and its fade always
work) and their cached per-frame paintings
(``experiments.video_carry``'s cache: run it first) upscaled to each long side; every variant
steadies the same frames, alternated frame by frame so the machine's drift hits all alike;
medians over the frames after the first two. Painting, decoding and encoding are not timed.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time

import numpy as np

from brushwork.video.flow import cv2_module
from experiments.video_carry import OUT, make_variant

FRAMES = {"city": range(116, 146), "pan": range(20, 50)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--variants", nargs="+", default=["shipped", "shipped:steady_camera=0"])
    parser.add_argument("--sizes", type=int, nargs="+", default=[720, 1280, 1920])
    parser.add_argument("--clip", choices=sorted(FRAMES), default="city")
    args = parser.parse_args(argv)
    cv2 = cv2_module()
    frames = np.load(OUT / args.clip / "frames.npy", mmap_mode="r")
    painted = np.load(OUT / args.clip / "painted.npy", mmap_mode="r")
    for side in args.sizes:
        h = round(frames.shape[1] * side / frames.shape[2])
        inputs = [cv2.resize(np.ascontiguousarray(frames[t]), (side, h)) for t in FRAMES[args.clip]]
        paintings = [cv2.resize(np.ascontiguousarray(painted[t]), (side, h),
                                interpolation=cv2.INTER_CUBIC) for t in FRAMES[args.clip]]
        steadiers = {spec: make_variant(spec) for spec in args.variants}
        times: dict[str, list[float]] = {spec: [] for spec in args.variants}
        for frame, painting in zip(inputs, paintings):
            for spec, steadier in steadiers.items():
                began = time.perf_counter()
                steadier(frame, painting)
                times[spec].append(time.perf_counter() - began)
        medians = {spec: statistics.median(t[2:]) for spec, t in times.items()}
        base = medians[args.variants[0]]
        print(f"{side} px: " + ", ".join(
            f"{spec} {1e3 * m:.1f} ms ({m / base:.2f}x)" for spec, m in medians.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
