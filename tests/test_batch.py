"""``brushwork stylize`` on many photos: folders, globs, formats, pipes, one model load per run.

The success paths check the files written and their sizes; the failure paths the CLI's
contract (one line on stderr, non-zero exit, nothing written for an invalid run). In a batch a
photo that cannot be read is reported and skipped, the others are painted, and the exit
status says that something failed.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import brushwork.api
from brushwork.cli import main
from tests.helpers import make_photo


@pytest.fixture(autouse=True)
def _global_rng_untouched():
    """Loading a model initialises a network from torch's global RNG before its weights are
    read; restore the RNG so that later test files see the state they would without these."""
    with torch.random.fork_rng(devices=[]):
        yield


SIZE = 32  # long side of every output: 32x21 for the 3:2 photos


def cli(capsys, *argv) -> tuple[int, str, str]:
    code = main([str(a) for a in argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def one_line_error(code: int, err: str, *fragments: str) -> None:
    assert code != 0
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("brushwork: error: ")
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


def size_of(path: Path) -> tuple[int, int]:
    with Image.open(path) as image:
        return image.size


@pytest.fixture
def photos(tmp_path: Path) -> Path:
    """``tmp_path/photos``: 20 small photos, JPEG and PNG, plus a text file and a hidden file."""
    folder = tmp_path / "photos"
    folder.mkdir()
    for k in range(20):
        image = make_photo((60, 40)).rotate(k * 3)
        image.save(folder / f"photo-{k:02d}.{'png' if k % 4 == 0 else 'jpg'}")
    (folder / "notes.txt").write_text("not a photo")
    (folder / ".hidden.jpg").write_bytes(b"")
    return folder


@pytest.fixture
def load_count(monkeypatch) -> list:
    """Counts calls of ``brushwork.api.load_model`` (what the CLI uses to load a model)."""
    calls: list = []
    real = brushwork.api.load_model

    def counted(*args, **kwargs):
        calls.append(args)
        return real(*args, **kwargs)

    monkeypatch.setattr(brushwork.api, "load_model", counted)
    return calls


def test_a_folder_of_20_photos_with_json_and_a_progress_bar(capsys, tmp_path, photos,
                                                            tiny_model_file, load_count):
    out = tmp_path / "painted"
    out.mkdir()
    code, stdout, err = cli(capsys, "stylize", photos, "--model", tiny_model_file, "-o", out,
                            "--size", SIZE, "--json", "--device", "cpu")
    assert code == 0, err
    written = sorted(p.name for p in out.iterdir())
    assert len(written) == 20
    assert written[0] == "photo-00-stylized.jpg"
    assert all(size_of(out / name) == (32, 21) for name in written)
    records = [json.loads(line) for line in stdout.splitlines()]
    assert len(records) == 20
    assert [Path(r["input"]).name for r in records] == sorted(
        p.name for p in photos.iterdir() if p.suffix in (".jpg", ".png")
        and not p.name.startswith("."))
    assert {r["size"][0] for r in records} == {32}
    assert all(Path(r["output"]).is_file() for r in records)
    # the progress bar goes to stderr and reaches 20/20
    assert "20/20" in err and "photo" in err
    assert len(load_count) == 1  # the model is loaded once per run, not per photo


def test_progress_bar_can_be_silenced(capsys, tmp_path, photos, tiny_model_file):
    out = tmp_path / "painted/"
    code, _, err = cli(capsys, "stylize", photos, "--model", tiny_model_file, "-o",
                       f"{out}/", "--size", SIZE, "--quiet", "--device", "cpu")
    assert code == 0
    assert err == ""
    assert len(list(out.iterdir())) == 20  # -o ending in / made the folder


def test_globs_files_and_folders_together_without_duplicates(capsys, tmp_path, photos,
                                                            tiny_model_file):
    out = tmp_path / "out"
    out.mkdir()
    extra = tmp_path / "extra.jpg"
    make_photo((60, 40)).save(extra)
    code, stdout, err = cli(capsys, "stylize", str(photos / "*.png"), photos / "photo-00.png",
                            extra, "--model", tiny_model_file, "-o", out, "--size", SIZE,
                            "--json", "--quiet")
    assert code == 0, err
    inputs = [Path(json.loads(line)["input"]).name for line in stdout.splitlines()]
    assert inputs == ["photo-00.png", "photo-04.png", "photo-08.png", "photo-12.png",
                      "photo-16.png", "extra.jpg"]
    assert len(list(out.iterdir())) == 6


def test_one_photo_in_a_folder_still_goes_to_an_output_folder(capsys, tmp_path,
                                                              tiny_model_file):
    folder = tmp_path / "single"
    folder.mkdir()
    make_photo((60, 40)).save(folder / "only.jpg")
    code, _, err = cli(capsys, "stylize", folder, "--model", tiny_model_file, "-o",
                       tmp_path / "file.jpg", "--size", SIZE)
    one_line_error(code, err, "existing folder")


@pytest.mark.parametrize(("fmt", "pil"), [("png", "PNG"), ("jpg", "JPEG"), ("webp", "WEBP")])
def test_format_and_quality_in_a_folder(capsys, tmp_path, photos, tiny_model_file, fmt, pil):
    out = tmp_path / "out"
    out.mkdir()
    code, _, err = cli(capsys, "stylize", photos / "photo-01.jpg", photos / "photo-02.jpg",
                       "--model", tiny_model_file, "-o", out, "--size", SIZE, "--format", fmt,
                       "--quality", 70)
    assert code == 0, err
    for path in sorted(out.iterdir()):
        assert path.suffix == f".{fmt}"
        with Image.open(path) as image:
            assert image.format == pil


def test_quality_changes_the_file(capsys, tmp_path, sample_photo, tiny_model_file):
    sizes = []
    for quality in (20, 95):
        out = tmp_path / f"q{quality}.jpg"
        assert cli(capsys, "stylize", sample_photo, "--model", tiny_model_file, "-o", out,
                   "--size", 96, "--quality", quality)[0] == 0
        sizes.append(out.stat().st_size)
    assert sizes[0] < sizes[1]


def test_a_bad_photo_in_a_batch_is_reported_and_skipped(capsys, tmp_path, photos,
                                                        tiny_model_file):
    (photos / "broken.jpg").write_bytes(b"\xff\xd8\xff broken")
    out = tmp_path / "out"
    out.mkdir()
    code, stdout, err = cli(capsys, "stylize", photos, "--model", tiny_model_file, "-o", out,
                            "--size", SIZE, "--json", "--quiet")
    assert code == 1
    assert len(list(out.iterdir())) == 20  # every good photo was painted
    errors = [line for line in err.splitlines() if line.startswith("brushwork: error:")]
    assert len(errors) == 1 and "broken.jpg" in errors[0]
    assert "1 of 21 photos failed" in err
    records = [json.loads(line) for line in stdout.splitlines()]
    failed = [r for r in records if "error" in r]
    assert len(records) == 21 and len(failed) == 1
    assert failed[0]["input"].endswith("broken.jpg")


@pytest.mark.parametrize("case", [
    "glob without matches", "empty folder", "stdout with several", "stdout with json",
    "stdout with levels", "format contradicts suffix", "output is the input", "missing photo",
])
def test_batch_usage_mistakes_are_one_line_errors(capsys, tmp_path, photos, tiny_model_file,
                                                  case):
    out = tmp_path / "out"
    out.mkdir()
    empty = tmp_path / "empty"
    empty.mkdir()
    photo = photos / "photo-01.jpg"
    args, fragment = {
        "glob without matches": ([str(tmp_path / "*.heic"), "-o", out], "no files match"),
        "empty folder": ([empty, "-o", out], "no photos in folder"),
        "stdout with several": ([photo, photos / "photo-02.jpg", "-o", "-"], "one photo"),
        "stdout with json": ([photo, "-o", "-", "--json"], "--json"),
        "stdout with levels": ([photo, "-o", "-", "--save-levels"], "--save-levels"),
        "format contradicts suffix": ([photo, "-o", tmp_path / "x.png", "--format", "jpg"],
                                      "contradicts"),
        "output is the input": ([photo, "-o", photo], "overwrite"),
        "missing photo": ([photo, tmp_path / "absent.jpg", "-o", out], "absent.jpg"),
    }[case]
    before = sorted(tmp_path.rglob("*"))
    code, stdout, err = cli(capsys, "stylize", *args, "--model", tiny_model_file,
                            "--size", SIZE)
    one_line_error(code, err, fragment)
    assert stdout == ""
    assert sorted(tmp_path.rglob("*")) == before


@pytest.mark.parametrize("strength", ["1.5", "-0.1", "nan", "much"])
def test_strength_outside_0_1_is_a_usage_error(capsys, sample_photo, tmp_path, strength):
    with pytest.raises(SystemExit) as exited:
        main(["stylize", str(sample_photo), "-o", str(tmp_path / "o.jpg"),
              "--strength", strength])
    assert exited.value.code == 2
    assert "--strength" in capsys.readouterr().err


def test_strength_zero_is_the_photo_and_preserve_color_keeps_its_colours(
        capsys, tmp_path, sample_photo, tiny_model_file):
    def paint(*options) -> np.ndarray:
        out = tmp_path / f"out{len(list(tmp_path.iterdir()))}.png"
        code, stdout, err = cli(capsys, "stylize", sample_photo, "--model", tiny_model_file,
                                "-o", out, "--size", 96, "--json", *options)
        assert code == 0, err
        record = json.loads(stdout)
        assert record["strength"] == (float(options[1]) if "--strength" in options else 1.0)
        assert record["preserve_color"] == ("--preserve-color" in options)
        with Image.open(out) as image:
            return np.asarray(image.convert("YCbCr"), dtype=float)

    with Image.open(sample_photo) as original:
        photo = np.asarray(original.convert("RGB").resize((96, 64), Image.Resampling.BILINEAR)
                           .convert("YCbCr"), dtype=float)
    assert np.abs(paint("--strength", "0") - photo).max() <= 2
    full, kept = paint(), paint("--preserve-color")
    assert np.median(np.abs(kept[..., 1:] - photo[..., 1:])) < 3
    assert np.median(np.abs(full[..., 1:] - photo[..., 1:])) > 3
    assert np.abs(kept[..., 0] - full[..., 0]).mean() < 3  # the painting's luminance


def test_keep_exif(capsys, tmp_path, tiny_model_file):
    photo = tmp_path / "camera.jpg"
    exif = Image.Exif()
    exif[0x010F] = "BrushworkCam"
    exif[0x0112] = 8  # rotated 90 degrees: applied, then reset to 1 in the output
    make_photo((60, 40)).save(photo, exif=exif.tobytes())
    for keep in (True, False):
        out = tmp_path / f"out-{keep}.jpg"
        code, _, err = cli(capsys, "stylize", photo, "--model", tiny_model_file, "-o", out,
                           "--size", 30, *(["--keep-exif"] if keep else []))
        assert code == 0, err
        with Image.open(out) as image:
            assert image.size == (20, 30)  # upright
            tags = image.getexif()
            assert (tags.get(0x010F) == "BrushworkCam") is keep
            assert tags.get(0x0112, 1) == 1


def test_heic_photos_in_a_folder(capsys, tmp_path, tiny_model_file):
    pillow_heif = pytest.importorskip("pillow_heif", reason="pillow-heif is not installed")
    pillow_heif.register_heif_opener()
    folder = tmp_path / "phone"
    folder.mkdir()
    make_photo((60, 40)).save(folder / "IMG_0001.HEIC", format="HEIF", quality=90)
    out = tmp_path / "out"
    out.mkdir()
    code, _, err = cli(capsys, "stylize", folder, "--model", tiny_model_file, "-o", out,
                       "--size", SIZE, "--format", "png")
    assert code == 0, err
    assert size_of(out / "IMG_0001-stylized.png") == (32, 21)


# ----------------------------------------------------------------------------- pipes


def _command() -> list[str]:
    beside = Path(sys.executable).parent / "brushwork"
    if beside.is_file() and os.access(beside, os.X_OK):
        return [str(beside)]
    if shutil.which("brushwork"):
        return ["brushwork"]
    return [sys.executable, "-m", "brushwork.cli"]


def test_stdin_to_stdout_in_a_pipe(tmp_path, sample_photo, tiny_model_file):
    """photo | brushwork stylize - -o - | brushwork stylize - -o - > out.png: both ends."""
    command = " ".join(_command())
    model = tiny_model_file
    pipeline = (f"cat {sample_photo} | {command} stylize - --model {model} -o - --size 96 "
                f"--format jpg | {command} stylize - --model {model} -o - --size 48 "
                f"--format png --strength 0.5 > {tmp_path / 'out.png'}")
    env = {k: v for k, v in os.environ.items() if k != "BRUSHWORK_DEBUG"}
    result = subprocess.run(["bash", "-o", "pipefail", "-c", pipeline], env=env,
                            capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    with Image.open(tmp_path / "out.png") as image:
        assert (image.format, image.size) == ("PNG", (48, 32))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.png", "sample.jpg",
                                                          "tiny.safetensors"]


def test_stdin_to_a_file_and_a_bad_stdin(tmp_path, sample_photo, tiny_model_file):
    out = tmp_path / "from-stdin.webp"
    result = subprocess.run(
        [*_command(), "stylize", "-", "--model", str(tiny_model_file), "-o", str(out),
         "--size", "64"], input=sample_photo.read_bytes(), capture_output=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert size_of(out) == (64, 43)
    bad = subprocess.run(
        [*_command(), "stylize", "-", "--model", str(tiny_model_file), "-o", "-"],
        input=b"not a photo", capture_output=True, timeout=300)
    assert bad.returncode == 1
    assert bad.stdout == b""
    assert bad.stderr.decode().startswith("brushwork: error: standard input")
