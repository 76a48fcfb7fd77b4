"""The docs name files that exist, and docs/architecture.md's map names every module."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "src" / "brushwork"
ARCHITECTURE = ROOT / "docs" / "architecture.md"
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


def _module_map() -> str:
    text = ARCHITECTURE.read_text()
    start = text.index("## Map of modules\n")
    return text[start:text.index("\n## ", start)]


def test_the_architecture_map_names_every_module():
    """Each module under src/brushwork/ by its path there (package ``__init__`` and
    ``__main__`` files may be left out: the package's row describes them)."""
    named = set(re.findall(r"`([\w/]+\.py)`", _module_map()))
    modules = {path.relative_to(PACKAGE).as_posix() for path in PACKAGE.rglob("*.py")
               if path.name not in ("__init__.py", "__main__.py")}
    assert not modules - named, f"not in docs/architecture.md's map: {sorted(modules - named)}"


def test_every_module_docs_architecture_names_exists():
    """Paths are relative to src/brushwork/ (the map's) or to the repository root."""
    named = re.findall(r"(?<![\w/.])([\w/]+\.py)\b", ARCHITECTURE.read_text())
    assert len(named) > 40
    missing = {name for name in named
               if not (PACKAGE / name).is_file() and not (ROOT / name).is_file()}
    assert not missing, f"docs/architecture.md names modules that do not exist: {missing}"
