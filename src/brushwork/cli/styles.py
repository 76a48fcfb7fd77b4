"""``brushwork styles``: the built-in styles."""

from __future__ import annotations

import argparse
import json
from typing import Any

from .info import lineage_words, scores_line


def _styles(args: argparse.Namespace) -> int:
    from ..api import available_styles, resolve_model_path, style_card
    from ..model_files import read_model_file

    rows = []
    for name in available_styles():  # the files' metadata: no network is built or measured
        _, metadata = read_model_file(resolve_model_path(name))
        rows.append({
            "name": name, **style_card(name), "record": metadata.get("record", {}),
            "texture_weights": metadata.get("loss", {}).get("texture_weights"),
            "distilled": metadata.get("distilled"),
        })
    if args.json:
        print(json.dumps(rows))
        return 0
    for row in rows:
        record = row["record"]
        print(f"{row['name']}: {row.get('title', '?')} ({row.get('artist', '?')}, "
              f"{row.get('year', '?')})")
        print(f"    licence  {row.get('license', '?')}")
        print(f"    source   {row.get('source', '?')}")
        machine = row.get("trained_on") or record.get("processor") or record.get("device", "?")
        print(f"    training {record.get('iterations', '?')} iterations in "
              f"{record.get('wall_seconds', 0) / 60:.0f} min on {machine}, "
              f"texture weights {row['texture_weights']}{lineage_words(row['name'], record)}")
        if row.get("levels") and len(set(row["levels"])) > 1:
            print(f"    levels   {', '.join(row['levels'])} (coarse to fine)")
        if row.get("note"):
            print(f"    recipe   {row['note']}")
        if row.get("distilled"):
            distilled = row["distilled"]
            print(f"    network  slim, distilled from the full-width network in "
                  f"{distilled.get('iterations', '?')} steps "
                  f"({distilled.get('wall_seconds', 0) / 60:.0f} min on "
                  f"{distilled.get('processor', '?')}); --width full paints with that one")
        if row.get("scores"):
            print(f"    scores   {scores_line(row['scores'])}")
    print("Mix styles: --style NAME:WEIGHT,NAME:WEIGHT "
          "(e.g. starry-night:0.6,great-wave:0.4)")
    return 0


def add_parser(commands: Any) -> None:
    st = commands.add_parser("styles", help="list the built-in styles")
    st.add_argument("--json", action="store_true")
    st.set_defaults(run=_styles)
