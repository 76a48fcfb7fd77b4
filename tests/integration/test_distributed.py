"""Beyond one process: torchrun data-parallel training and sharded stylisation.

Each test launches real workers with PyTorch's own launcher (``python -m torch.distributed.run
--standalone``, which is ``torchrun``) over gloo on the CPU, with a tiny network and tiny
photos, and checks the claims users rely on: the ranks train on different photos, their
parameters stay identical, the checkpoint of a 2-process run resumes in one process; a
2-process batch writes what one process writes, reports once, and a re-run skips it all.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from PIL import Image

from brushwork.checkpoints import load_checkpoint
from brushwork.distributed import Context, shard
from brushwork.evaluation import psnr
from brushwork.hyper_parameters import LossConfig, TrainConfig
from brushwork.images import to_tensor
from brushwork.model_files import read_model_file
from brushwork.training import train
from tests.helpers import TINY_MT as TINY
from tests.helpers import drawn_image, make_photo, vivid_model

#: Seconds a launch may take on a busy 2-core machine (two interpreters importing torch).
LAUNCH_TIMEOUT = 240

#: Run by every rank: train() as the library does it, with the trainer's step and photo
#: stream wrapped to record what each rank saw and its parameters after each step.
TRAIN_SCRIPT = r"""
import hashlib, json, os, sys
import torch
import brushwork.training as training
from brushwork.hyper_parameters import LossConfig, NetworkConfig, TrainConfig

torch.set_num_threads(1)
style, photos, output, network = sys.argv[1:5]
with open(f"{output}.rank{os.environ['RANK']}.pid", "w") as file:
    file.write(str(os.getpid()))
log = {"steps": [], "files": None}
real_step, real_stream = training.training_step, training._photo_stream

def digest(tensor):
    return hashlib.sha256(tensor.detach().contiguous().numpy().tobytes()).hexdigest()

def step(net, criterion, optimizer, photo, *args):
    result = real_step(net, criterion, optimizer, photo, *args)
    flat = torch.cat([p.detach().flatten() for p in net.parameters()])
    log["steps"].append({"photo": digest(photo), "parameters": digest(flat),
                         "wrapper": type(net).__name__})
    return result

def stream(files, *args, **kwargs):
    photos = real_stream(files, *args, **kwargs)
    log["files"] = [f.name for f in photos.files]
    return photos

training.training_step, training._photo_stream = step, stream
config = TrainConfig(iterations=int(os.environ.get("ITERATIONS", "2")), crop_size=32,
                     photo_size=32, checkpoint_every=int(os.environ.get("CHECKPOINT_EVERY", "1")),
                     preview_every=1000, mixed_precision=False, texture_warmup=0)
try:
    training.train(style, photos, output, network=NetworkConfig.from_dict(json.loads(network)),
                   loss=LossConfig(style_sizes=(16, 32, 64)), config=config, device="cpu")
except training.TrainingInterrupted:
    log["interrupted"] = True
with open(f"{output}.rank{os.environ['RANK']}.json", "w") as file:
    json.dump(log, file)
