"""The image-input table: every kind of photo file a user or client may hand us,
through all three doors: the command line, the HTTP API and the Python API.

Each case either works correctly (an output of the right size, and, since every run here is
at ``strength=0``, whose pixels are the photo's: the right orientation and colours) or fails
with a clear one-line error: exit 1 and one ``brushwork: error:`` line on the command line, a
4xx JSON answer over HTTP, a ``BrushworkError`` from Python. Never a traceback, an
"unexpected error", a 5xx, a partial output or a temporary file left behind.

The files are generated here, small (at most 10,000 pixels, the pixel limit this table
configures, except where a case is about the limit), so the whole table runs in seconds.
``experiments/reliability_report.py`` runs the same table (``run_table``) for
docs/reliability.md.

Over 500 lines because each row of the table carries the code that makes its file; the table
is one unit (``run_table`` runs all of it), so it stays in one module.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from PIL import Image

from brushwork.api import Stylizer, load_model
from brushwork.cli import main
from brushwork.errors import BrushworkError
from brushwork.images import load_image
from brushwork.levels import scaled_size
from tests.helpers import png_claiming, tiny_model

#: Long side of every output.
SIZE = 64
#: The pixel limit configured for the table (CLI --max-pixels, server max_pixels, Python).
LIMIT = 10_000
#: The interfaces each case goes through.
INTERFACES = ("cli", "http", "python")

RED, GREEN, BLUE, WHITE = (230, 20, 20), (20, 200, 40), (30, 40, 220), (255, 255, 255)


# ----------------------------------------------------------------------------- the files


def _save(image: Image.Image, fmt: str, **options: Any) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **options)
    return buffer.getvalue()


def _halves(size: tuple[int, int], top: tuple, bottom: tuple) -> Image.Image:
    """An upright picture: ``top`` colour above, ``bottom`` below (orientation shows)."""
    image = Image.new("RGB", size, bottom)
    image.paste(top, (0, 0, size[0], size[1] // 2))
    return image


def _noise(size: tuple[int, int], seed: int = 0) -> Image.Image:
    array = np.random.default_rng(seed).integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
    return Image.fromarray(array, "RGB")


def _smooth_noise(size: tuple[int, int], seed: int = 0) -> Image.Image:
    """Random colours on a 5x5 grid, smoothly interpolated to ``size``: a picture whose every
    region differs from the others, so a flip, a rotation or another picture shows after
    resizing, where resized per-pixel noise averages to much the same grey whatever it was
    (a flipped, rotated or unrelated noise picture measured ~36 from it at 64 px)."""
    grid = np.random.default_rng(seed).integers(0, 256, (5, 5, 3), dtype=np.uint8)
    return Image.fromarray(grid, "RGB").resize(size, Image.Resampling.BICUBIC)


def _exif_rotated(orientation: int) -> tuple[bytes, Image.Image]:
    """A JPEG stored sideways/upside down with the EXIF orientation that puts it upright."""
    upright = _halves((40, 60), RED, BLUE)
    stored = upright.transpose({6: Image.Transpose.ROTATE_90, 3: Image.Transpose.ROTATE_180,
                                8: Image.Transpose.ROTATE_270}[orientation])
    exif = Image.Exif()
    exif[0x0112] = orientation
    return _save(stored, "JPEG", quality=95, exif=exif.tobytes()), upright


def _sixteen_bit(top: int) -> tuple[bytes, Image.Image]:
    """A 16-bit greyscale PNG, a horizontal ramp from 0 to ``top`` (of 65535)."""
    ramp = np.linspace(0, top, 50).round().astype(np.uint16)[None, :].repeat(40, axis=0)
    eight = (ramp / 65535 * 255).round().astype(np.uint8)
    return _save(Image.fromarray(ramp), "PNG"), Image.fromarray(eight).convert("RGB")


def _palette_with_transparency() -> tuple[bytes, Image.Image]:
    """Index 0 transparent (left half), index 1 opaque green (right half)."""
    image = Image.new("P", (40, 30), 0)
    image.putpalette([*RED, *GREEN] + [0] * 762)
    image.paste(1, (20, 0, 40, 30))
    expected = Image.new("RGB", (40, 30), WHITE)
    expected.paste(GREEN, (20, 0, 40, 30))
    return _save(image, "PNG", transparency=0), expected


def _animated(fmt: str) -> tuple[bytes, Image.Image]:
    frames = [Image.new("RGB", (40, 30), colour) for colour in (RED, GREEN, BLUE)]
    options = {"lossless": True} if fmt == "WEBP" else {}
    data = _save(frames[0], fmt, save_all=True, append_images=frames[1:], duration=100,
                 **options)
    return data, frames[0]


def _grey_alpha() -> tuple[bytes, Image.Image]:
    """Grey 100 at half opacity: composited over white, 178 (as a browser shows it)."""
    image = Image.new("LA", (40, 30), (100, 128))
    return _save(image, "PNG"), Image.new("RGB", (40, 30), (178, 178, 178))


@dataclass(frozen=True)
class Case:
    """One row of the table: a file, and what must happen to it."""

    name: str
    filename: str
    #: -> (file bytes, the upright RGB picture a correct reader sees, or None to skip pixels)
    make: Callable[[], tuple[bytes, Image.Image | None]]
    #: (width, height) of the upright photo when the case works; None: it must fail
    upright: tuple[int, int] | None = None
    #: for failures: the HTTP status and a fragment every error message must contain
    status: int = 0
    fragment: str = ""
    #: largest mean absolute difference (0-255) from the expected pixels (lossy formats)
    tolerance: float = 4.0
    #: frames in the file (an animation: the first is painted, and the output says so)
    frames: int = 1
    note: str = ""

    @property
    def works(self) -> bool:
        return self.upright is not None

    @property
    def output_size(self) -> tuple[int, int]:
        assert self.upright is not None
        w, h = self.upright
        h2, w2 = scaled_size(h, w, SIZE)
        return w2, h2


def _only(data: bytes) -> Callable[[], tuple[bytes, None]]:
    return lambda: (data, None)


def _picture(image: Image.Image, fmt: str, **options: Any
             ) -> Callable[[], tuple[bytes, Image.Image]]:
    return lambda: (_save(image, fmt, **options), image.convert("RGB"))


def _truncated(fmt: str) -> tuple[bytes, None]:
    data = _save(_noise((90, 60)), fmt, **({"quality": 90} if fmt == "JPEG" else {}))
    return data[: len(data) // 2], None


CASES: list[Case] = [
    Case("zero-byte file", "empty.jpg", _only(b""), status=422, fragment="empty"),
    Case("truncated JPEG", "truncated.jpg", lambda: _truncated("JPEG"), status=415,
         fragment="cannot read"),
    Case("truncated PNG", "truncated.png", lambda: _truncated("PNG"), status=415,
         fragment="cannot read"),
    Case("text file named .jpg", "notes.jpg", _only(b"this is not a photo\n" * 20),
         status=415, fragment="not an image"),
    Case("random bytes named .png", "noise.png",
         _only(np.random.default_rng(1).bytes(3000)), status=415, fragment="not an image"),
    Case("PNG header claiming 60000x60000", "bomb.png", _only(png_claiming(60000, 60000)),
         status=413, fragment="too large", note="refused from the header, nothing decoded"),
    Case("1x the pixel limit (100x100)", "limit-1x.png",
         _picture(_smooth_noise((100, 100)), "PNG"), upright=(100, 100), tolerance=6,
         note="at the limit: read"),
    Case("2x the pixel limit (200x100)", "limit-2x.png", _only(_save(_noise((200, 100)), "PNG")),
         status=413, fragment="over the limit of 10,000"),
    Case("10x the pixel limit (400x250)", "limit-10x.png",
         _only(_save(_noise((400, 250)), "PNG")), status=413, fragment="over the limit"),
    Case("1x4000", "tall.png", _picture(_halves((1, 4000), RED, BLUE), "PNG"),
         upright=(1, 4000), tolerance=8),
    Case("4000x1", "wide.png", _picture(Image.new("RGB", (4000, 1), GREEN), "PNG"),
         upright=(4000, 1)),
    Case("1x1", "dot.png", _picture(Image.new("RGB", (1, 1), RED), "PNG"), upright=(1, 1)),
    Case("7x7", "tiny.png", _picture(_halves((7, 7), RED, BLUE), "PNG"), upright=(7, 7),
         tolerance=12),
    Case("CMYK JPEG", "cmyk.jpg",
         lambda: (_save(Image.new("CMYK", (40, 30), (0, 255, 255, 0)), "JPEG", quality=95),
                  Image.new("RGB", (40, 30), (255, 0, 0))),
         upright=(40, 30), tolerance=6),
    Case("16-bit greyscale PNG", "grey16.png", lambda: _sixteen_bit(65535), upright=(50, 40)),
    Case("16-bit PNG, dark (max 200/65535)", "dark16.png", lambda: _sixteen_bit(200),
         upright=(50, 40), note="must stay black, not be stretched to 0..200/255"),
    Case("greyscale (L) JPEG", "grey.jpg",
         lambda: (_save(_halves((40, 30), RED, BLUE).convert("L"), "JPEG", quality=95),
                  _halves((40, 30), RED, BLUE).convert("L").convert("RGB")),
         upright=(40, 30), tolerance=6),
    Case("greyscale with alpha (LA) PNG", "grey-alpha.png", _grey_alpha, upright=(40, 30),
         note="composited over white"),
    Case("palette with transparency", "palette.png", _palette_with_transparency,
         upright=(40, 30), tolerance=8, note="transparent pixels become white"),
    Case("EXIF orientation 6 (90 deg)", "rotated6.jpg", lambda: _exif_rotated(6),
         upright=(40, 60), tolerance=8, note="portrait, red on top"),
    Case("EXIF orientation 3 (180 deg)", "rotated3.jpg", lambda: _exif_rotated(3),
         upright=(40, 60), tolerance=8),
    Case("EXIF orientation 8 (270 deg)", "rotated8.jpg", lambda: _exif_rotated(8),
         upright=(40, 60), tolerance=8),
    Case("animated GIF (3 frames)", "anim.gif", lambda: _animated("GIF"), upright=(40, 30),
         tolerance=8, frames=3, note="first frame painted; says so"),
    Case("animated WebP (3 frames)", "anim.webp", lambda: _animated("WEBP"), upright=(40, 30),
         tolerance=8, frames=3, note="first frame painted; says so"),
    Case("WebP", "still.webp", _picture(_halves((40, 30), RED, BLUE), "WEBP", lossless=True),
         upright=(40, 30), tolerance=8),
    Case("TIFF", "photo.tiff", _picture(_halves((40, 30), RED, BLUE), "TIFF"),
         upright=(40, 30), tolerance=8),
    Case("BMP", "photo.bmp", _picture(_halves((40, 30), RED, BLUE), "BMP"), upright=(40, 30),
         tolerance=8),
    Case("float TIFF (mode F)", "float.tiff",
         _only(_save(Image.fromarray(np.full((30, 40), 0.5, np.float32)), "TIFF")),
         status=415, fragment="not supported"),
    Case("ICO (not read)", "icon.ico", _only(_save(Image.new("RGB", (32, 32), RED), "ICO")),
         status=415, fragment="not an image"),
    Case("TGA (not read)", "photo.tga", _only(_save(Image.new("RGB", (32, 32), RED), "TGA")),
         status=415, fragment="not an image"),
    Case("PPM (not read)", "photo.ppm", _only(_save(Image.new("RGB", (32, 32), RED), "PPM")),
         status=415, fragment="not an image"),
    Case("EPS (not read: Ghostscript)", "photo.eps",
         _only(_save(Image.new("RGB", (32, 32), RED), "EPS")), status=415,
         fragment="not an image", note="never handed to Ghostscript"),
    Case("PDF", "photo.pdf", _only(_save(Image.new("RGB", (32, 32), RED), "PDF")),
         status=415, fragment="not an image"),
    Case("SVG", "drawing.svg",
         _only(b'<svg xmlns="http://www.w3.org/2000/svg" width="40" height="30">'
               b'<rect width="40" height="30" fill="red"/></svg>'),
         status=415, fragment="not an image"),
]


# ------------------------------------------------------------------------- running cases


@dataclass
class Outcome:
    """What one case did through one interface; ``problems`` empty means as it should."""

    case: str
    interface: str
    result: str = ""
    problems: list[str] = field(default_factory=list)
    traceback: bool = False
    leftovers: list[str] = field(default_factory=list)


def _check_picture(case: Case, image: Image.Image, expected: Image.Image | None,
                   problems: list[str]) -> None:
    if image.size != case.output_size:
        problems.append(f"output is {image.size}, expected {case.output_size}")
        return
    if expected is None:
        return
    reference = np.asarray(expected.convert("RGB").resize(image.size,
                                                          Image.Resampling.BILINEAR), float)
    error = float(np.abs(np.asarray(image.convert("RGB"), float) - reference).mean())
    if error > case.tolerance:
        problems.append(f"pixels differ from the expected picture by {error:.1f} "
                        f"(> {case.tolerance}): wrong orientation or colours")


def _files(folder: Path) -> set[str]:
    return {p.name for p in folder.iterdir()}


def run_cli(case: Case, folder: Path, model: Path, capsys: Any = None) -> Outcome:
    """``brushwork stylize`` in-process (``main``), as the console script runs it.

    Without pytest's ``capsys`` (the report), stderr is captured by redirecting it.
    """
    import contextlib

    outcome = Outcome(case.name, "cli")
    data, expected = case.make()
    photo = folder / case.filename
    photo.write_bytes(data)
    out = folder / "out"
    out.mkdir()
    target = out / "painting.png"
    argv = ["stylize", str(photo), "--model", str(model), "-o", str(target), "--size",
            str(SIZE), "--strength", "0", "--device", "cpu", "--precision", "float32",
            "--max-pixels", str(LIMIT), "--quiet"]
    if capsys is not None:
        code = main(argv)
        err = capsys.readouterr().err
    else:
        stream = io.StringIO()
        with contextlib.redirect_stderr(stream), contextlib.redirect_stdout(io.StringIO()):
            code = main(argv)
        err = stream.getvalue()
    problems = outcome.problems
    outcome.traceback = "Traceback" in err
    if outcome.traceback or "unexpected error" in err:
        problems.append(f"crashed: {err.strip()[:200]}")
    lines = err.strip().splitlines()
    if case.works:
        outcome.result = f"exit {code}"
        if code != 0:
            problems.append(f"exit {code}: {err.strip()}")
        elif not target.is_file():
            problems.append("no output file")
        else:
            with Image.open(target) as image:
                image.load()
                _check_picture(case, image, expected, problems)
                outcome.result = f"exit 0, {image.size[0]}x{image.size[1]}"
        if case.frames > 1 and not any(f"{case.frames} frames" in line for line in lines):
            problems.append("an animation's other frames were dropped without a word")
        extra = _files(out) - {"painting.png"}
    else:
        outcome.result = f"exit {code}: {lines[-1] if lines else ''}".replace(f"{folder}/", "")
        if code != 1:
            problems.append(f"exit {code}, expected 1")
        if len(lines) != 1 or not lines[0].startswith("brushwork: error: "):
            problems.append(f"not one error line: {err!r}")
        elif case.fragment not in lines[0]:
            problems.append(f"{case.fragment!r} not in {lines[0]!r}")
        extra = _files(out)
    outcome.leftovers = sorted(extra | (_files(folder) - {case.filename, "out"}))
    if outcome.leftovers:
        problems.append(f"left behind: {outcome.leftovers}")
    return outcome


def run_http(case: Case, client: Any, style: str) -> Outcome:
    """``POST /v1/stylize`` on an app built with ``max_pixels=LIMIT`` (``make_app_client``)."""
    outcome = Outcome(case.name, "http")
    data, expected = case.make()
    response = client.post("/v1/stylize", files={"file": (case.filename, data)},
                           data={"style": style, "size": str(SIZE), "strength": "0",
                                 "format": "png"})
    status = response.status_code
    problems = outcome.problems
    if status >= 500:
        problems.append(f"server error {status}: {response.text[:200]}")
    if case.works:
        outcome.result = str(status)
        if status != 200:
            problems.append(f"{status}: {response.text[:200]}")
        else:
            image = Image.open(io.BytesIO(response.content))
            image.load()
            _check_picture(case, image, expected, problems)
            outcome.result = f"200, {image.size[0]}x{image.size[1]}"
            frames = response.headers.get("x-brushwork-frames")
            if case.frames > 1 and frames != str(case.frames):
                problems.append(f"X-Brushwork-Frames is {frames!r}, not {case.frames}")
        return outcome
    is_json = response.headers.get("content-type", "").startswith("application/json")
    detail = response.json().get("detail") if is_json else None
    outcome.result = f"{status}: {detail}"
    outcome.traceback = "Traceback" in response.text
    if status != case.status:
        problems.append(f"status {status}, expected {case.status}")
    if not isinstance(detail, str) or "\n" in detail:
        problems.append(f"not a one-line JSON detail: {response.text[:200]}")
    elif case.fragment not in detail:
        problems.append(f"{case.fragment!r} not in {detail!r}")
    return outcome


def run_python(case: Case, folder: Path, model: Stylizer) -> Outcome:
    """``load_image(path, max_pixels=LIMIT)`` then ``Stylizer.stylize``."""
    outcome = Outcome(case.name, "python")
    data, expected = case.make()
    photo = folder / case.filename
    photo.write_bytes(data)
    try:
        image = load_image(photo, max_pixels=LIMIT)
        painting = model.stylize(image, SIZE, strength=0)
    except BrushworkError as error:
        message = str(error)
        outcome.result = f"{type(error).__name__}: {message}".replace(f"{folder}/", "")
        if case.works:
            outcome.problems.append(f"refused: {message}")
        elif "\n" in message or case.fragment not in message:
            outcome.problems.append(f"{case.fragment!r} not in {message!r}")
        return outcome
    except Exception as error:  # the very thing this table is for
        outcome.traceback = True
        outcome.result = f"{type(error).__name__}: {error}"
        outcome.problems.append(f"crashed: {outcome.result}")
        return outcome
    outcome.result = f"{painting.size[0]}x{painting.size[1]}"
    if not case.works:
        outcome.problems.append("read, but should have been refused")
        return outcome
    _check_picture(case, painting, expected, outcome.problems)
    if image.info.get("frames", 1) != case.frames:
        outcome.problems.append(f"info['frames'] is {image.info.get('frames')}, "
                                f"not {case.frames}")
    return outcome


def make_app_client(model: Path) -> Any:
    """A TestClient over the real app with the tiny model as style ``tiny`` (see test_server)."""
    from fastapi.testclient import TestClient

    from brushwork.server import ServerSettings, create_app

    settings = ServerSettings(models=[model], device="cpu", precision="float32",
                              max_pixels=LIMIT)
    # The server answers to its own address only (against DNS rebinding), not TestClient's
    # "testserver".
    return TestClient(create_app(settings), base_url="http://localhost",
                      raise_server_exceptions=False)


def run_table(folder: Path, interfaces: tuple[str, ...] = INTERFACES) -> list[Outcome]:
    """Every case through every interface (for the report); ``folder`` must be empty."""
    model_path = tiny_model(folder / "tiny.safetensors")
    outcomes = []
    with torch.random.fork_rng(devices=[]):
        model = load_model(model_path, device="cpu", precision="float32")
        client = make_app_client(model_path) if "http" in interfaces else None
        with client if client is not None else _nothing():
            for k, case in enumerate(CASES):
                for interface in interfaces:
                    work = folder / f"{k:02d}-{interface}"
                    work.mkdir()
                    if interface == "cli":
                        outcomes.append(run_cli(case, work, model_path))
                    elif interface == "http":
                        outcomes.append(run_http(case, client, "tiny"))
                    else:
                        outcomes.append(run_python(case, work, model))
    return outcomes


class _nothing:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        return None


# --------------------------------------------------------------------------------- tests


@pytest.fixture(autouse=True)
def _global_rng_untouched():
    """Loading a model draws from torch's global RNG; later test files must not notice."""
    with torch.random.fork_rng(devices=[]):
        yield


