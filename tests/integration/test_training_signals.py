"""Training as a process: SIGTERM mid-run saves a checkpoint and the command exits 130."""

from __future__ import annotations

from brushwork.checkpoints import load_checkpoint


def test_sigterm_saves_a_checkpoint_and_the_cli_exits_130(style, photos, tmp_path):
    import os
    import signal
    import subprocess
    import sys
    import time

    out = tmp_path / "m.safetensors"
    code = (
        "import sys\n"
        "from brushwork.cli import main\n"
        f"sys.exit(main(['train', '--style', r'{style}', '--data', r'{photos}', '-o', r'{out}',"
        " '--iterations', '100000', '--crop-size', '32', '--style-sizes', '16', '32', '64',"
        " '--refine-widths', '4', '4', '4', '--quiet', '--no-mixed-precision']))\n"
    )
    child = subprocess.Popen([sys.executable, "-c", code], stderr=subprocess.PIPE, text=True)
    log = tmp_path / "m.run" / "loss.jsonl"
    deadline = time.time() + 60
    while time.time() < deadline and not (log.exists() and log.read_text().count("\n") >= 2):
        time.sleep(0.2)
    os.kill(child.pid, signal.SIGTERM)
    _, stderr = child.communicate(timeout=60)
    assert child.returncode == 130, stderr
    assert "--resume" in stderr and "Traceback" not in stderr
    _, state, _ = load_checkpoint(tmp_path / "m.run")
    assert state["iteration"] >= 2
