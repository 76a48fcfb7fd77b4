"""The docs name files that exist: every test path they cite."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DOCS = [*sorted((ROOT / "docs").rglob("*.md")),
        ROOT / "README.md", ROOT / "DEVELOPERS.md", ROOT / "experiments" / "README.md"]


def test_every_test_the_docs_cite_exists():
    """``tests/...py`` (and ``::test_name`` after it) in any doc is a real file (and test)."""
    cited = re.compile(r"(?<![\w/.])(tests/[\w/]+\.py)(?:::(\w+))?")
    missing = []
    for doc in DOCS:
        for path, name in cited.findall(doc.read_text()):
            target = ROOT / path
            if not target.is_file():
                missing.append(f"{doc.relative_to(ROOT)}: {path}")
            elif name and not re.search(rf"^\s*(async )?def {name}\(", target.read_text(), re.M):
                missing.append(f"{doc.relative_to(ROOT)}: {path}::{name}")
    assert not missing, "stale test paths:\n" + "\n".join(missing)