"""


def torchrun_command(*argv: object, processes: int = 2) -> list[str]:
    """``torchrun --standalone --nproc-per-node N ARGV``: a free port, one worker per rank."""
    return [sys.executable, "-m", "torch.distributed.run", "--standalone",
            f"--nproc-per-node={processes}", *map(str, argv)]


#: The workers' environment: one thread each (two ranks on two cores), no warnings.
WORKER_ENV = {"OMP_NUM_THREADS": "1", "PYTHONWARNINGS": "ignore"}


def torchrun(*argv: object, processes: int = 2) -> subprocess.CompletedProcess:
    return subprocess.run(torchrun_command(*argv, processes=processes), capture_output=True,
                          text=True, env={**os.environ, **WORKER_ENV}, timeout=LAUNCH_TIMEOUT)


def test_shards_are_interleaved_disjoint_and_cover_everything():
    items = list(range(11))
    shares = [shard(items, Context(rank, 3)) for rank in range(3)]
    assert shares == [[0, 3, 6, 9], [1, 4, 7, 10], [2, 5, 8]]
    assert shard(items, Context()) == items


def training_inputs(tmp_path: Path) -> tuple[Path, Path, Path]:
    """(6 photos, an artwork, the per-rank training script)."""
    photos = tmp_path / "photos"
    photos.mkdir()
    for i in range(6):
        drawn_image(photos / f"photo{i}.jpg", seed=i)
    style = drawn_image(tmp_path / "art.png", seed=99, size=(64, 64))
    script = tmp_path / "train_rank.py"
    script.write_text(TRAIN_SCRIPT)
    return photos, style, script


def test_two_processes_train_on_different_photos_in_step_and_resume_in_one(tmp_path):
    photos, style, script = training_inputs(tmp_path)
    output = tmp_path / "model.safetensors"

    result = torchrun(script, style, photos, output, json.dumps(TINY.to_dict()))
    assert result.returncode == 0, result.stderr[-3000:]
    ranks = [json.loads(Path(f"{output}.rank{r}.json").read_text()) for r in (0, 1)]

    # Each rank read its own shard of the photos: every other file.
    assert ranks[0]["files"] == [f"photo{i}.jpg" for i in (0, 2, 4)]
    assert ranks[1]["files"] == [f"photo{i}.jpg" for i in (1, 3, 5)]
    steps = list(zip(ranks[0]["steps"], ranks[1]["steps"]))
    assert len(steps) == 2
    for first, second in steps:
        assert first["wrapper"] == second["wrapper"] == "DistributedDataParallel"
        assert first["photo"] != second["photo"]  # different photos in the same step
        assert first["parameters"] == second["parameters"]  # identical after the step
    assert steps[0][0]["parameters"] != steps[1][0]["parameters"]  # and they did learn

    # Rank 0 alone wrote: one loss line per iteration, a checkpoint that knows its ranks.
    run_dir = tmp_path / "model.run"
    lines = [json.loads(line) for line in (run_dir / "loss.jsonl").read_text().splitlines()]
    assert [line["iteration"] for line in lines] == [1, 2]
    _, state, _ = load_checkpoint(run_dir)
    assert state["world_size"] == 2 and len(state["data_states"]) == 1
    assert read_model_file(output)[1]["record"]["processes"] == 2

    # The 2-process checkpoint resumes in a single process (its photo order restarts).
    events = []
    config = TrainConfig(iterations=3, crop_size=32, photo_size=32, checkpoint_every=1,
                         preview_every=1000, mixed_precision=False, texture_warmup=0)
    train(style, photos, output, network=TINY, loss=LossConfig(style_sizes=(16, 32, 64)),
          config=config, resume=True, device="cpu", callback=events.append)
    warnings = [e.message for e in events if e.kind == "warning"]
    assert any("written by 2 process(es), this run has 1" in w for w in warnings), warnings
    assert [e.iteration for e in events if e.kind == "iteration"] == [3]
    lines = [json.loads(line) for line in (run_dir / "loss.jsonl").read_text().splitlines()]
    assert [line["iteration"] for line in lines] == [1, 2, 3]
    assert load_checkpoint(run_dir)[1]["world_size"] == 1


def stylize(*argv: object, processes: int = 1) -> subprocess.CompletedProcess:
    """``brushwork stylize ARGV`` in one process, or under torchrun with N."""
    command = ["-m", "brushwork", "stylize", *map(str, argv)]
    if processes > 1:
        return torchrun(*command, processes=processes)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, *command], capture_output=True, text=True, env=env,
                          timeout=LAUNCH_TIMEOUT)


def test_two_processes_paint_what_one_paints_report_once_and_skip_on_a_rerun(tmp_path):
    photos = tmp_path / "photos"
    photos.mkdir()
    for i in range(20):
        make_photo((60 + 2 * i, 40 + i)).save(photos / f"p{i:02d}.png")
    model = vivid_model(tmp_path / "vivid.safetensors")
    common = ("--model", model, "--size", 48, "--format", "png", "--json", "--quiet")

    one = stylize(photos, "-o", f"{tmp_path / 'one'}/", *common)
    assert one.returncode == 0, one.stderr
    two = stylize(photos, "-o", f"{tmp_path / 'two'}/", *common, processes=2)
    assert two.returncode == 0, two.stderr[-3000:]

    # One JSON stream (rank 0 reports), every photo once, in the photos' order.
    records = [json.loads(line) for line in two.stdout.splitlines()]
    assert [Path(r["input"]).name for r in records] == [f"p{i:02d}.png" for i in range(20)]
    worst = float("inf")
    for i in range(20):
        a, b = (tmp_path / run / f"p{i:02d}-stylized.png" for run in ("one", "two"))
        if a.read_bytes() != b.read_bytes():
            worst = min(worst, psnr(to_tensor(Image.open(a)), to_tensor(Image.open(b))))
    assert worst >= 50, f"PSNR {worst:.1f} dB between 2 processes and 1"

    before = {p.name: p.stat().st_mtime_ns for p in (tmp_path / "two").iterdir()}
    # --workers 2 is the same launch, started by brushwork itself.
    again = stylize(photos, "-o", f"{tmp_path / 'two'}/", *common, "--skip-existing",
                    "--workers", 2)
    assert again.returncode == 0, again.stderr[-3000:]
    records = [json.loads(line) for line in again.stdout.splitlines()]
    assert len(records) == 20 and all(r["skipped"] for r in records)
    assert "skipped 20 of 20 photos" in again.stderr
    assert {p.name: p.stat().st_mtime_ns for p in (tmp_path / "two").iterdir()} == before


def test_workers_with_a_bad_model_fail_in_one_line_per_worker_and_write_nothing(tmp_path):
    """Unlike plain torchrun, --workers adds no launcher traceback to the workers' errors."""
    photos = tmp_path / "photos"
    photos.mkdir()
    make_photo((60, 40)).save(photos / "a.png")
    result = stylize(photos, "-o", f"{tmp_path / 'out'}/", "--model",
                     tmp_path / "missing.safetensors", "--quiet", "--workers", 2)
    assert result.returncode == 1
    lines = result.stderr.splitlines()
    assert sorted(lines) == ["brushwork: error: model file not found: "
                             f"{tmp_path / 'missing.safetensors'}",
                             "brushwork: error: rank 1: model file not found: "
                             f"{tmp_path / 'missing.safetensors'}"], result.stderr
    assert not (tmp_path / "out").exists()


