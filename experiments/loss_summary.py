"""Summarise a training run's loss log: mean per-level loss over its first and last 50 iterations.

    python -m experiments.loss_summary RUN_DIR/loss.jsonl

Each level's weighted loss and every term of it: alpha*content, beta*texture (the paper's
Eq. 4) and each of our extra terms the run logs (palette, agreement, colour layout), so a reader
can see whether every level's loss falls and which term moved. Logs written before the extra
terms had names of their own counted them in ``texture``.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from pathlib import Path

from brushwork.losses.perceptual import EXTRA_TERMS


def summarise(log: Path, window: int = 50) -> str:
    rows = [json.loads(line) for line in log.read_text().splitlines() if line.strip()]
    first, last = rows[:window], rows[-window:]
    lines = [f"iterations {rows[0]['iteration']}..{rows[-1]['iteration']} ({len(rows)} logged)"]
    levels = len(rows[0]["level"])
    keys = ["level", "content", "texture", *(name for name in EXTRA_TERMS if name in rows[0])]
    width = max(map(len, keys))
    for k in range(levels):
        for key in keys:
            before = sum(r[key][k] for r in first) / len(first)
            after = sum(r[key][k] for r in last) / len(last)
            ratio = f"{after / before:.3f}" if before else "-"  # a term off at this level: 0
            lines.append(f"level {k + 1} {key:{width}s} first {before:11.4g}  "
                         f"last {after:11.4g}  ratio {ratio}")
    seconds = sorted(r["seconds"] for r in rows)
    median = seconds[len(rows) // 2]
    lines.append(f"wall seconds {sum(seconds):.0f}, median s/iteration {median:.2f}")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("log", type=Path, help="a run's loss.jsonl")
    args = parser.parse_args(argv)
    print(summarise(args.log))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
