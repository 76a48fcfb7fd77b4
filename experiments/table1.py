"""Table 1: speed and memory of MT-Net, the Johnson net and DS Net, beside the paper's ratios.

    python -m experiments.table1              # defaults below; run it on an otherwise idle machine
    python -m experiments.table1 --smoke      # seconds, in a temporary folder

Paper section 4, Table 1 (1024x1024, GTX 1080, mean of 1,000 generations): MT-Net 0.54 s and
3100 MB, the Johnson net 0.42 s and 2400 MB, DS Net (MT-Net's three subnets chained at full
size) 0.63 s and 6700 MB: MT/Johnson 1.29x time and 1.29x memory, DS/Johnson 1.5x time and
2.8x memory. Here the measurements are ``brushwork bench``'s own
(``brushwork.benchmark.inference_table``: interleaved timed runs after a warm-up, the median,
peak memory in a fresh child process per case), at several sizes and precisions, with the
FLOPs of each network (counted by ``torch.utils.flop_counter`` on the meta device: no data).

Timings are noisy on a shared machine: run it when nothing else runs. Each (size, precision)
group is stored in WORK/results.json as soon as it is measured; a re-run measures only the
groups missing (``--force`` measures all again).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from dataclasses import asdict, fields
from pathlib import Path

import torch

from brushwork.benchmark import Result, format_table, inference_table
from brushwork.hierarchy import stylize_tensor
from brushwork.networks import build_network
from experiments.lib.arguments import log, run_main, settle
from experiments.lib.reports import (
    keep_block,
    markdown_table,
    provenance,
    report_head,
    write_report,
    write_summary,
)

NAME = "table1"
NETWORKS = ("mtnet", "johnson", "ds-net")
LABELS = {"mtnet": "MT-Net", "johnson": "Johnson net", "ds-net": "DS Net"}
SIZES, PRECISIONS, RUNS, WARMUP = (512, 1024, 2048), ("float32", "bfloat16"), 5, 1
#: The paper's Table 1 (1024x1024 on a GTX 1080): seconds and MB.
PAPER = {"mtnet": (0.54, 3100), "johnson": (0.42, 2400), "ds-net": (0.63, 6700)}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m experiments.table1", description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="Writes REPORTS/table1.md and REPORTS/table1.json. Cost of the defaults on a "
               "2-core CPU: about 20-30 minutes (DS Net at 2048 px dominates).")
    parser.add_argument("--smoke", action="store_true",
                        help="64-px images, one run, no memory probes, in a temporary folder")
    parser.add_argument("--sizes", nargs="+", type=int,
                        help=f"square image sides (default {' '.join(map(str, SIZES))}; "
                             "smoke 64)")
    parser.add_argument("--precisions", nargs="+", choices=("float32", "bfloat16"),
                        help=f"default {' '.join(PRECISIONS)} (bfloat16 only where the device "
                             "computes it natively; smoke float32)")
    parser.add_argument("--runs", type=int, help=f"timed runs per case (default {RUNS}; "
                                                 "smoke 1)")
    parser.add_argument("--warmup", type=int, help=f"warm-up runs per case (default {WARMUP}; "
                                                   "smoke 0)")
    parser.add_argument("--no-memory", action="store_true",
                        help="skip the peak-memory probes (always skipped in smoke runs)")
    parser.add_argument("--force", action="store_true", help="measure every group again")
    parser.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))
    parser.add_argument("--work", type=Path,
                        help="measurements (default runs/experiments/table1; smoke: a "
                             "temporary folder)")
    parser.add_argument("--reports", type=Path,
                        help="markdown and JSON (default docs/experiments; smoke: WORK/reports)")
    return parser


def measure(args: argparse.Namespace) -> list[Result]:
    """Every (size, precision) group, measured or read back from WORK/results.json."""
    store = args.work / "results.json"
    stored = json.loads(store.read_text()) if store.is_file() and not args.force else {}
    settings = {"networks": list(NETWORKS), "runs": args.runs, "warmup": args.warmup,
                "memory": args.memory, "device": args.device}
    results: list[Result] = []
    for size in args.sizes:
        for precision in args.precisions:
            key = f"{size}-{precision}"
            group = stored.get(key)
            if group is None or group["settings"] != settings:
                log(f"{NAME}: measuring {size} px, {precision}")
                rows = inference_table(list(NETWORKS), [size], [precision], args.runs,
                                       args.warmup, device=args.device, memory=args.memory)
                group = {"settings": settings, "results": [r.to_dict() for r in rows]}
                stored[key] = group
                store.write_text(json.dumps(stored, indent=1))
            else:
                log(f"{NAME}: {size} px, {precision}: measured before, kept")
            names = {f.name for f in fields(Result)}
            results += [Result(**{k: v for k, v in row.items() if k in names})
                        for row in group["results"]]
    return results


def gflops(sizes: Sequence[int]) -> dict[str, dict[int, float]]:
    """GFLOP of one stylisation of a size x size photo (multiply-add = 2 FLOPs)."""
    from torch.utils.flop_counter import FlopCounterMode

    counts: dict[str, dict[int, float]] = {}
    for arch in NETWORKS:
        net = build_network(arch).to("meta").eval()
        counts[arch] = {}
        for size in sizes:
            photo = torch.empty(1, 3, size, size, device="meta")
            # The modules' own forward: the architecture's FLOPs. Painting runs the fused
            # network (networks/fused.py), whose resize-convolutions may take 16 instead of
            # 36 multiply-adds per pixel and input channel.
            with FlopCounterMode(display=False) as counter, torch.enable_grad():
                stylize_tensor(net, photo, size)
            counts[arch][size] = counter.get_total_flops() / 1e9
    return counts


def _ratio(results: list[Result], arch: str, size: int, precision: str,
           attribute: str) -> float | None:
    row = next((r for r in results if r.name == arch and r.size == size
                and r.precision == precision), None)
    return None if row is None else getattr(row, attribute)


def _times(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def render(args: argparse.Namespace, argv: Sequence[str], results: list[Result],
           flops: dict[str, dict[int, float]], info: dict) -> str:
    """The report: method, measurements, ratios beside the paper's, FLOPs, facts, a slot."""
    lines = report_head(args, argv, "table1.py",
                               "Table 1 analogue: speed and memory of MT-Net, the Johnson net "
                               "and DS Net", info)
    paper_mt_t = PAPER["mtnet"][0] / PAPER["johnson"][0]
    paper_mt_m = PAPER["mtnet"][1] / PAPER["johnson"][1]
    paper_ds_t = PAPER["ds-net"][0] / PAPER["johnson"][0]
    paper_ds_m = PAPER["ds-net"][1] / PAPER["johnson"][1]
    measured = sorted({(r.size, r.precision) for r in results})
    lines += [
        "## How it was measured", "",
        f"- `brushwork.benchmark.inference_table`, the code behind `brushwork bench`: for each "
        f"size and precision the three networks are built with random weights (speed does not "
        f"depend on them), warmed up {args.warmup} time(s), then timed {args.runs} times each, "
        "interleaved round-robin so that drift hits all alike; the median is reported. Model "
        "loading is not timed. Photos are size x size.",
        "- MT-Net runs its levels at size/4, size/2 and size (2048: 256, 512, 1024, 2048, the "
        "refine subnet once per doubling); the Johnson net and DS Net run once at full size.",
        "- Peak memory: " + ("not measured (`--no-memory` or smoke)." if not args.memory else
                             "`brushwork.benchmark.peak_memory_mb`, one fresh child process per "
                             "case (the module's docstring says exactly what is counted)."),
        "- bfloat16 is what `brushwork stylize` uses by default where the hardware computes "
        "it natively: bf16 weights and activations, MT-Net's style subnet in float32.",
        f"- The paper: 1024x1024 on an NVIDIA GTX 1080, mean of 1,000 generations: MT-Net "
        f"{PAPER['mtnet'][0]} s / {PAPER['mtnet'][1]} MB, Johnson net {PAPER['johnson'][0]} s "
        f"/ {PAPER['johnson'][1]} MB, DS Net {PAPER['ds-net'][0]} s / {PAPER['ds-net'][1]} MB.",
        "",
        "## Measurements", "",
        format_table(results, "johnson"), "",
        "## Ratios to the Johnson net, beside the paper's", "",
    ]
    rows: list[list] = [["paper (1024, GTX 1080)", f"{paper_mt_t:.2f}", f"{paper_mt_m:.2f}",
                         f"{paper_ds_t:.2f}", f"{paper_ds_m:.2f}"]]
    for size, precision in measured:
        rows.append([f"ours, {size}, {precision}"] + [
            _times(_ratio(results, arch, size, precision, attribute))
            for arch in ("mtnet", "ds-net") for attribute in ("ratio", "memory_ratio")])
    lines += [markdown_table(["", "MT / Johnson time", "MT / Johnson memory",
                                     "DS / Johnson time", "DS / Johnson memory"], rows), ""]
    sizes = sorted(next(iter(flops.values())))
    lines += ["## Work per stylisation", "",
              markdown_table(
                  ["network"] + [f"GFLOP @{s}" for s in sizes]
                  + [f"x Johnson @{s}" for s in sizes],
                  [[LABELS[a]] + [f"{flops[a][s]:.1f}" for s in sizes]
                   + [_times(flops[a][s] / flops["johnson"][s]) for s in sizes]
                   for a in NETWORKS]),
              "", "## What the numbers say (generated: measured facts only)", ""]
    for size, precision in measured:
        facts = []
        for arch, paper_t, paper_m in (("mtnet", paper_mt_t, paper_mt_m),
                                       ("ds-net", paper_ds_t, paper_ds_m)):
            time_ratio = _ratio(results, arch, size, precision, "ratio")
            memory_ratio = _ratio(results, arch, size, precision, "memory_ratio")
            if time_ratio is None:
                continue
            text = (f"{LABELS[arch]} takes {time_ratio:.2f}x the Johnson net's time (paper "
                    f"{paper_t:.2f}x)")
            if memory_ratio is not None:
                text += f" and {memory_ratio:.2f}x its peak memory (paper {paper_m:.2f}x)"
            if size in flops[arch]:
                text += (f" for {flops[arch][size] / flops['johnson'][size]:.2f}x its "
                         "FLOPs")
            facts.append(text)
        if facts:
            lines.append(f"- {size} px, {precision}: " + "; ".join(facts) + ".")
    lines += ["", "## Explaining the differences", "",
              keep_block("explanation", "_To be written after reading the numbers: why "
                                "our ratios differ from the paper's (device, precision, layer "
                                "widths, memory accounting)._"), ""]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = settle(build_parser().parse_args(argv), NAME)
    smoke = args.smoke
    args.sizes = args.sizes or ([64] if smoke else list(SIZES))
    args.precisions = args.precisions or (["float32"] if smoke else list(PRECISIONS))
    args.runs = args.runs if args.runs is not None else (1 if smoke else RUNS)
    args.warmup = args.warmup if args.warmup is not None else (0 if smoke else WARMUP)
    args.memory = not (args.no_memory or smoke)
    results = measure(args)
    flops = gflops(args.sizes)
    info = provenance(args.device)
    write_report(args.reports / f"{NAME}.md", render(args, argv, results, flops, info))
    budget = (f"{args.runs} timed runs after {args.warmup} warm-up per case; sizes "
              f"{', '.join(map(str, args.sizes))}; {', '.join(args.precisions)}"
              + ("" if args.memory else "; no memory probes"))
    write_summary(args.reports, NAME, {
        "title": "Table 1: speed and memory of MT-Net, Johnson Net and DS Net",
        "report": f"{NAME}.md", "budget": budget, "smoke": smoke, "provenance": info,
    }, {"results": [asdict(r) for r in results],
        "gflops": {a: {str(s): v for s, v in c.items()} for a, c in flops.items()},
        "paper": PAPER})
    log(f"{NAME}: report {args.reports / (NAME + '.md')}")
    return 0


if __name__ == "__main__":
    sys.exit(run_main(main, None))