@pytest.mark.slow
def test_sigterm_to_one_rank_stops_both_at_the_same_iteration_with_a_checkpoint(tmp_path):
    """The stop flag is summed over the ranks with the losses: a SIGTERM that reaches one
    rank only (one node of several) stops every rank after the same iteration, rank 0 writes
    the checkpoint of that iteration, and nobody hangs. (~20 s on the 2-core CPU.)"""
    photos, style, script = training_inputs(tmp_path)
    output = tmp_path / "model.safetensors"
    env = {**os.environ, **WORKER_ENV, "ITERATIONS": "10000", "CHECKPOINT_EVERY": "10000"}
    launcher = subprocess.Popen(
        torchrun_command(script, style, photos, output, json.dumps(TINY.to_dict())),
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    log = tmp_path / "model.run" / "loss.jsonl"
    deadline = time.monotonic() + LAUNCH_TIMEOUT
    while not (log.exists() and len(log.read_text().splitlines()) >= 3):
        assert launcher.poll() is None and time.monotonic() < deadline, "no training started"
        time.sleep(0.2)
    os.kill(int(Path(f"{output}.rank1.pid").read_text()), signal.SIGTERM)
    launcher.communicate(timeout=LAUNCH_TIMEOUT)
    ranks = [json.loads(Path(f"{output}.rank{r}.json").read_text()) for r in (0, 1)]
    assert ranks[0].get("interrupted") and ranks[1].get("interrupted")
    assert len(ranks[0]["steps"]) == len(ranks[1]["steps"])  # stopped after the same step
    _, state, _ = load_checkpoint(tmp_path / "model.run")
    assert state["iteration"] == len(ranks[0]["steps"])
    assert json.loads(log.read_text().splitlines()[-1])["iteration"] == state["iteration"]
