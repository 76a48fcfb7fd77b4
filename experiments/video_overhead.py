"""What steady brushwork costs end to end: ``brushwork stylize CLIP --size 720`` against the same
with ``--no-steady``, decoding and H.264 encoding included, runs alternated so that a change of
the machine's load falls on both modes alike.

    OMP_WAIT_POLICY=PASSIVE python -m experiments.video_overhead            # 3 runs each
    python -m experiments.video_overhead --runs 5 --size 1280

Each run is a fresh process (model loading included, as a user pays it); the medians and
their ratio are printed with the CPU's name. Time it on an otherwise idle machine: the two
modes differ by ~15%, less than a shared machine's swings.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from experiments.lib.arguments import SHARED_DATA, log

CITY = SHARED_DATA / "videos" / "city-cc0.mpg"


def cpu_name() -> str:
    """The CPU's model name and whether it has AVX-512 BF16 (PyTorch then paints in bf16)."""
    try:
        info = Path("/proc/cpuinfo").read_text()
    except OSError:
        return platform.processor() or "unknown CPU"
    name = next((line.split(":", 1)[1].strip() for line in info.splitlines()
                 if line.startswith("model name")), "unknown CPU")
    return f"{name}, {'with' if 'avx512_bf16' in info else 'without'} avx512_bf16"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--clip", type=Path, default=CITY)
    parser.add_argument("--size", type=int, default=720)
    parser.add_argument("--runs", type=int, default=3, help="runs of each mode")
    args = parser.parse_args(argv)
    times: dict[str, list[float]] = {"steady": [], "no-steady": []}
    with tempfile.TemporaryDirectory() as work:
        for run in range(args.runs):
            for mode in times:
                command = [sys.executable, "-m", "brushwork", "stylize", str(args.clip),
                           "-o", str(Path(work) / f"{mode}.mp4"), "--size", str(args.size)]
                if mode == "no-steady":
                    command.append("--no-steady")
                began = time.perf_counter()
                subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
                times[mode].append(time.perf_counter() - began)
                log(f"run {run + 1} {mode}: {times[mode][-1]:.1f} s")
    steady, plain = (statistics.median(times[m]) for m in ("steady", "no-steady"))
    print(f"{cpu_name()}; {args.clip.name} at {args.size} px, {args.runs} runs each")
    for mode, values in times.items():
        print(f"{mode:10s} median {statistics.median(values):6.1f} s  "
              f"({', '.join(f'{v:.1f}' for v in values)})")
    print(f"steady / no-steady = {steady / plain:.3f} ({(steady / plain - 1) * 100:+.1f}%)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
