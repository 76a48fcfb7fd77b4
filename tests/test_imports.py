"""The package's import graph, read from the sources: the library never imports the command
line, and the modules' top-level imports form no circle."""

from __future__ import annotations

import ast
from pathlib import Path

import brushwork

PACKAGE = Path(brushwork.__file__).parent


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {_module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def _is_package(name: str) -> bool:
    return MODULES[name].name == "__init__.py"


def _resolve(module: str, node: ast.ImportFrom | ast.Import) -> list[str]:
    """The package's modules that one import statement in ``module`` names."""
    if isinstance(node, ast.Import):
        names = [alias.name for alias in node.names]
    else:
        if node.level:
            here = module if _is_package(module) else module.rpartition(".")[0]
            for _ in range(node.level - 1):
                here = here.rpartition(".")[0]
            base = f"{here}.{node.module}" if node.module else here
        else:
            base = node.module or ""
        # ``from package import submodule`` names the submodule; other names, the module.
        names = [f"{base}.{a.name}" if f"{base}.{a.name}" in MODULES else base
                 for a in node.names]
    found = []
    for name in names:
        while name and name not in MODULES:  # ``import brushwork.x.y`` where y is a name
            name = name.rpartition(".")[0]
        if name:
            found.append(name)
    return found


def _imports(module: str, top_level_only: bool) -> set[str]:
    """Modules of the package that ``module`` imports: all of them, or only those imported
    when it is loaded (top level, outside ``if TYPE_CHECKING``), which alone can make a
    circle that fails at import time."""
    tree = ast.parse(MODULES[module].read_text())
    if top_level_only:
        nodes: list[ast.AST] = []
        for statement in tree.body:
            if isinstance(statement, ast.If) and "TYPE_CHECKING" in ast.unparse(statement.test):
                continue
            nodes.extend(ast.walk(statement) if isinstance(statement, (ast.If, ast.Try))
                         else [statement])
    else:
        nodes = list(ast.walk(tree))
    found: set[str] = set()
    for node in nodes:
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            found.update(_resolve(module, node))
    return found - {module}


def test_the_library_never_imports_the_command_line():
    """Only the command line itself and ``python -m brushwork`` (its entry point) may."""
    command_line = {name for name in MODULES if name == "brushwork.cli"
                    or name.startswith("brushwork.cli.")}
    assert command_line, "the command line moved: update this test"
    allowed = command_line | {"brushwork.__main__"}
    offenders = {name: sorted(_imports(name, top_level_only=False) & command_line)
                 for name in MODULES if name not in allowed}
    assert {name: found for name, found in offenders.items() if found} == {}


def test_no_import_circle_among_the_modules():
    """Edges into a package's ``__init__`` are left out: importing a submodule runs its
    package first in any case, and ``brushwork/__init__`` sets ``__version__`` (what the
    modules read from it) before it imports anything."""
    graph = {name: {target for target in _imports(name, top_level_only=True)
                    if not _is_package(target)}
             for name in MODULES}
    state: dict[str, str] = {}
    path: list[str] = []
    circles: list[list[str]] = []

    def visit(name: str) -> None:
        state[name] = "open"
        path.append(name)
        for target in sorted(graph[name]):
            if state.get(target) == "open":
                circles.append([*path[path.index(target):], target])
            elif target not in state:
                visit(target)
        path.pop()
        state[name] = "done"

    for name in sorted(graph):
        if name not in state:
            visit(name)
    assert circles == []
