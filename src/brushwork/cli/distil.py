"""``brushwork distil``: a slim network taught a trained style."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from ..errors import BrushworkError
from ..hyper_parameters import DistilConfig
from .arguments import non_negative_float, positive_float, positive_int


def _distil(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from ..api import resolve_model_path
    from ..distillation import distil

    if Path(args.output).suffix != ".safetensors":
        raise BrushworkError("the slim model is written as a .safetensors file")
    teacher = resolve_model_path(args.model, "full")
    run_dir = Path(args.run_dir or Path("runs") / f"distil-{teacher.stem}")
    bar = tqdm(total=args.iterations, unit="step", file=sys.stderr, dynamic_ncols=True,
               disable=args.quiet)

    def progress(event: dict[str, Any]) -> None:
        bar.total = event["iterations"]
        bar.n = event["iteration"]
        postfix = {"L1": f"{event['levels'][-1]:.4f}"}  # y3's distance to the teacher
        if event.get("temporal") is not None:
            postfix["moved"] = f"{event['temporal']:.4f}"
        bar.set_postfix(postfix)

    try:
        config = DistilConfig(iterations=args.iterations, temporal_weight=args.temporal_weight,
                              learning_rate=args.learning_rate)
        path = distil(teacher, args.data, run_dir, args.output, config,
                      init_from=args.init_from and resolve_model_path(args.init_from, "slim"),
                      on_progress=progress)
    except KeyboardInterrupt:
        bar.close()
        print(f"brushwork: stopped; run the same command again to resume from {run_dir}",
              file=sys.stderr)
        return 130
    bar.close()
    print(f"slim model written to {path}")
    return 0


def add_parser(commands: Any) -> None:
    d = commands.add_parser(
        "distil", help="teach a slim network (a quarter of the arithmetic) a trained style",
        description="MODEL (a model file or a built-in style's full-width network) teaches "
                    "the slim MT-Net its style on a folder of photos; resumable: run it "
                    "again with the same --run-dir.")
    d.add_argument("model", help="an MT-Net model file, or a built-in style name")
    d.add_argument("--data", required=True, help="folder of training photos")
    d.add_argument("-o", "--output", required=True, help="the slim model file (.safetensors)")
    d.add_argument("--run-dir", help="checkpoints (default: runs/distil-MODEL)")
    d.add_argument("--iterations", type=positive_int, default=DistilConfig.iterations,
                   help=f"steps of {DistilConfig.batch_size} crops "
                        f"(default {DistilConfig.iterations})")
    d.add_argument("--temporal-weight", type=non_negative_float, default=0.0,
                   help="also learn to paint a moved photo as the moved painting, with this "
                        "weight: steadier video frames (default 0: off; docs/video.md)")
    d.add_argument("--init-from", help="a slim model file or built-in style to start from "
                                       "(default: a fresh slim network)")
    d.add_argument("--learning-rate", type=positive_float, default=DistilConfig.learning_rate,
                   help=f"Adam's rate, cosine-annealed to 0 (default "
                        f"{DistilConfig.learning_rate:g})")
    d.add_argument("--quiet", action="store_true", help="no progress bar")
    d.set_defaults(run=_distil)
