"""Crash test: SIGKILL a training run at random moments, resume, and finish.

A training process is killed with SIGKILL (no handler runs, nothing is flushed) at moments
drawn from a seeded RNG: during start-up, between or inside iterations, and at the instant a
checkpoint is being written (the harness polls the run folder for the checkpoint writer's
temporary file and kills on sight; whether the kill landed inside the write is read from what
it left behind). After each kill the run is resumed, as ``brushwork train --resume`` does
(``train(..., resume=True)``), in a new process. At the end:

* the run finished with the right iteration count (checkpoint, model record, loss log with
  every iteration exactly once);
* each kill lost at most one checkpoint interval of finished iterations;
* the final parameters and Adam moments equal those of an uninterrupted run with the same
  seed, bit for bit (resume restores parameters, moments, schedule, RNGs and data order);
* no temporary file of the checkpoint writer is left in the run folder.

The network is the tiny MT-Net (a few-KB checkpoint), trained on 32-px crops, one thread:
start-up takes ~1.5 s and an iteration ~50 ms. The default run kills 3 times; the full
10-kill run is marked slow. ``experiments/reliability_report.py`` runs the full one.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import torch

from brushwork.checkpoints import load_checkpoint
from brushwork.model_files import read_model_file
from tests.helpers import drawn_image

#: The child: one training process, printing the events the harness needs on stderr.
CHILD = r"""
import sys
from brushwork.hyper_parameters import LossConfig, NetworkConfig, TrainConfig
from brushwork.training import train

style, photos, output, iterations, every, resume = sys.argv[1:7]
network = NetworkConfig.tiny()

def report(event):
    if event.kind in ("resumed", "warning", "iteration"):
        print(event.kind, event.iteration, event.message, file=sys.stderr, flush=True)

train(style, photos, output, network=network, loss=LossConfig(style_sizes=(16, 32, 64)),
      config=TrainConfig(iterations=int(iterations), crop_size=32, photo_size=32,
                         checkpoint_every=int(every), preview_every=1000,
                         mixed_precision=False),
      resume=resume == "1", callback=report)
"""

#: The checkpoint writer's files while it writes (``checkpoints.save_checkpoint``): its
#: temporary file ``..checkpoint.next.<random>.tmp``, then the complete ``.checkpoint.next``
#: until it is renamed to ``checkpoint.safetensors``.
WRITER_MARK = ".checkpoint.next"


def _writer_files(run_dir: Path, since: float = 0.0) -> list[str]:
    """The writer's files in ``run_dir`` modified after ``since`` (a time.time())."""
    found = []
    for entry in os.scandir(run_dir) if run_dir.exists() else ():
        if WRITER_MARK in entry.name:
            with contextlib.suppress(FileNotFoundError):
                if entry.stat().st_mtime >= since:
                    found.append(entry.name)
    return found
#: Kill moments, by kind: start-up (random delay after spawn), iteration (a random point
#: after a random iteration), checkpoint (the instant the writer's temporary file appears).
KINDS = ("startup", "iteration", "checkpoint")


@dataclass
class Kill:
    """One SIGKILL and what it left."""

    kind: str
    #: iterations the killed process completed itself (reported as each one ended)
    done: list[int] = field(default_factory=list)
    resumed_at: int = -1  # where the next process resumed
    during_write: bool = False  # the writer's files (``writer_files``) were left by the kill
    writer_files: list[str] = field(default_factory=list)
    latest_missing: bool = False  # killed between the two renames: only the previous one
    finished_first: bool = False  # the process ended before the kill came

    @property
    def lost(self) -> int:
        """Iterations this process completed that the next one had to do again."""
        return sum(1 for i in self.done if i > self.resumed_at)

    @property
    def span(self) -> str:
        return f"{self.done[0]}-{self.done[-1]}" if self.done else "none"


