"""The experiment scripts run end to end in smoke mode, resume, and keep their word.

Each script runs in-process on a made-up world: four small photos (two held out), two random
"artworks" and a training folder, all in a temporary folder, with the real VGG-19 weights.
Smoke mode trains tiny networks for two iterations at 64 px, so the whole file takes seconds.
"""

from __future__ import annotations

import importlib
import json
import shlex
import subprocess
import sys
from argparse import Namespace
from dataclasses import replace
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest
import torch
from PIL import Image

from brushwork.checkpoints import load_checkpoint
from brushwork.cli import build_parser
from brushwork.cli import main as brushwork_main
from brushwork.errors import BrushworkError
from brushwork.model_files import read_model_file, save_model
from brushwork.networks import build_network
from experiments.lib.arguments import DEFAULT_REPORTS, run_main
from experiments.lib.figures import detail_box
from experiments.lib.reports import markdown_table
from experiments.lib.runs import SMOKE_NETWORKS, reuse_model
from experiments.lib.scoring import sign_test
from tests.helpers import make_photo

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def scripts() -> dict[str, ModuleType]:
    """The experiment scripts as modules of the ``experiments`` package."""
    names = ("report", "fig4_levels", "fig5_singular", "fig6_scale", "table1", "baselines",
             "peer_compare", "colour_layout")
    return {name: importlib.import_module(f"experiments.{name}") for name in names}


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> dict[str, Path]:
    """Held-out photos and their list, artworks, training photos: flags for every script."""
    root = tmp_path_factory.mktemp("world")
    photos, train, styles = root / "photos", root / "train", root / "styles"
    for folder in (photos, train, styles):
        folder.mkdir()
    make_photo((120, 80)).save(photos / "held-a.jpg")
    make_photo((80, 100)).transpose(Image.Transpose.FLIP_LEFT_RIGHT).save(photos / "held-b.jpg")
    for i in range(2):
        make_photo((96, 80)).rotate(90 * i).save(train / f"train-{i}.jpg")
    (root / "held-out.txt").write_text("# held out\nheld-a.jpg\nheld-b.jpg\n")
    rng = np.random.default_rng(0)
    for name in ("starry-night", "great-wave"):
        blocks = (rng.random((30, 40, 3)) * 255).astype(np.uint8)
        Image.fromarray(blocks).resize((160, 120), Image.Resampling.NEAREST).save(
            styles / f"{name}.jpg")
    return {"photos": photos, "train": train, "styles": styles, "held_out": root / "held-out.txt"}


def flags(world: dict[str, Path], work: Path, training: bool = True) -> list[str]:
    found = ["--smoke", "--photos-dir", str(world["photos"]), "--held-out",
             str(world["held_out"]), "--styles-dir", str(world["styles"]), "--work", str(work)]
    return found + (["--data", str(world["train"])] if training else [])


def no_training(monkeypatch, scripts) -> None:
    """Make any training or stylising fail: a re-run must find everything done."""
    def refuse(*args, **kwargs):
        raise AssertionError("a re-run trained or stylised again")

    monkeypatch.setattr("experiments.lib.runs.train", refuse)
    monkeypatch.setattr("brushwork.api.load_model", refuse)


def log_lines(run: Path) -> int:
    return len((run / "loss.jsonl").read_text().splitlines())