@pytest.fixture(scope="module")
def model_file(tmp_path_factory) -> Path:
    return tiny_model(tmp_path_factory.mktemp("model") / "tiny.safetensors")


@pytest.fixture(scope="module")
def stylizer(model_file: Path) -> Stylizer:
    with torch.random.fork_rng(devices=[]):
        return load_model(model_file, device="cpu", precision="float32")


@pytest.fixture(scope="module")
def client(model_file: Path):
    pytest.importorskip("fastapi", reason="the server extra is not installed")
    with torch.random.fork_rng(devices=[]), make_app_client(model_file) as c:
        yield c


def _assert_fine(outcome: Outcome) -> None:
    assert not outcome.problems, f"{outcome.case} via {outcome.interface}: {outcome.problems}"


CASE_IDS = [case.name for case in CASES]


@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_cli(case: Case, tmp_path: Path, model_file: Path, capsys) -> None:
    _assert_fine(run_cli(case, tmp_path, model_file, capsys))


@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_http(case: Case, client) -> None:
    _assert_fine(run_http(case, client, "tiny"))


@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_python(case: Case, tmp_path: Path, stylizer: Stylizer) -> None:
    _assert_fine(run_python(case, tmp_path, stylizer))


#: What a reader could get wrong: the picture turned or mirrored, or another picture.
WRONG_PICTURES: dict[str, Callable[[Image.Image], Image.Image]] = {
    "flipped top to bottom": lambda im: im.transpose(Image.Transpose.FLIP_TOP_BOTTOM),
    "mirrored": lambda im: im.transpose(Image.Transpose.FLIP_LEFT_RIGHT),
    "rotated 90 degrees": lambda im: im.transpose(Image.Transpose.ROTATE_90),
    "rotated 180 degrees": lambda im: im.transpose(Image.Transpose.ROTATE_180),
    "another picture": lambda im: _smooth_noise(im.size, seed=7),
}