@dataclass
class CrashReport:
    iterations: int
    checkpoint_every: int
    kills: list[Kill] = field(default_factory=list)
    final_iteration: int = 0
    log_iterations: list[int] = field(default_factory=list)
    final_done: list[int] = field(default_factory=list)  # what the last process did
    record_iterations: int = 0
    mismatched_tensors: list[str] = field(default_factory=list)
    max_difference: float = 0.0
    leftovers: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def problems(self) -> list[str]:
        found = []
        if self.final_iteration != self.iterations:
            found.append(f"final checkpoint at {self.final_iteration}, not {self.iterations}")
        if self.record_iterations != self.iterations:
            found.append(f"model record says {self.record_iterations} iterations")
        if self.log_iterations != list(range(1, self.iterations + 1)):
            found.append(f"loss log iterations {self.log_iterations}")
        for k, kill in enumerate(self.kills):
            if kill.lost > self.checkpoint_every:
                found.append(f"kill {k} ({kill.kind}) lost {kill.lost} iterations "
                             f"(> {self.checkpoint_every})")
        if self.mismatched_tensors:
            found.append(f"parameters differ from the uninterrupted run: "
                         f"{self.mismatched_tensors[:5]} (max {self.max_difference:g})")
        if self.leftovers:
            found.append(f"left in the run folder: {self.leftovers}")
        return found


def _environment() -> dict[str, str]:
    # One thread, as the reference: float sums must add up in the same order.
    return {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
            "PYTHONUNBUFFERED": "1"}