def test_fig6_runs_resumes_and_answers_per_scale(scripts, world, tmp_path, monkeypatch):
    fig6, work = scripts["fig6_scale"], tmp_path / "fig6"
    assert fig6.main(flags(world, work)) == 0
    reports = work / "reports"
    text = (reports / "fig6.md").read_text()
    assert "SMOKE RUN" in text and "Budget, equal for every network" in text
    for scale in (32, 64):
        assert f"style distance at {scale} px: **MT-Net" in text
    assert "All 2 artworks together" in text and "## Answer" in text
    data = json.loads((reports / "fig6.json").read_text())
    assert set(data["scores"]) == {"starry-night", "great-wave"}
    assert {m: len(s) for m, s in data["scores"]["great-wave"].items()} == {
        "singular-256": 2, "singular-1024": 2, "mtnet": 2}
    assert set(data["summary"]["mtnet_wins"]) == {"starry-night", "great-wave", "all"}
    models = data["models"]["starry-night"]
    assert {m["iterations"] for m in models.values()} == {2}
    assert models["singular-1024"]["record"]["data"] == "train"
    figure = Image.open(reports / "fig6" / "starry-night.png")
    assert figure.width > 4 * 64  # photo + three methods side by side
    assert "[Fig. 6" in (reports / "README.md").read_text()

    # A hand-written discussion survives regeneration; a re-run trains and paints nothing.
    written = text.replace("_To be written after reading", "Written by hand. _Before:")
    (reports / "fig6.md").write_text(written)
    with monkeypatch.context() as patch:
        no_training(patch, scripts)
        assert fig6.main(flags(world, work)) == 0
    assert "Written by hand." in (reports / "fig6.md").read_text()

    # A larger budget resumes the runs from their checkpoints instead of starting again
    # (one artwork here, to keep the test short).
    assert fig6.main([*flags(world, work), "--iterations", "3", "--styles", "great-wave"]) == 0
    runs = sorted((work / "models").glob("great-wave-*.run"))
    assert len(runs) == 3 and all(log_lines(run) == 3 for run in runs)
    data = json.loads((reports / "fig6.json").read_text())
    assert {m["status"] for m in data["models"]["great-wave"].values()} == {"resumed"}

    # An existing MT-Net model stands in for a run only at the same settings and budget.
    model = work / "models" / "starry-night-mtnet.safetensors"
    assert fig6._reuse([f"starry-night={model}"]) == {"starry-night": model}
    args = Namespace(smoke=True, iterations=2, crop_size=64, data=world["train"])
    spec = fig6.specs(args, "starry-night", world["styles"] / "starry-night.jpg")["mtnet"]
    assert reuse_model(spec, model).status == "reused"
    for changed in (replace(spec, train=replace(spec.train, iterations=3)),
                    replace(spec, loss=replace(spec.loss, texture_weights=(1.0, 1.0, 1.0))),
                    replace(spec, style=world["styles"] / "great-wave.jpg")):
        with pytest.raises(BrushworkError, match="cannot stand in"):
            reuse_model(changed, model)


def test_fig6_second_seed_puts_both_seeds_side_by_side(scripts, world, tmp_path):
    fig6, work = scripts["fig6_scale"], tmp_path / "fig6"
    one = [*flags(world, work), "--styles", "starry-night"]
    assert fig6.main(one) == 0
    reports = work / "reports"
    assert "Seeds side by side" not in (reports / "fig6.md").read_text()  # one seed yet
    assert fig6.main([*one, "--seed", "1"]) == 0
    text = (reports / "fig6-seed1.md").read_text()
    assert "## Seeds side by side" in text
    section = text.split("## Seeds side by side")[1].split("\n## ")[0]
    rows = [line for line in section.splitlines() if line.startswith("| starry-night |")]
    assert [row.split("|")[2].strip() for row in rows] == ["0", "1"]
    scores = [json.loads((reports / f"{n}.json").read_text())["scores"]["starry-night"]
              for n in ("fig6", "fig6-seed1")]
    assert scores[0]["mtnet"] != scores[1]["mtnet"]  # another seed, other networks