@pytest.mark.parametrize("case", [c for c in CASES if c.works], ids=lambda c: c.name)
def test_each_case_tells_a_wrong_picture_from_the_right_one(case: Case) -> None:
    """A case's pixel check fails an output that is a wrong picture (``WRONG_PICTURES``) at
    the output size, whenever that picture differs from the expected one at all (a mirrored
    picture of one colour is the same picture): the tolerance must be tighter than what
    orientation and colour errors cost on that picture."""
    _, expected = case.make()
    if expected is None:
        pytest.skip("no pixels to compare")
    expected = expected.convert("RGB")
    for wrong, make_wrong in WRONG_PICTURES.items():
        picture = make_wrong(expected)
        if picture.size == expected.size and np.abs(
                np.asarray(picture, float) - np.asarray(expected, float)).mean() < 1:
            continue  # the same picture
        h, w = scaled_size(picture.height, picture.width, SIZE)
        problems: list[str] = []
        _check_picture(case, picture.resize((w, h), Image.Resampling.BILINEAR), expected,
                       problems)
        assert problems, f"{case.name}: a {wrong} picture passes the pixel check"


def test_the_table_covers_the_issue() -> None:
    """The table's required rows are all here (a guard against a row quietly removed)."""
    names = " ".join(CASE_IDS)
    for row in ("zero-byte", "truncated JPEG", "named .jpg", "60000x60000", "1x the pixel",
                "2x the pixel", "10x the pixel", "1x4000", "1x1", "7x7", "CMYK", "16-bit",
                "greyscale", "palette with transparency", "EXIF", "animated GIF",
                "animated WebP", "ICO", "SVG", "PDF"):
        assert row in names, row


