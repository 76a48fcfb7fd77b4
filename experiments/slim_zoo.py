"""Distil every built-in style into the slim MT-Net (``NetworkConfig.slim``).

    python -m experiments.slim_zoo distil [NAME ...]      # resumable; runs/slim/NAME/
    python -m experiments.slim_zoo package [NAME ...]     # ship: styles/NAME.safetensors

The first style (``FIRST``) is distilled from a fresh slim network; every other one starts
from FIRST's slim network, as the full-width zoo was fine-tuned from starry-night: a start that
already paints converges in fewer steps (``FOLLOWER_ITERATIONS``). ``package`` moves today's
full-width file to ``styles/full/NAME.safetensors`` (``--width full``) and writes the slim one,
compact, in its place.
"""

from __future__ import annotations

import argparse
import dataclasses
import shutil
import sys
import time
from pathlib import Path

from brushwork.api import FULL_DIR, STYLES_DIR
from brushwork.distillation import distil
from brushwork.hyper_parameters import DistilConfig
from brushwork.model_files import write_compact

ROOT = Path(__file__).resolve().parents[1]
RUNS = ROOT / "runs" / "slim"
TRAIN_PHOTOS = ROOT / "data" / "train-photos"
FIRST = "starry-night"
ORDER = (FIRST, "great-wave", "composition-viii", "wheat-field", "garden-at-bougival",
         "summertime", "irises", "hollyhocks", "wave-and-bougival")
#: Steps for a style that starts from FIRST's slim network (ours: a third of FIRST's).
FOLLOWER_ITERATIONS = 300


def teacher(name: str) -> Path:
    """The full-width network of a style: styles/full/ once packaged, else styles/."""
    packaged = FULL_DIR / f"{name}.safetensors"
    return packaged if packaged.exists() else STYLES_DIR / f"{name}.safetensors"


def first_slim(config: DistilConfig) -> Path:
    """FIRST's slim network: the shipped one when styles/ already holds it, else distilled."""
    shipped = STYLES_DIR / f"{FIRST}.safetensors"
    if (FULL_DIR / f"{FIRST}.safetensors").exists():
        return shipped
    return run_one(FIRST, config, FOLLOWER_ITERATIONS)


def run_one(name: str, config: DistilConfig, follower_iterations: int) -> Path:
    out = RUNS / f"{name}.safetensors"
    if out.exists():
        return out
    init = None if name == FIRST else first_slim(config)
    if init is not None:
        config = dataclasses.replace(config, iterations=follower_iterations)
    started = time.time()

    def progress(event: dict) -> None:
        step = event["iteration"]
        if step % 25 == 0 or step == event["iterations"]:
            per = event["seconds"] / step
            left = per * (event["iterations"] - step) / 60
            levels = " ".join(f"{v:.4f}" for v in event["levels"])
            print(f"{name} {step}/{event['iterations']} loss {event['loss']:.4f} "
                  f"L1 {levels} {per:.2f} s/step, {left:.1f} min left", flush=True)

    distil(teacher(name), TRAIN_PHOTOS, RUNS / name, out, config, init_from=init,
           on_progress=progress)
    print(f"{name}: wrote {out} in {(time.time() - started) / 60:.1f} min", flush=True)
    return out


def package(name: str) -> None:
    slim = RUNS / f"{name}.safetensors"
    FULL_DIR.mkdir(exist_ok=True)
    full = FULL_DIR / f"{name}.safetensors"
    if not full.exists():
        shutil.copy2(STYLES_DIR / f"{name}.safetensors", full)
    write_compact(slim, STYLES_DIR / f"{name}.safetensors")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("command", choices=("distil", "package"))
    parser.add_argument("names", nargs="*", default=list(ORDER))
    parser.add_argument("--iterations", type=int, default=DistilConfig.iterations,
                        help="steps for FIRST, distilled from a fresh network")
    parser.add_argument("--follower-iterations", type=int, default=FOLLOWER_ITERATIONS,
                        help="steps for every other style, started from FIRST's slim network")
    args = parser.parse_args(argv)
    config = DistilConfig(iterations=args.iterations)
    for name in args.names:
        if args.command == "distil":
            run_one(name, config, args.follower_iterations)
        else:
            package(name)
    return 0


if __name__ == "__main__":
    sys.exit(main())