def test_fig5_trains_three_singular_networks_and_rerun_is_free(scripts, world, tmp_path,
                                                               monkeypatch, capsys):
    fig5, work = scripts["fig5_singular"], tmp_path / "fig5"
    assert fig5.main(flags(world, work)) == 0
    text = (work / "reports" / "fig5.md").read_text()
    for label in ("Johnson et al.", "Ulyanov et al.", "style subnet"):
        assert f"| {label} |" in text
    assert "style distance at 64 px: **style subnet" in text
    assert (work / "reports" / "fig5" / "starry-night.png").is_file()
    with monkeypatch.context() as patch:
        no_training(patch, scripts)
        assert fig5.main(flags(world, work)) == 0
    # Other settings in the same folder: an error that says which, never a silent reuse.
    capsys.readouterr()
    assert run_main(fig5.main, [*flags(world, work), "--style-size", "48"]) == 1
    assert "other settings" in capsys.readouterr().err

    # A second seed is a second experiment beside the first: its own runs, report and figures.
    assert fig5.main([*flags(world, work), "--seed", "1"]) == 0
    reports = work / "reports"
    assert "(seed 1)" in (reports / "fig5-seed1.md").read_text()
    assert (reports / "fig5-seed1" / "starry-night.png").is_file()
    runs = sorted((work / "seed1").glob("**/loss.jsonl"))
    assert runs and all(json.loads(run.read_text().splitlines()[0])["iteration"] == 1
                        for run in runs)
    _, state, _ = load_checkpoint(runs[0].parent)
    assert state["train"]["seed"] == 1
    index = (reports / "README.md").read_text()
    assert "fig5.md)" in index and "(seed 1)](fig5-seed1.md)" in index


def test_baselines_put_ds_net_and_gatys_beside_fig6s_networks(scripts, world, tmp_path,
                                                                monkeypatch):
    baselines, work = scripts["baselines"], tmp_path / "baselines"
    assert baselines.main(flags(world, work)) == 0
    text = (work / "reports" / "baselines.md").read_text()
    for label in ("MT-Net", "DS Net", "singular 256", "singular 1024", "Gatys et al."):
        assert f"| {label} |" in text
    summary = json.loads((work / "reports" / "baselines.json").read_text())
    models = summary["models"]["starry-night"]
    assert set(models) == {"mtnet", "ds-net", "singular-256", "singular-1024"}
    assert all(m["iterations"] == 2 for m in models.values())
    # DS Net has MT-Net's structure: the smoke MT-Net's parameter count.
    mtnet = build_network("mtnet", SMOKE_NETWORKS["mtnet"].to_dict())
    assert models["ds-net"]["parameters"] == sum(p.numel() for p in mtnet.parameters())
    gatys = summary["gatys"]["starry-night"]
    assert set(gatys["seconds_per_image"]) == {*models, "gatys"}
    assert all(s > 0 for s in gatys["seconds_per_image"].values())
    assert list(gatys["scores"]["gatys"]) == ["held-a"]  # one photo in smoke runs
    assert (work / "reports" / "baselines" / "starry-night-gatys.png").is_file()
    with monkeypatch.context() as patch:  # a re-run trains, paints, optimises and times nothing
        no_training(patch, scripts)
        patch.setattr(baselines, "optimize", lambda *a, **k: pytest.fail("optimised again"))
        assert baselines.main(flags(world, work)) == 0


def test_baselines_reuse_fig6s_runs(scripts, world, tmp_path):
    """Fig. 6's MT-Net and singular runs are the baselines' own: only DS Net trains."""
    work = tmp_path / "shared"
    assert scripts["fig6_scale"].main([*flags(world, work), "--styles", "starry-night"]) == 0
    assert scripts["baselines"].main(flags(world, work)) == 0
    statuses = {m: r["status"] for m, r in json.loads(
        (work / "reports" / "baselines.json").read_text())["models"]["starry-night"].items()}
    assert statuses == {"mtnet": "skipped", "ds-net": "trained", "singular-256": "skipped",
                        "singular-1024": "skipped"}


def test_fig4_shows_every_level_and_what_each_changed(scripts, world, tmp_path, monkeypatch):
    fig4, work = scripts["fig4_levels"], tmp_path / "fig4"
    assert fig4.main(flags(world, work, training=False)) == 0
    text = (work / "reports" / "fig4.md").read_text()
    assert r"\|y3 - up(y2)\|" in text  # escaped inside the table
    assert "| y3 |" in text and "photo itself (reference)" in text
    data = json.loads((work / "reports" / "fig4.json").read_text())
    assert len(data["mean_abs_change"]["held-a"]) == 3
    assert all(v > 0 for v in data["mean_abs_change"]["held-a"])
    levels = sorted((work / "levels").glob("held-a-y*.png"))
    assert [Image.open(p).size for p in levels] == [(16, 11), (32, 21), (64, 43)]
    assert Image.open(work / "reports" / "fig4" / "held-a.png").height > 4 * 16
    with monkeypatch.context() as patch:
        no_training(patch, scripts)
        assert fig4.main(flags(world, work, training=False)) == 0