def test_the_pixel_limit_comes_from_the_environment(tmp_path, model_file, capsys, monkeypatch):
    """BRUSHWORK_MAX_PIXELS sets the limit where --max-pixels is not given; a bad value is
    one error line before any work."""
    photo = tmp_path / "p.png"
    Image.new("RGB", (200, 100), RED).save(photo)
    argv = ["stylize", str(photo), "--model", str(model_file), "-o", str(tmp_path / "o.png"),
            "--size", "32", "--device", "cpu", "--quiet"]
    monkeypatch.setenv("BRUSHWORK_MAX_PIXELS", "10k")
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "over the limit of 10,000" in err and "--max-pixels" in err
    assert main([*argv, "--max-pixels", "20000"]) == 0  # the option wins over the variable
    capsys.readouterr()
    monkeypatch.setenv("BRUSHWORK_MAX_PIXELS", "lots")
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert err.startswith("brushwork: error: BRUSHWORK_MAX_PIXELS") and err.count("\n") == 1


@pytest.mark.parametrize("value", ["0", "-5", "abc", "1e9", "200M", ""])
def test_bad_max_pixels_is_a_usage_error(value, tmp_path, capsys):
    with pytest.raises(SystemExit) as exited:
        main(["stylize", "a.jpg", "-o", str(tmp_path / "o.png"), "--max-pixels", value])
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and "--max-pixels" in err.strip().splitlines()[-1]
