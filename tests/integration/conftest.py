"""Every test in this folder is marked ``integration``.

These tests cross a process or network boundary: torchrun workers, a real ``brushwork serve``
or uvicorn on a socket, Chromium driven by Playwright, training subprocesses killed with
signals, ONNX Runtime painting end to end, the video command interrupted. They are slower and
more sensitive to a busy machine than the unit tests beside the package's modules one folder
up, so the marker lets a developer leave them out (``pytest -m 'not integration'``) while a
change is in progress; CI's default run includes them.
"""

from __future__ import annotations

from pathlib import Path

import pytest

_HERE = Path(__file__).parent


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    # A conftest hook sees every collected item, not only this folder's: mark only ours.
    for item in items:
        if _HERE in Path(item.fspath).parents:
            item.add_marker(pytest.mark.integration)