def test_fig4_measures_every_shipped_style_level_by_level(scripts, world, tmp_path):
    """``--every-style``: each built-in style's levels are scored against its own artwork
    (found by the file name its metadata records), one table row per style and level."""
    from brushwork.api import available_styles, resolve_model_path

    styles = tmp_path / "styles"
    styles.mkdir()
    for name in available_styles():
        _, metadata = read_model_file(resolve_model_path(name))
        target = styles / metadata["styles"][0]["file"]
        if not target.exists():
            target.symlink_to(resolve_model_path(name).with_suffix(".artwork.jpg"))
    work = tmp_path / "fig4"
    found = flags(world, work, training=False)
    found[found.index("--styles-dir") + 1] = str(styles)
    assert scripts["fig4_levels"].main([*found, "--every-style"]) == 0
    text = (work / "reports" / "fig4.md").read_text()
    assert "## Every shipped style, level by level" in text
    data = json.loads((work / "reports" / "fig4.json").read_text())["every_style"]
    assert set(data) == set(available_styles())  # the smoke model is none of them
    for entry in data.values():
        assert set(entry["style_scores"]) == {"y1", "y2", "y3", "photo"}
        assert all(len(v) == 3 for v in entry["mean_abs_change"].values())
    assert text.count("| y3 |") >= len(data)


def test_fig4_refuses_a_single_level_model(scripts, world, tmp_path, capsys):
    johnson = tmp_path / "johnson.safetensors"
    save_model(johnson, build_network("johnson", SMOKE_NETWORKS["johnson"].to_dict()),
               {"architecture": "johnson",
                "network": SMOKE_NETWORKS["johnson"].to_dict()})
    argv = [*flags(world, tmp_path / "fig4", training=False), "--model", str(johnson)]
    capsys.readouterr()
    assert run_main(scripts["fig4_levels"].main, argv) == 1
    assert "not an MT-Net" in capsys.readouterr().err


def test_table1_measures_once_and_sets_ratios_beside_the_papers(scripts, tmp_path, monkeypatch):
    table1, work = scripts["table1"], tmp_path / "table1"
    assert table1.main(["--smoke", "--work", str(work)]) == 0
    text = (work / "reports" / "table1.md").read_text()
    assert "| paper (1024, GTX 1080) | 1.29 | 1.29 | 1.50 | 2.79 |" in text
    assert "| ours, 64, float32 |" in text and "GFLOP @64" in text
    assert "- 64 px, float32: MT-Net takes" in text
    data = json.loads((work / "reports" / "table1.json").read_text())
    assert {r["name"] for r in data["results"]} == {"mtnet", "johnson", "ds-net"}
    assert data["gflops"]["johnson"]["64"] == pytest.approx(2 * data["gflops"]["mtnet"]["64"],
                                                            rel=0.01)
    (work / "reports" / "table1.md").write_text(text.replace("_To be written", "Because. _"))
    with monkeypatch.context() as patch:
        patch.setattr(table1, "inference_table", lambda *a, **k: pytest.fail("measured again"))
        assert table1.main(["--smoke", "--work", str(work)]) == 0
    assert "Because." in (work / "reports" / "table1.md").read_text()


def test_table1_report_with_memory(scripts):
    table1 = scripts["table1"]
    from brushwork.benchmark import Result

    results = [Result("mtnet", 1024, "float32", [1.2], 1200, 1.2, 1.5),
               Result("johnson", 1024, "float32", [1.0], 800, 1.0, 1.0),
               Result("ds-net", 1024, "float32", [3.0], 2400, 3.0, 3.0)]
    args = Namespace(smoke=False, warmup=1, runs=1, memory=True)
    info = {"date": "d", "commit": "c", "brushwork": "b", "torch": "t", "device": "cpu"}
    text = table1.render(args, [], results, table1.gflops([64]), info)
    assert "| ours, 1024, float32 | 1.20 | 1.50 | 3.00 | 3.00 |" in text
    assert ("MT-Net takes 1.20x the Johnson net's time (paper 1.29x) and 1.50x its peak "
            "memory (paper 1.29x)") in text


