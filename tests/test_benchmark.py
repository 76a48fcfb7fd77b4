"""``brushwork bench`` measures side by side and reports ratios (tiny sizes keep it fast)."""

from __future__ import annotations

import json

from brushwork.benchmark import inference_table, peak_memory_mb
from brushwork.cli import main


def test_inference_table_has_ratios_to_the_johnson_net():
    results = inference_table(["mtnet", "johnson"], [64], ["float32"], runs=2, warmup=1,
                              device="cpu", memory=False)
    by_name = {r.name: r for r in results}
    assert by_name["johnson"].ratio == 1.0
    assert by_name["mtnet"].ratio == by_name["mtnet"].median / by_name["johnson"].median
    assert all(len(r.runs) == 2 for r in results)


def test_peak_memory_grows_with_the_image():
    small = peak_memory_mb("johnson", 64, "float32")
    large = peak_memory_mb("johnson", 512, "float32")
    assert large > small >= 0


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
