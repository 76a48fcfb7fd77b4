"""The zoo's GPU path: every recipe trained at once, stopped at a deadline with a
checkpoint, exported as fp16 model files plus loss logs, and shipped from those files.

Real ``brushwork train`` subprocesses (the real MT-Net, the real VGG-19) on made-up photos and
artworks, with crops and style sizes small enough for a CPU test; the device is the CPU.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from brushwork.errors import BrushworkError
from tests.helpers import make_photo

ROOT = Path(__file__).resolve().parents[2]
TSV_HEADER = "file\ttitle\tartist\tyear\tlicense\twidth\theight\n"


@pytest.fixture
def zoo(monkeypatch, tmp_path):
    from experiments import zoo as module
    shared = tmp_path / "shared"
    (shared / "styles").mkdir(parents=True)
    (shared / "photos").mkdir()
    (tmp_path / "train").mkdir()
    for name, size in (("a.jpg", (120, 90)), ("b.jpg", (90, 120))):
        make_photo(size).save(shared / "styles" / name)
    (shared / "styles" / "STYLES.tsv").write_text(
        TSV_HEADER + "a.jpg\tArt A\tPainter\t1889\tpublic domain\t120\t90\n"
        "b.jpg\tArt B\tPainter\t1890\tpublic domain\t90\t120\n")
    make_photo().save(shared / "photos" / module.PREVIEW_PHOTO)
    for i in range(3):
        make_photo((96 + 8 * i, 80)).save(tmp_path / "train" / f"p{i}.jpg")
    small = ("--crop-size", "64", "--style-sizes", "32", "64", "64", "--refine-widths",
             "4", "8", "8", "--preview-every", "100000", "--snapshot-every", "0")
    recipes = {
        "demo-a": module.Recipe("demo-a", ("a.jpg",), (1.0, 2.0, 1.0), iterations=100_000,
                                extra_args=small),
        "demo-mix": module.Recipe("demo-mix", ("a.jpg", "a.jpg", "b.jpg"), (1.0, 2.0, 1.0),
                                  iterations=2, extra_args=small, why="a test"),
    }
    monkeypatch.setattr(module, "RECIPES", recipes)
    monkeypatch.setattr(module, "RUNS", tmp_path / "zoo")
    monkeypatch.setattr(module, "SHARED", shared)
    monkeypatch.setattr(module, "TRAIN_PHOTOS", tmp_path / "train")
    monkeypatch.setattr(module, "PACKAGE_STYLES", tmp_path / "package")
    monkeypatch.setattr(module, "DOCS_STYLES", tmp_path / "docs")
    (tmp_path / "package").mkdir()
    return module


class DeadlineClock:
    """``time`` for zoo.py, whose deadline arrives as soon as it can be tested, not after 30 s
    of a real clock: the clock stands still until demo-a has logged an iteration and demo-mix
    has exited, then jumps a day ahead. The test then takes as long as the runs need to get
    there (a few seconds, more on a busy machine: a real 30 s once cut both runs off during
    start-up) instead of always 30 s; after 300 s the clock jumps anyway (the test then fails
    on what the runs did)."""

    def __init__(self, zoo, processes: list[subprocess.Popen]) -> None:
        self.zoo, self.processes, self.began = zoo, processes, time.monotonic()

    def monotonic(self) -> float:
        now = time.monotonic()
        mix = [p for p in self.processes if any("demo-mix.run" in str(a) for a in p.args)]
        ready = (self.zoo.done_iterations(self.zoo.RECIPES["demo-a"]) >= 1
                 and len(mix) == 1 and mix[0].poll() is not None)
        return now + 86_400 if ready or now - self.began > 300 else self.began

    @staticmethod
    def sleep(seconds: float) -> None:
        time.sleep(min(seconds, 0.1))


def test_parallel_runs_finish_or_stop_at_the_deadline_with_a_checkpoint(
        zoo, tmp_path, capsys, monkeypatch):
    # One thread each: two 2-thread runs on a 2-core machine spin against each other (OpenMP
    # busy-waits; DEVELOPERS.md), which once left one run at 1 iteration in 20 s.
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    started: list[subprocess.Popen] = []

    class Recorded(subprocess.Popen):
        def __init__(self, *args, **kwargs) -> None:
            super().__init__(*args, **kwargs)
            started.append(self)

    with monkeypatch.context() as patch:
        patch.setattr(zoo.subprocess, "Popen", Recorded)
        patch.setattr(zoo, "time", DeadlineClock(zoo, started))
        code = zoo.train_parallel(["demo-a", "demo-mix"], device="cpu", deadline=30)
    out = capsys.readouterr().out
    assert code == 0, out
    assert "demo-mix: 2 iterations, exit 0 (finished)" in out, out
    assert "deadline of 30 s" in out and "demo-a:" in out and "exit 130" in out, out
    stopped = zoo.done_iterations(zoo.RECIPES["demo-a"])
    assert stopped >= 1 and (tmp_path / "zoo" / "demo-a.run" / "checkpoint.safetensors").is_file()

    # Exported as a GPU machine sends it back, then shipped here from the files alone.
    zoo.export(["demo-a", "demo-mix"], tmp_path / "out")
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [
        "demo-a-loss.jsonl.gz", "demo-a.safetensors", "demo-mix-loss.jsonl.gz",
        "demo-mix.safetensors"]
    zoo.package("demo-mix", tmp_path / "out" / "demo-mix.safetensors",
                tmp_path / "out" / "demo-mix-loss.jsonl.gz")
    card = json.loads((tmp_path / "package" / "cards.json").read_text())["demo-mix"]
    assert card["title"] == "Art A + Art B" and card["levels"] == ["a.jpg", "a.jpg", "b.jpg"]
    info = subprocess.run([sys.executable, "-m", "brushwork", "info", "--json",
                           str(tmp_path / "package" / "demo-mix.safetensors")],
                          capture_output=True, text=True, check=True)
    metadata = json.loads(info.stdout)
    assert metadata["record"]["iterations"] == 2 and metadata["record"]["device"] == "cpu"
    assert [s["file"] for s in metadata["styles"]] == ["a.jpg", "a.jpg", "b.jpg"]
    assert (tmp_path / "docs" / "demo-mix-loss.jsonl.gz").is_file()


def test_a_damaged_model_is_not_shipped(zoo, tmp_path):
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(b"\x80\x04 not a model")
    with pytest.raises(BrushworkError, match="pickle"):
        zoo.package("demo-a", bad, tmp_path / "log.jsonl.gz")
    assert not (tmp_path / "package" / "demo-a.safetensors").exists()