def test_smoke_output_never_goes_to_docs(scripts, world, tmp_path, capsys):
    argv = [*flags(world, tmp_path / "w", training=False), "--reports",
            str(DEFAULT_REPORTS)]
    assert run_main(scripts["fig4_levels"].main, argv) == 1
    assert "must not write into" in capsys.readouterr().err


def test_full_run_commands_are_valid_brushwork_train_commands(scripts, tmp_path):
    fig6 = scripts["fig6_scale"]
    args = Namespace(smoke=False, iterations=1000, crop_size=512, data=tmp_path / "photos")
    specs = fig6.specs(args, "starry-night", tmp_path / "starry-night.jpg")
    parsed = {}
    for method, spec in specs.items():
        command = spec.command(tmp_path / f"{method}.safetensors")
        assert command.startswith("brushwork train ")
        parsed[method] = build_parser().parse_args(shlex.split(command)[1:])
    assert parsed["singular-256"].match_mtnet and parsed["singular-256"].style_sizes == [256]
    assert parsed["singular-1024"].style_sizes == [1024]
    assert parsed["mtnet"].arch == "mtnet" and parsed["mtnet"].style_sizes == [256, 512, 1024]
    assert {p.iterations for p in parsed.values()} == {1000}


def test_match_mtnet_flag_trains_figure_6s_singular_network(tmp_path, sample_photo, capsys):
    data = tmp_path / "data"
    data.mkdir()
    sample_photo.rename(data / "photo.jpg")
    style = tmp_path / "art.png"
    Image.fromarray((np.random.default_rng(1).random((48, 64, 3)) * 255).astype(np.uint8)).save(
        style)
    out = tmp_path / "deep.safetensors"
    assert brushwork_main(["train", "--arch", "singular", "--match-mtnet", "--style", str(style),
                           "--data", str(data), "-o", str(out), "--iterations", "1",
                           "--crop-size", "32", "--style-sizes", "64", "--quiet",
                           "--no-report"]) == 0
    _, metadata = read_model_file(out)
    assert metadata["network"]["residual_blocks"] == 7  # SingularConfig.matching_mtnet()
    assert brushwork_main(["train", "--arch", "mtnet", "--match-mtnet", "--style", str(style),
                           "--data", str(data), "-o", str(tmp_path / "x.safetensors")]) == 1
    assert "--match-mtnet applies to --arch singular only" in capsys.readouterr().err


