"""The side-by-side clip of docs/video.md: city-cc0 painted frame by frame (left) and steady
(right), so that the flicker and the carried strokes can be seen, not only measured.

    python -m experiments.video_side_by_side                  # docs/video-side-by-side.mp4
    python -m experiments.video_side_by_side --seconds 4 --crf 30 -o /tmp/sbs.mp4

Each frame is painted once at ``--size`` (``Stylizer.stylize``, as ``brushwork stylize
--no-steady``) and that same painting goes through ``video.Steadier`` (as ``brushwork stylize``
does), so the two halves differ by the steadying alone. Each half is the central ``--crop``
columns at 1:1: downscaling would average away the very stroke-level flicker the clip is
meant to show. Written with PyAV (H.264, ``--crf``), the input's frame rate; no sound (the
clip has none). Then the written clip is decoded again and each half's warping error
(``video.WarpingError``, against the same crop of the input) printed for the whole clip and
for every 10 frames, so what the encoder kept of the difference is measured, not assumed.
"""

from __future__ import annotations

import argparse
import sys
from fractions import Fraction
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from brushwork.api import load_model
from brushwork.video import Steadier, WarpingError, read_frames
from experiments.lib.arguments import REPO, SHARED_DATA, log

CITY = SHARED_DATA / "videos" / "city-cc0.mpg"
OUT = REPO / "docs" / "video-side-by-side.mp4"
RATE = Fraction(25)  # city-cc0's frame rate
GAP = 4  # white columns between the halves


def main(argv: list[str] | None = None) -> int:
    import av

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--clip", type=Path, default=CITY)
    parser.add_argument("-o", "--output", type=Path, default=OUT)
    parser.add_argument("--style", default="starry-night")
    parser.add_argument("--size", type=int, default=720, help="long side painted")
    parser.add_argument("--crop", type=int, default=360, help="columns of each half, at 1:1")
    parser.add_argument("--seconds", type=float, default=None, help="only the first seconds")
    parser.add_argument("--crf", type=int, default=24)
    args = parser.parse_args(argv)
    torch.set_grad_enabled(False)
    stylizer = load_model(args.style)
    steadier = Steadier()
    limit = None if args.seconds is None else round(args.seconds * RATE)
    with av.open(str(args.output), "w") as output:
        stream = None
        for t, frame in enumerate(read_frames(args.clip, args.size)):
            if limit is not None and t >= limit:
                break
            h, w = frame.shape[:2]
            painting = np.ascontiguousarray(
                np.asarray(stylizer.stylize(Image.fromarray(frame), args.size))[:h, :w])
            steady = steadier(frame, painting)[0]
            x0 = (w - args.crop) // 2
            gap = np.full((h, GAP, 3), 255, np.uint8)
            both = np.ascontiguousarray(np.concatenate(
                [painting[:, x0:x0 + args.crop], gap, steady[:, x0:x0 + args.crop]], 1))
            if stream is None:
                stream = output.add_stream("libx264", rate=RATE)
                stream.width, stream.height, stream.pix_fmt = both.shape[1], h, "yuv420p"
                stream.options = {"crf": str(args.crf), "preset": "slow"}
            output.mux(stream.encode(av.VideoFrame.from_ndarray(both, format="rgb24")))
            if t % 20 == 0:
                log(f"frame {t + 1}")
        if stream is not None:
            output.mux(stream.encode(None))
    log(f"{args.output}: {args.output.stat().st_size / 1e6:.2f} MB")
    measure(args)
    return 0


def measure(args: argparse.Namespace) -> None:
    """E_warp (x 1e-3) of the two halves as written, against the input's central crop."""
    import av

    meter = WarpingError()
    with av.open(str(args.output)) as written:
        decoded = written.decode(written.streams.video[0])
        for frame, both in zip(read_frames(args.clip, args.size), decoded):
            both = both.to_ndarray(format="rgb24")
            x0 = (frame.shape[1] - args.crop) // 2
            crop = np.ascontiguousarray(frame[:both.shape[0], x0:x0 + args.crop])
            meter.add(crop, {"per frame (left)": np.ascontiguousarray(both[:, :args.crop]),
                             "steady (right)": np.ascontiguousarray(both[:, -args.crop:])})
    for name, pairs in meter.pairs.items():
        tens = " ".join(f"{np.mean(pairs[i:i + 10]) * 1e3:.2f}" for i in range(0, len(pairs), 10))
        print(f"{name:17s} E_warp {np.mean(pairs) * 1e3:.3f}; by 10 frames: {tens}")
    print(f"cuts skipped: {meter.cuts}")


if __name__ == "__main__":
    sys.exit(main())