def _spawn(folder: Path, name: str, iterations: int, every: int, resume: bool
           ) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-c", CHILD, str(folder / "art.png"), str(folder / "photos"),
         str(folder / f"{name}.safetensors"), str(iterations), str(every),
         "1" if resume else "0"],
        env=_environment(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def _logged(log: Path) -> list[int]:
    """Iterations of the complete lines of a loss log (a line cut by the kill is not one)."""
    if not log.exists():
        return []
    found = []
    for line in log.read_text().splitlines():
        try:
            found.append(int(json.loads(line)["iteration"]))
        except (ValueError, KeyError):
            continue
    return found


def make_data(folder: Path) -> None:
    """Five small photos and an artwork, as test_training makes them."""
    (folder / "photos").mkdir(parents=True, exist_ok=True)
    for i in range(5):
        drawn_image(folder / "photos" / f"photo{i}.jpg", seed=i)
    drawn_image(folder / "art.png", seed=99, size=(64, 64))


def _iterations(stderr: str) -> list[int]:
    return [int(line.split()[1]) for line in stderr.splitlines()
            if line.startswith("iteration ")]


def _resume_point(stderr: str) -> int | None:
    for line in stderr.splitlines():
        if line.startswith("resumed "):
            return int(line.split()[1])
    return None


def crash_and_resume(folder: Path, kills: int, seed: int = 0, iterations: int | None = None,
                     every: int = 3, timeout: float = 120.0) -> CrashReport:
    """Train uninterrupted (the reference), then again with ``kills`` SIGKILLs and resumes."""
    began = time.monotonic()
    iterations = iterations or 6 * kills + 12
    make_data(folder)
    reference = _spawn(folder, "reference", iterations, every, resume=False)
    _, err = reference.communicate(timeout=timeout)
    assert reference.returncode == 0, err
    report = CrashReport(iterations, every)
    rng = random.Random(seed)
    # At least 40% of the kills aim at a checkpoint write; the rest are start-up / iteration.
    aimed = max(1, (4 * kills + 9) // 10)
    kinds = ["checkpoint"] * aimed + [rng.choice(KINDS[:2]) for _ in range(kills - aimed)]
    rng.shuffle(kinds)
    run_dir = folder / "crashed.run"
    log = run_dir / "loss.jsonl"
    for kind in kinds:
        resume = any((run_dir / name).exists() for name in ("checkpoint.safetensors",
                                                              "checkpoint.prev.safetensors"))
        done = max(_logged(log), default=0)
        spawned = time.time()
        child = _spawn(folder, "crashed", iterations, every, resume=resume)
        deadline = time.monotonic() + timeout
        # Leave room to finish: never aim past the second-to-last checkpoint interval.
        room = max(1, iterations - every - done)
        if kind == "startup":
            time.sleep(rng.uniform(0.0, 2.0))
        elif kind == "iteration":
            target = done + rng.randint(1, min(room, 2 * every + 2))
            while max(_logged(log), default=0) < target and child.poll() is None:
                assert time.monotonic() < deadline, "no progress"
                time.sleep(0.002)
            time.sleep(rng.uniform(0.0, 0.06))  # somewhere inside the next iteration
        else:
            target = done + rng.randint(1, min(room, every + 1))
            while max(_logged(log), default=0) < target and child.poll() is None:
                assert time.monotonic() < deadline, "no progress"
                time.sleep(0.002)
            while child.poll() is None:  # now poll as fast as we can for the writer's file
                assert time.monotonic() < deadline, "no checkpoint write seen"
                if _writer_files(run_dir, spawned):
                    break
        finished_first = child.poll() is not None
        child.send_signal(signal.SIGKILL)
        _, err = child.communicate(timeout=timeout)
        names = set(os.listdir(run_dir)) if run_dir.exists() else set()
        left = _writer_files(run_dir, spawned)
        kill = Kill(kind, _iterations(err), finished_first=finished_first,
                    during_write=bool(left), writer_files=left,
                    latest_missing="checkpoint.prev.safetensors" in names
                    and "checkpoint.safetensors" not in names)
        if report.kills:
            point = _resume_point(err)
            if not resume:  # no checkpoint yet: the next process started from scratch
                point = 0
            # None: killed before it resumed; the next process that does tells (below)
            report.kills[-1].resumed_at = -1 if point is None else point
        report.kills.append(kill)
    resume = any((run_dir / name).exists() for name in ("checkpoint.safetensors",
                                                          "checkpoint.prev.safetensors"))
    final = _spawn(folder, "crashed", iterations, every, resume=resume)
    _, err = final.communicate(timeout=timeout)
    assert final.returncode == 0, err
    report.warnings = [line for line in err.splitlines() if line.startswith("warning")]
    report.final_done = _iterations(err)
    _fill_resume_points(report, err)
    tensors, state, _ = load_checkpoint(run_dir)
    expected, _, _ = load_checkpoint(folder / "reference.run")
    report.final_iteration = state["iteration"]
    report.log_iterations = _logged(log)
    report.record_iterations = read_model_file(folder / "crashed.safetensors")[1]["record"][
        "iterations"]
    for name, value in expected.items():
        if not name.startswith(("model.", "optim.")):
            continue
        if name not in tensors or not torch.equal(tensors[name], value):
            report.mismatched_tensors.append(name)
            if name in tensors:
                difference = (tensors[name].double() - value.double()).abs().max().item()
                report.max_difference = max(report.max_difference, difference)
    report.leftovers = sorted(n for n in os.listdir(run_dir) if n.endswith(".tmp"))
    report.seconds = time.monotonic() - began
    return report


def _fill_resume_points(report: CrashReport, final_err: str) -> None:
    """The last kill's resume point comes from the final run; a kill whose successor died
    before resuming takes the point of the next process that did resume."""
    point = _resume_point(final_err)
    if report.kills and report.kills[-1].resumed_at < 0:
        report.kills[-1].resumed_at = point if point is not None else 0
    for k in range(len(report.kills) - 2, -1, -1):
        if report.kills[k].resumed_at < 0:
            report.kills[k].resumed_at = report.kills[k + 1].resumed_at


def _check(report: CrashReport) -> None:
    assert not report.problems(), report.problems()
    assert not any(kill.finished_first for kill in report.kills), report.kills
    # The harness did what it claims: some kills came inside a checkpoint write.
    assert any(kill.during_write for kill in report.kills), report.kills


def test_three_kills_then_resume_equals_an_uninterrupted_run(tmp_path: Path) -> None:
    _check(crash_and_resume(tmp_path, kills=3, seed=8))


@pytest.mark.slow
def test_ten_kills_then_resume_equals_an_uninterrupted_run(tmp_path: Path) -> None:
    _check(crash_and_resume(tmp_path, kills=10, seed=2017))