def test_helpers(scripts):
    assert sign_test(0, 2) == 0.5
    assert sign_test(10, 0) == pytest.approx(2 / 1024)
    assert sign_test(5, 5) == 1.0
    # The 1:1 crop goes where the photo has detail, wherever that is.
    photo = Image.new("RGB", (200, 100), "gray")
    stripes = Image.fromarray(((np.indices((100, 60)).sum(0) // 3 % 2) * 255).astype(np.uint8))
    photo.paste(stripes.convert("RGB"), (130, 0))
    left, top, right, bottom = detail_box(photo, (200, 100), 50)
    assert left >= 125 and right - left == bottom - top == 50
    assert markdown_table(["a|b"], [[1.23456]]) == "| a\\|b |\n|---|\n| 1.235 |"


def test_scripts_run_as_commands_and_state_their_defaults(tmp_path):
    help_text = " ".join(subprocess.run(
        [sys.executable, "-m", "experiments.fig6_scale", "--help"], cwd=ROOT,
        capture_output=True, text=True, check=True).stdout.split())
    assert "default 1000" in help_text and "starry-night great-wave" in help_text
    subprocess.run([sys.executable, "-m", "experiments.report", str(tmp_path)], cwd=ROOT,
                   capture_output=True, text=True, check=True)
    index = (tmp_path / "README.md").read_text()
    assert "not run yet: `python -m experiments.fig6_scale`" in index


@pytest.mark.parametrize("name", ["gpu_prepare", "loss_summary", "video_carry"])
def test_helper_scripts_print_their_help(name, capsys):
    """``--help`` prints help and does nothing else (gpu_prepare would rebuild data/gpu/)."""
    module = importlib.import_module(f"experiments.{name}")
    with pytest.raises(SystemExit) as stop:
        module.main(["--help"])
    assert stop.value.code == 0
    assert capsys.readouterr().out.startswith(f"usage: {Path(sys.argv[0]).name}")


def test_loss_summary_reads_a_log(tmp_path, capsys):
    log = tmp_path / "loss.jsonl"
    log.write_text("".join(
        json.dumps({"iteration": i, "level": [4.0 / i], "content": [1.0], "texture": [3.0 / i],
                    "seconds": 2.0}) + "\n" for i in (1, 2)))
    assert importlib.import_module("experiments.loss_summary").main([str(log)]) == 0
    out = capsys.readouterr().out
    assert "iterations 1..2 (2 logged)" in out and "median s/iteration 2.00" in out


def test_contact_sheet_wraps_many_styles_into_rows_that_fit_a_phone(scripts, tmp_path):
    sheet = scripts["peer_compare"].contact_sheet
    thumb = scripts["peer_compare"].THUMB
    colours = [(30 * i, 100, 200) for i in range(7)]
    columns = {f"style-{i}": [Image.new("RGB", (40, 30), colour)] * 2
               for i, colour in enumerate(colours)}
    sheet(columns, tmp_path / "wide.jpg")
    sheet(columns, tmp_path / "wrapped.jpg", per_row=3)
    wide, wrapped = Image.open(tmp_path / "wide.jpg"), Image.open(tmp_path / "wrapped.jpg")
    assert wide.width == 7 * thumb and wrapped.width == 3 * thumb
    assert wrapped.height > 2 * wide.height  # 2 photos x 3 bands, each labelled
    # the 7th style is the first tile of each photo's third band
    tile = 30  # thumbnails never enlarge: each tile is the 40x30 image, under an 18-px label
    band = 18 + tile
    for row in (2, 5):
        centre = wrapped.getpixel((thumb // 2, row * band + 18 + tile // 2))
        assert np.allclose(centre, colours[6], atol=12)


def test_colour_layout_measure_tells_a_recolouring_from_blobs(scripts):
    """experiments/colour_layout.py: an output whose coarse colours are a linear recolouring
    of the photo's is fully explained; the same output with a saturated blob laid where the
    photo has nothing of the kind is not."""
    layout = scripts["colour_layout"].layout
    g = torch.Generator().manual_seed(0)
    photo = torch.nn.functional.interpolate(torch.rand(1, 3, 8, 12, generator=g),
                                            size=(96, 128), mode="bilinear")
    recoloured = (0.6 * photo[:, [2, 0, 1]] + 0.2).clamp(0, 1)
    blob = recoloured.clone()
    blob[:, :, 10:40, 20:60] = torch.tensor([1.0, 0.45, 0.1]).view(1, 3, 1, 1)
    clean, blotched = layout(recoloured, photo), layout(blob, photo)
    assert clean["explained"] > 0.99
    assert blotched["explained"] < clean["explained"] - 0.2
    assert blotched["unexplained"] > 10 * clean["unexplained"]


def test_loss_readers_show_every_logged_term(tmp_path):
    """loss_summary and compare_runs read every term a loss log names, and a term that is
    off at a level (0 there: the agreement at level 1) gets no ratio, not a division by 0."""
    from experiments.compare_runs import table
    from experiments.loss_summary import summarise

    rows = [{"iteration": i, "total": 10.0, "content": [1.0, 2.0], "texture": [3.0, 4.0],
             "palette": [0.5, 0.5], "agreement": [0.0, 1.0], "level": [4.5, 7.5],
             "seconds": 1.0} for i in range(1, 5)]
    log = tmp_path / "loss.jsonl"
    log.write_text("".join(json.dumps(row) + "\n" for row in rows))
    summary = summarise(log, window=2)
    assert "level 2 palette" in summary and "level 1 agreement" in summary
    assert "colour_layout" not in summary
    assert "| - |" in table(rows, rows, 2, ("A", "B"), key="agreement")
