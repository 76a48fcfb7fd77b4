"""Compare two training runs' loss curves at an equal budget, as a markdown table.

    python -m experiments.compare_runs A/loss.jsonl B/loss.jsonl --iterations 500 --window 100

For each window of iterations and each level: the mean weighted level loss L_k of run A and of
run B, and B / A. Used to check that a leaner refine subnet (A: 16-32-64, B:
32-64-128) and bf16 training (A: float32, B: bf16) lose nothing at the same budget. Window means,
because single iterations see different photos and their losses swing by 2-3x.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from brushwork.losses.perceptual import EXTRA_TERMS


def read_log(path: Path, iterations: int) -> list[dict]:
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    rows = [r for r in rows if r["iteration"] <= iterations]
    if len(rows) < iterations:
        raise SystemExit(f"{path}: only {len(rows)} of {iterations} iterations logged")
    return rows


def mean(values: list[float]) -> float:
    return sum(values) / len(values)


def table(a: list[dict], b: list[dict], window: int, names: tuple[str, str],
          key: str = "level") -> str:
    levels = len(a[0][key])
    header = "| iterations | " + " | ".join(
        f"L{k + 1} {names[0]} | L{k + 1} {names[1]} | B/A" for k in range(levels)) + " |"
    lines = [header, "|---" * (1 + 3 * levels) + "|"]
    starts = list(range(0, len(a), window))
    for start in [*starts, None]:
        span = slice(start, start + window) if start is not None else slice(0, len(a))
        label = (f"{start + 1}-{min(start + window, len(a))}" if start is not None
                 else f"all {len(a)}")
        cells = []
        for k in range(levels):
            ma, mb = mean([r[key][k] for r in a[span]]), mean([r[key][k] for r in b[span]])
            ratio = f"{mb / ma:.3f}" if ma else "-"  # a term off at this level: 0
            cells.append(f"{ma:.4g} | {mb:.4g} | {ratio}")
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("a", type=Path, help="loss.jsonl of run A (the reference)")
    parser.add_argument("b", type=Path, help="loss.jsonl of run B")
    parser.add_argument("--iterations", type=int, required=True)
    parser.add_argument("--window", type=int, default=100)
    parser.add_argument("--names", nargs=2, default=("A", "B"))
    parser.add_argument("--key", choices=("level", "content", "texture", *EXTRA_TERMS),
                        default="level",
                        help="which logged term to compare (texture: the paper's Eq. 4; logs "
                             "written before the extra terms had names of their own counted "
                             "them in texture)")
    args = parser.parse_args(argv)
    a, b = read_log(args.a, args.iterations), read_log(args.b, args.iterations)
    print(table(a, b, args.window, tuple(args.names), args.key))
    return 0


if __name__ == "__main__":
    sys.exit(main())
