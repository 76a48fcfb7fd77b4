"""Where a clip's warping error comes from under the steady mode, and how low a carry can go:
each row's E_warp split by what the mode did to the pixels the measure counts.

    python -m experiments.video_floor          # city: shipped, and along the measure's flow
    python -m experiments.video_floor --rows shipped shipped:steady_edge_fade=1 measure-flow oracle

Reads ``experiments.video_carry``'s cache (run it first, with the same ``--measure-flow``):
the clip's frames, MT-Net's per-frame paintings and the measure's flow and reliable pixels.
Rows:

- ``shipped`` and ``shipped:key=value,...``: ``video.Steadier`` with ``VideoConfig`` fields
  changed (as in ``video_carry``);
- ``measure-flow``: the steady mode with every rule it has, but carried along the measure's
  own flow (its method and parameters at full size): how steady a mode that agrees with the
  measure exactly could be;
- ``oracle``: the measure's flow *and* its reliable pixels, none of the mode's own tests.

Columns: E_warp x 1e-3 over the clip, and its parts: pixels fully carried (the mode's keep
weight >= 0.99), fresh (<= 0.01) and in between (the feather around fresh specks, edge
repaints), each as its contribution to E_warp and its share of the measured pixels; then
E_warp by 30 frames. Not timed: run it beside nothing else only for speed's sake.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import replace

import numpy as np

from brushwork.hyper_parameters import VideoConfig
from brushwork.video import Steadier
from brushwork.video.flow import warp
from experiments.video_carry import OUT, make_variant, measure_keys

PARTS = ("carried", "feather", "fresh")
CHUNK = 30


class OracleSteadier(Steadier):
    """The steady mode whose flow and reliable pixels are given, frame by frame."""

    def __init__(self, flows: np.ndarray, masks: np.ndarray, config: VideoConfig) -> None:
        super().__init__(config)
        self.flows, self.masks, self.frame = flows, masks, 0

    def __call__(self, frame: np.ndarray, painting: np.ndarray):
        result = super().__call__(frame, painting)
        self.frame += 1
        return result

    def _reliable(self, current_grey: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return (np.array(self.flows[self.frame]),
                np.array(self.masks[self.frame]).astype(bool))


def make_row(spec: str, flows: np.ndarray, masks: np.ndarray, measure_flow: str,
             size: int) -> Steadier:
    if spec == "oracle":
        return OracleSteadier(flows, masks, replace(VideoConfig(), steady_edge=0))
    if spec == "measure-flow":  # the measure's flow method, at full size, in the mode
        return Steadier(replace(VideoConfig(), steady_flow_preset=measure_flow,
                                steady_flow_size=size))
    steadier = make_variant(spec)
    assert isinstance(steadier, Steadier), f"{spec}: only Steadier rows are split"
    return steadier


def split(clip: str, specs: list[str], measure_flow: str) -> dict[str, dict]:
    folder = OUT / clip
    args = argparse.Namespace(measure_flow=measure_flow)
    flow_name, mask_name = measure_keys(args)
    frames = np.load(folder / "frames.npy", mmap_mode="r")
    painted = np.load(folder / "painted.npy", mmap_mode="r")
    flows = np.load(folder / f"{flow_name}.npy", mmap_mode="r")
    masks = np.load(folder / f"{mask_name}.npy", mmap_mode="r")
    size = max(frames.shape[1:3])
    results = {}
    for spec in specs:
        steadier = make_row(spec, flows, masks, measure_flow, size)
        previous, pairs = None, []
        for t in range(len(frames)):
            out, step = steadier(np.ascontiguousarray(frames[t]), np.ascontiguousarray(painted[t]))
            mask = np.asarray(masks[t]).astype(bool)
            if previous is not None and not step.cut and mask.any():
                moved = warp(previous.astype(np.float32), np.asarray(flows[t]))
                error = (((out.astype(np.float32) - moved) / 255.0) ** 2).sum(-1)
                keep = step.keep if step.keep is not None else np.zeros(mask.shape, np.float32)
                parts = {"carried": keep >= 0.99, "fresh": keep <= 0.01}
                parts["feather"] = ~parts["carried"] & ~parts["fresh"]
                count = mask.sum()
                pairs.append({"E": float((error * mask).sum() / count), **{
                    part: (float((error * (mask & where)).sum() / count),
                           float((mask & where).sum() / count))
                    for part, where in parts.items()}})
            previous = out
        results[spec] = pairs
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--clip", default="city", help="a clip of video_carry's cache")
    parser.add_argument("--rows", nargs="+", default=["shipped", "measure-flow"])
    parser.add_argument("--measure-flow", default=VideoConfig().measure_flow_preset,
                        help="whose cached flow measures (a DIS preset or farneback)")
    args = parser.parse_args(argv)
    results = split(args.clip, args.rows, args.measure_flow)
    print(f"{args.clip}, measure's flow {args.measure_flow}: E_warp x 1e-3 and its parts "
          "(contribution, share of measured pixels)")
    for spec, pairs in results.items():
        parts = "  ".join(
            f"{part} {1e3 * np.mean([p[part][0] for p in pairs]):.3f} "
            f"({np.mean([p[part][1] for p in pairs]):.1%})" for part in PARTS)
        chunks = " ".join(f"{1e3 * np.mean([p['E'] for p in pairs[i:i + CHUNK]]):.2f}"
                          for i in range(0, len(pairs), CHUNK))
        print(f"{spec:36s} {1e3 * np.mean([p['E'] for p in pairs]):.3f}  {parts}  "
              f"by {CHUNK}: {chunks}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
