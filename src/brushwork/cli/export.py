"""``brushwork export``: a model file from a run's latest checkpoint, or an ONNX model."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any


def _export(args: argparse.Namespace) -> int:
    from ..images import output_format
    from ..model_files import export_model

    if Path(args.output).suffix.lower() == ".onnx":
        from ..onnx_export import export_onnx

        export_onnx(args.run_dir, args.output)
        print(f"ONNX model written to {args.output} (inputs: photo, size; any size)")
        return 0
    if Path(args.output).suffix != ".safetensors":
        output_format(args.output)  # raises with the list of suffixes; models need .safetensors
    path = export_model(args.run_dir, args.output)
    print(f"model written to {path}")
    return 0


def add_parser(commands: Any) -> None:
    e = commands.add_parser(
        "export", help="write a model file from a run's latest checkpoint, or an ONNX model",
        description="RUN_DIR -o model.safetensors: a model file from a training run's latest "
                    "checkpoint. SOURCE -o model.onnx: the whole hierarchy as one ONNX model "
                    "(dynamic height, width and output size; needs brushwork[onnx]) from a "
                    "built-in style, a model file or a run folder.")
    e.add_argument("run_dir", metavar="SOURCE", help="run folder (or, for .onnx, a model)")
    e.add_argument("-o", "--output", required=True, help=".safetensors or .onnx")
    e.set_defaults(run=_export)
