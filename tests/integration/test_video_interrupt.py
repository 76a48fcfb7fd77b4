"""The video command as a process: Ctrl-C mid-clip leaves no output, not even a temporary file."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytest.importorskip("av", reason="needs the video extra: pip install 'brushwork[video]'")
pytest.importorskip("cv2", reason="needs the video extra: pip install 'brushwork[video]'")

from tests.helpers import pan, write_clip


def test_interrupted_run_leaves_no_file(tmp_path: Path, painting_model_file: Path) -> None:
    """Ctrl-C in the middle of a clip: exit 130 and no output, not even a temporary file."""
    source, target = tmp_path / "in.mp4", tmp_path / "out.mp4"
    write_clip(source, pan(600, step=1), audio=False)
    process = subprocess.Popen(
        [sys.executable, "-m", "brushwork", "stylize", str(source), "--model",
         str(painting_model_file), "-o", str(target), "--size", "64", "--quiet"],
        stderr=subprocess.PIPE, text=True,
        # A job started with & in a script ignores SIGINT, and a child inherits that: give
        # the child Ctrl-C back, as a terminal would.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and process.poll() is None:
        if list(tmp_path.glob(".out.mp4.*.tmp")):  # the output is open: painting has begun
            # The muxer may hold small frames in its buffer until the end, so the file's size
            # says nothing; 600 frames take >= 13 s here, a second in is mid-clip.
            time.sleep(1.0)
            break
        time.sleep(0.05)
    process.send_signal(signal.SIGINT)
    _, error = process.communicate(timeout=60)
    assert process.returncode == 130, error
    assert error.strip() == "brushwork: interrupted"
    assert not target.exists()
    assert list(tmp_path.glob(".out.mp4*")) == []
