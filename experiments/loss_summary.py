"""Summarise a training run's loss log: mean per-level loss over its first and last 50 iterations.

    python -m experiments.loss_summary RUN_DIR/loss.jsonl

Each level's weighted loss alpha*content + beta*texture, and both terms, so a reader can see
whether every level's loss falls (issue 3, acceptance 2) and which term moved.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from pathlib import Path


def summarise(log: Path, window: int = 50) -> str:
    rows = [json.loads(line) for line in log.read_text().splitlines() if line.strip()]
    first, last = rows[:window], rows[-window:]
    lines = [f"iterations {rows[0]['iteration']}..{rows[-1]['iteration']} ({len(rows)} logged)"]
    levels = len(rows[0]["level"])
    for k in range(levels):
        for key in ("level", "content", "texture"):
            before = sum(r[key][k] for r in first) / len(first)
            after = sum(r[key][k] for r in last) / len(last)
            lines.append(f"level {k + 1} {key:8s} first {before:11.4g}  last {after:11.4g}  "
                         f"ratio {after / before:.3f}")
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
