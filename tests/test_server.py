"""The HTTP API (``brushwork serve``): every endpoint, and every bad request a client can make.

A bad request must get a 4xx status and a JSON body ``{"detail": "<message>"}``, never a 500.
A copy of the tiny model stands in for a built-in style (``tiny-style``), so these run in
seconds; the worker, the queue and the model cache are the real ones.

Over 500 lines because it covers every endpoint and its bad requests; the hostile-page probes
are in test_server_security.py and the real processes and sockets in tests/integration/.
"""

from __future__ import annotations

import io
import random
import shutil
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

pytest.importorskip("fastapi", reason="the server extra is not installed (pip install -e "
                                      "'.[dev]')")
from fastapi.testclient import TestClient

import brushwork.api
from brushwork.api import Stylizer
from brushwork.cli import main
from brushwork.images import to_tensor
from brushwork.server import ServerSettings, create_app
from brushwork.server.work import THUMBNAIL_SIZE
from tests.helpers import as_pixels, levels_by_hand, make_photo


@pytest.fixture(autouse=True)
def _global_rng_untouched():
    """Loading a model initialises a network from torch's global RNG before its weights are
    read; restore the RNG so that later test files see the state they would without these."""
    with torch.random.fork_rng(devices=[]):
        yield


@pytest.fixture
def no_builtin_styles(tmp_path: Path, monkeypatch) -> Path:
    folder = tmp_path / "no-styles"
    folder.mkdir()
    monkeypatch.setattr(brushwork.api, "STYLES_DIR", folder)
    return folder


def make_client(base_url: str = "http://localhost", **settings) -> TestClient:
    """A client of a fresh app; it asks for ``localhost`` (the server refuses TestClient's
    default Host, "testserver", as it refuses any name that is not its own)."""
    options = {"device": "cpu", "precision": "float32", **settings}
    return TestClient(create_app(ServerSettings(**options)), base_url=base_url,
                      raise_server_exceptions=False)


@pytest.fixture
def client(builtin_styles):
    with make_client() as c:
        yield c


def photo_bytes(path: Path) -> bytes:
    return path.read_bytes()


def decode(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


def assert_json_error(response, status: int, *fragments: str) -> str:
    assert response.status_code == status, (response.status_code, response.text)
    assert response.headers["content-type"].startswith("application/json")
    detail = response.json()["detail"]
    assert isinstance(detail, str) and detail
    for fragment in fragments:
        assert fragment in detail, detail
    return detail


def stylize(client: TestClient, photo: Path, **fields):
    data = {k: str(v).lower() if isinstance(v, bool) else str(v) for k, v in fields.items()}
    return client.post("/v1/stylize", files={"file": (photo.name, photo.read_bytes())},
                       data=data)


# ------------------------------------------------------------------------ health, styles


def test_health_reports_version_device_queue_and_limits(client):
    response = client.get("/v1/health")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert body["version"] == brushwork.__version__
    assert body["device"] == "cpu"
    assert body["queue"] == {"waiting": 0, "capacity": 8, "running": False}
    assert body["limits"] == {"max_size": 4096, "max_upload_bytes": 64 * 1024**2,
                              "max_pixels": 89_478_485, "preview_size": 256, "queue": 8,
                              "timeout_seconds": 300.0}


def test_styles_lists_the_built_in_styles_with_their_cards(client):
    body = client.get("/v1/styles").json()
    assert body["default"] == "tiny-style"  # starry-night is not installed here
    assert body["styles"] == [{
        "id": "tiny-style", "kind": "builtin", "title": "Tiny Style", "artist": "A. Tester",
        "year": "2026", "license": "CC0", "thumbnail": "/v1/styles/tiny-style/thumbnail"}]


def test_model_files_given_to_serve_are_styles_too(builtin_styles, tiny_model_file, tmp_path):
    other = tmp_path / "tiny-style.safetensors"  # same stem as the built-in one
    shutil.copy(tiny_model_file, other)
    with make_client(models=[tiny_model_file, other]) as c:
        styles = c.get("/v1/styles").json()["styles"]
        assert [(s["id"], s["kind"]) for s in styles] == [
            ("tiny-style", "builtin"), ("tiny", "file"), ("tiny-style-2", "file")]
        # --model files are loaded (and so checked) when the server starts
        assert c.app.state.worker.models.loads == 2


def test_thumbnail_is_painted_once_then_cached(client):
    first = client.get("/v1/styles/tiny-style/thumbnail")
    assert first.status_code == 200
    assert first.headers["content-type"] == "image/jpeg"
    assert max(decode(first.content).size) == THUMBNAIL_SIZE
    second = client.get("/v1/styles/tiny-style/thumbnail")
    assert second.content == first.content
    assert client.app.state.worker.models.loads == 1


def test_a_shipped_thumbnail_is_served_as_it_is(client, builtin_styles):
    shipped = builtin_styles / "tiny-style.thumbnail.jpg"
    Image.new("RGB", (30, 20), (1, 2, 3)).save(shipped)
    response = client.get("/v1/styles/tiny-style/thumbnail")
    assert response.content == shipped.read_bytes()
    assert client.app.state.worker.models.loads == 0


def test_unknown_thumbnail_is_404(client):
    assert_json_error(client.get("/v1/styles/nope/thumbnail"), 404, "nope", "tiny-style")


# --------------------------------------------------------------------------- /v1/stylize


def test_stylize_returns_the_image_with_metadata_headers(client, sample_photo):
    response = stylize(client, sample_photo, style="tiny-style", size=96)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "image/jpeg"
    image = decode(response.content)
    assert (image.format, image.size) == ("JPEG", (96, 64))
    h = response.headers
    assert h["x-brushwork-style"] == "tiny-style"
    assert (h["x-brushwork-width"], h["x-brushwork-height"]) == ("96", "64")
    assert h["x-brushwork-device"] == "cpu"
    assert float(h["x-brushwork-seconds"]) >= 0
    assert h["x-brushwork-preserve-color"] == "false"
    assert h["x-brushwork-strength"] == "1"
    assert h["x-brushwork-version"] == brushwork.__version__
    assert h["content-disposition"] == 'inline; filename="sample-tiny-style.jpg"'


def test_the_model_is_loaded_once_per_style(client, sample_photo):
    for size in (64, 80, 96):
        assert stylize(client, sample_photo, size=size).status_code == 200  # default style
    assert client.app.state.worker.models.loads == 1
    assert client.get("/v1/health").json()["models_loaded"] == ["tiny-style"]


@pytest.mark.parametrize(("fmt", "pil", "media"), [
    ("png", "PNG", "image/png"), ("webp", "WEBP", "image/webp"), ("jpeg", "JPEG", "image/jpeg")])
def test_stylize_output_formats(client, sample_photo, fmt, pil, media):
    response = stylize(client, sample_photo, size=48, format=fmt, quality=80)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == media
    assert decode(response.content).format == pil


def test_strength_zero_gives_back_the_photo(client, sample_photo):
    response = stylize(client, sample_photo, size=96, strength=0, format="png")
    assert response.headers["x-brushwork-strength"] == "0"
    painted = np.asarray(decode(response.content), dtype=float)
    with Image.open(sample_photo) as photo:
        expected = np.asarray(photo.convert("RGB").resize((96, 64), Image.Resampling.BILINEAR),
                              dtype=float)
    assert np.abs(painted - expected).max() <= 1


def test_preserve_color_keeps_the_photos_chroma(client, sample_photo):
    plain = stylize(client, sample_photo, size=96, format="png")
    kept = stylize(client, sample_photo, size=96, format="png", preserve_color=True)
    assert kept.headers["x-brushwork-preserve-color"] == "true"
    with Image.open(sample_photo) as photo:
        chroma = np.asarray(photo.convert("RGB").resize((96, 64), Image.Resampling.BILINEAR)
                            .convert("YCbCr"), dtype=float)[..., 1:]

    def chroma_error(response) -> float:
        ycc = np.asarray(decode(response.content).convert("YCbCr"), dtype=float)
        return float(np.median(np.abs(ycc[..., 1:] - chroma)))

    assert chroma_error(kept) < 3 < chroma_error(plain)


def test_keep_exif_carries_the_photos_exif(client, tmp_path):
    photo = tmp_path / "exif.jpg"
    exif = Image.Exif()
    exif[0x010F] = "BrushworkCam"  # Make
    exif[0x0112] = 6  # rotated: applied on reading, reset to 1 in the output
    Image.new("RGB", (60, 40), (90, 120, 200)).save(photo, exif=exif.tobytes())
    kept = decode(stylize(client, photo, size=48, keep_exif=True).content)
    assert kept.size == (32, 48)  # orientation 6: the 60x40 photo stands upright
    assert kept.getexif()[0x010F] == "BrushworkCam"
    assert kept.getexif()[0x0112] == 1
    plain = decode(stylize(client, photo, size=48).content)
    assert 0x010F not in plain.getexif()


# ------------------------------------------------------------------------- bad requests


@pytest.fixture
def bomb(tmp_path: Path) -> Path:
    """A tiny PNG file that claims 20000x20000 pixels (over Pillow's bomb limit)."""
    path = tmp_path / "bomb.png"
    Image.new("1", (20000, 20000)).save(path)
    return path


@pytest.mark.parametrize(("case", "status", "fragment"), [
    ("no file", 422, "file"),
    ("empty file", 422, "empty"),
    ("text file", 415, "not an image"),
    ("truncated jpeg", 415, "sample.jpg"),
    ("decompression bomb", 413, "too large"),
    ("unknown style", 422, "no-such-style"),
    ("size zero", 422, "size"),
    ("negative size", 422, "size"),
    ("absurd size", 422, "limit of 4096"),
    ("size not a number", 422, "size"),
    ("strength above 1", 422, "strength"),
    ("strength not a number", 422, "strength"),
    ("unknown format", 422, "format"),
    ("quality 0", 422, "quality"),
    ("preserve_color not a bool", 422, "preserve_color"),
])
def test_bad_stylize_requests_are_4xx_json(client, sample_photo, bomb, case, status, fragment):
    files = {"file": (sample_photo.name, sample_photo.read_bytes())}
    data: dict[str, str] = {"size": "64"}
    if case == "no file":
        files = {}
    elif case == "empty file":
        files = {"file": ("empty.jpg", b"")}
    elif case == "text file":
        files = {"file": ("notes.jpg", b"this is not a photo\n" * 10)}
    elif case == "truncated jpeg":
        files = {"file": ("sample.jpg", sample_photo.read_bytes()[:300])}
    elif case == "decompression bomb":
        files = {"file": ("bomb.png", bomb.read_bytes())}
    elif case == "unknown style":
        data["style"] = "no-such-style"
    else:
        field, value = {
            "size zero": ("size", "0"), "negative size": ("size", "-3"),
            "absurd size": ("size", "100000"), "size not a number": ("size", "big"),
            "strength above 1": ("strength", "1.5"),
            "strength not a number": ("strength", "lots"), "unknown format": ("format", "gif"),
            "quality 0": ("quality", "0"), "preserve_color not a bool": ("preserve_color", "maybe"),
        }[case]
        data[field] = value
    response = client.post("/v1/stylize", files=files, data=data)
    assert_json_error(response, status, fragment)


def test_the_size_limit_is_the_servers(builtin_styles, sample_photo):
    with make_client(max_size=100) as c:
        assert stylize(c, sample_photo, size=100).status_code == 200
        assert_json_error(stylize(c, sample_photo, size=101), 422, "limit of 100",
                          "--max-size")
        assert c.get("/v1/health").json()["limits"]["max_size"] == 100


def test_a_huge_upload_is_413_before_it_is_read(builtin_styles, sample_photo):
    with make_client(max_upload=50_000) as c:
        big = bytes(random.Random(0).randbytes(200_000))
        response = c.post("/v1/stylize", files={"file": ("big.jpg", big)})
        assert_json_error(response, 413, "limit", "--max-upload")
        assert stylize(c, sample_photo, size=48).status_code == 200  # small ones still work


def test_a_huge_chunked_upload_is_cut_off_with_413(builtin_styles):
    with make_client(max_upload=50_000) as c:
        boundary = "brushworkboundary"

        def body():  # no Content-Length: the size is only known by counting
            yield (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; "
                   f"filename=\"big.jpg\"\r\nContent-Type: image/jpeg\r\n\r\n").encode()
            for _ in range(20):
                yield bytes(10_000)
            yield f"\r\n--{boundary}--\r\n".encode()

        response = c.post("/v1/stylize", content=body(),
                          headers={"Content-Type": f"multipart/form-data; boundary={boundary}"})
        assert_json_error(response, 413, "limit")


def test_no_style_installed_asks_for_a_model(no_builtin_styles, sample_photo):
    with make_client() as c:
        assert c.get("/v1/styles").json() == {"default": None, "styles": []}
        assert_json_error(stylize(c, sample_photo, size=48), 422, "no style", "model")


def test_unknown_paths_and_methods_are_json(client):
    assert_json_error(client.get("/v1/nothing"), 404)
    assert_json_error(client.get("/v1/stylize"), 405)


# --------------------------------------------------------------------------- /v1/models


def test_an_uploaded_model_becomes_a_style(no_builtin_styles, tiny_model_file, sample_photo):
    with make_client() as c:
        response = c.post("/v1/models", files={"file": ("mine.safetensors",
                                                        tiny_model_file.read_bytes())})
        assert response.status_code == 201, response.text
        style = response.json()
        assert style["id"].startswith("upload-")
        assert (style["kind"], style["title"], style["architecture"]) == ("upload", "mine",
                                                                          "mtnet")
        assert style["parameters"] > 0
        assert c.get("/v1/styles").json()["default"] == style["id"]
        again = c.post("/v1/models", files={"file": ("again.safetensors",
                                                     tiny_model_file.read_bytes())})
        assert again.json()["id"] == style["id"]  # same bytes, same style
        painted = stylize(c, sample_photo, size=48, style=style["id"])
        assert painted.status_code == 200
        assert painted.headers["x-brushwork-style"] == style["id"]
        assert c.get(style["thumbnail"]).status_code == 200
        assert c.app.state.worker.models.loads == 1


def test_a_model_can_come_with_the_photo(no_builtin_styles, tiny_model_file, sample_photo):
    with make_client() as c:
        response = c.post("/v1/stylize", data={"size": "48"}, files={
            "file": (sample_photo.name, sample_photo.read_bytes()),
            "model": ("mine.safetensors", tiny_model_file.read_bytes())})
        assert response.status_code == 200, response.text
        assert response.headers["x-brushwork-style"].startswith("upload-")


@pytest.mark.parametrize("case", ["random bytes", "pickle", "photo", "empty"])
def test_bad_model_uploads_are_422_and_not_kept(client, sample_photo, case):
    data = {
        "random bytes": random.Random(1).randbytes(5000),
        "photo": sample_photo.read_bytes(), "empty": b"",
    }.get(case)
    if case == "pickle":
        buffer = io.BytesIO()
        torch.save({"weight": torch.zeros(3)}, buffer)
        data = buffer.getvalue()
    response = client.post("/v1/models", files={"file": ("bad.safetensors", data)})
    assert_json_error(response, 422)
    assert [s["id"] for s in client.get("/v1/styles").json()["styles"]] == ["tiny-style"]


def test_uploads_are_bounded(builtin_styles, tiny_network, tiny_metadata, tmp_path):
    from brushwork.model_files import save_model

    with make_client(max_uploads=2) as c:
        ids = []
        for k in range(3):
            path = tmp_path / f"m{k}.safetensors"
            save_model(path, tiny_network, {**tiny_metadata, "note": str(k)})
            ids.append(c.post("/v1/models", files={"file": (path.name, path.read_bytes())})
                       .json()["id"])
        listed = [s["id"] for s in c.get("/v1/styles").json()["styles"]]
        assert listed == ["tiny-style", ids[2], ids[1]]  # newest first, the oldest dropped


# ----------------------------------------------------------------------------- /v1/jobs


def wait_for(client: TestClient, job_id: str, timeout: float = 60) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = client.get(f"/v1/jobs/{job_id}").json()
        if job["state"] in ("done", "error"):
            return job
        time.sleep(0.05)
    raise AssertionError(f"job {job_id} did not finish")


def test_a_job_gives_a_preview_then_the_result(client, sample_photo):
    response = client.post("/v1/jobs", data={"size": "320", "format": "png"},
                           files={"file": ("my photo.jpg", sample_photo.read_bytes())})
    assert response.status_code == 202, response.text
    job = wait_for(client, response.json()["id"])
    assert job["state"] == "done" and job["progress"] == 1.0
    assert (job["levels_done"], job["levels_total"]) == (3, 3)
    assert (job["width"], job["height"]) == (320, 213)
    preview = decode(client.get(job["preview"]).content)
    assert preview.size == (256, 171)  # the first level alone, 256 px
    result = client.get(job["result"])
    assert decode(result.content).size == (320, 213)
    assert result.headers["x-brushwork-width"] == "320"
    assert decode(client.get(job["original"]).content).size == (320, 213)
    download = client.get(job["result"], params={"download": "true"})
    assert download.headers["content-disposition"] == (
        'attachment; filename="my-photo-tiny-style.png"')
    assert job["filename"] == "my-photo-tiny-style.png"


def test_the_preview_is_the_first_level_of_the_painting(painting_styles, tmp_path):
    """Paper 3.1: y1 is the style subnet's output at size/4; at 1024 that is the preview.

    The reference is the style subnet run by hand on the photo resized to 256 px
    (``levels_by_hand``), not the app's own stylize: a wrong level, a flipped or mis-sized
    input in the shared pipeline would pass a comparison with itself. The tiny network
    paints (``paints``), as a flat grey one would match any level of any picture.
    """
    photo = tmp_path / "photo.png"
    make_photo((320, 240)).save(photo)  # 4:3: y1 is 256x192, no padding
    with make_client() as client:
        response = client.post("/v1/jobs", data={"size": "1024"},
                               files={"file": (photo.name, photo.read_bytes())})
        job = wait_for(client, response.json()["id"])
        preview = np.asarray(decode(client.get(job["preview"]).content), dtype=float)
    network = brushwork.api.load_model(painting_styles / "tiny-style.safetensors",
                                       device="cpu", precision="float32").network
    y1 = levels_by_hand(network, to_tensor(Image.open(photo)), [(192, 256)])[0]
    expected = as_pixels(y1).astype(float)
    assert preview.shape == expected.shape == (192, 256, 3)
    assert expected.std() > 20  # the network paints: a picture, not a flat grey
    assert np.abs(preview - expected).max() <= 1


def test_unknown_job_is_404(client):
    assert_json_error(client.get("/v1/jobs/nope"), 404, "nope")
    assert_json_error(client.get("/v1/jobs/nope/result"), 404)
    assert_json_error(client.get("/v1/jobs/nope/preview"), 404)
    assert_json_error(client.get("/v1/jobs/nope/original"), 404)


def test_the_queue_is_bounded_and_reports_positions(builtin_styles, sample_photo, monkeypatch):
    gate = threading.Event()
    real = Stylizer.stylize

    def held(self, *args, **kwargs):
        assert gate.wait(30)
        return real(self, *args, **kwargs)

    monkeypatch.setattr(Stylizer, "stylize", held)
    files = {"file": (sample_photo.name, sample_photo.read_bytes())}
    with make_client(queue=1) as c:
        first = c.post("/v1/jobs", data={"size": "64"}, files=files).json()
        deadline = time.monotonic() + 20
        while c.get(f"/v1/jobs/{first['id']}").json()["stage"] != "painting":
            assert time.monotonic() < deadline
            time.sleep(0.02)
        assert_json_error(c.get(f"/v1/jobs/{first['id']}/result"), 409, "not finished")
        second = c.post("/v1/jobs", data={"size": "64"}, files=files).json()
        assert second["position"] == 0 and second["state"] == "queued"
        full = c.post("/v1/jobs", data={"size": "64"}, files=files)
        assert_json_error(full, 503, "waiting")
        assert full.headers["retry-after"] == "5"
        assert c.get("/v1/health").json()["queue"] == {"waiting": 1, "capacity": 1,
                                                       "running": True}
        gate.set()
        assert wait_for(c, second["id"])["state"] == "done"
        assert wait_for(c, first["id"])["state"] == "done"


def test_a_failed_job_reports_its_error(client, sample_photo, monkeypatch):
    def broken(self, *args, **kwargs):
        raise brushwork.BrushworkError("the network said no")

    monkeypatch.setattr(Stylizer, "stylize", broken)
    job = client.post("/v1/jobs", data={"size": "64"},
                      files={"file": (sample_photo.name, sample_photo.read_bytes())}).json()
    job = wait_for(client, job["id"])
    assert (job["state"], job["error"]) == ("error", "the network said no")
    assert_json_error(client.get(f"/v1/jobs/{job['id']}/result"), 409, "the network said no")
    assert_json_error(stylize(client, sample_photo, size=64), 422, "the network said no")


# ----------------------------------------------------------------------- docs and page


def test_openapi_documents_every_endpoint(client):
    spec = client.get("/openapi.json").json()
    assert {"/v1/health", "/v1/styles", "/v1/styles/{style_id}/thumbnail", "/v1/models",
            "/v1/stylize", "/v1/jobs", "/v1/jobs/{job_id}", "/v1/jobs/{job_id}/preview",
            "/v1/jobs/{job_id}/result", "/v1/jobs/{job_id}/original"} <= set(spec["paths"])
    assert "image/png" in spec["paths"]["/v1/stylize"]["post"]["responses"]["200"]["content"]
    assert client.get("/docs").status_code == 200


def test_the_page_and_its_assets_come_from_the_package(client):
    page = client.get("/")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    for asset in ("/static/app.js", "/static/app.css", "/static/favicon.svg",
                  "/static/sample.jpg"):
        assert client.get(asset).status_code == 200, asset
        assert f'"{asset}"' in page.text or asset == "/static/sample.jpg"
    static = Path(brushwork.server.work.STATIC_DIR)
    for path in static.glob("*.*"):
        if path.suffix in (".html", ".js", ".css"):
            text = path.read_text()
            assert "http://" not in text and "https://" not in text, f"external URL in {path}"


# ------------------------------------------------------------------------ brushwork serve


def test_serve_binds_to_loopback_by_default(builtin_styles, monkeypatch, capsys):
    import uvicorn

    seen = {}
    monkeypatch.setattr(uvicorn, "run", lambda app, **kw: seen.update(app=app, **kw))
    assert main(["serve", "--device", "cpu"]) == 0
    assert (seen["host"], seen["port"]) == ("127.0.0.1", 8000)
    err = capsys.readouterr().err
    assert "http://127.0.0.1:8000/" in err and "warning" not in err


def test_serve_can_refuse_training_and_bound_its_time(builtin_styles, monkeypatch):
    import uvicorn
    from fastapi.testclient import TestClient

    seen = {}
    monkeypatch.setattr(uvicorn, "run", lambda app, **kw: seen.update(app=app, **kw))
    assert main(["serve", "--device", "cpu", "--no-training", "--train-minutes", "5"]) == 0
    with TestClient(seen["app"], base_url="http://localhost") as client:
        training = client.get("/v1/health").json()["training"]
        assert training["available"] is False
        answer = client.post("/v1/trainings", files={"file": ("a.png", b"x", "image/png")})
        assert answer.status_code == 403


def test_serve_warns_when_it_listens_beyond_loopback(builtin_styles, monkeypatch, capsys):
    import uvicorn

    monkeypatch.setattr(uvicorn, "run", lambda app, **kw: None)
    assert main(["serve", "--host", "0.0.0.0", "--port", "9000", "--device", "cpu"]) == 0
    assert "warning: serving on 0.0.0.0" in capsys.readouterr().err


@pytest.mark.parametrize(("argv", "fragment"), [
    (["--model", "absent.safetensors"], "absent.safetensors"),
    (["--device", "cuda"], "CUDA"),
])
def test_serve_fails_in_one_line_before_serving(builtin_styles, monkeypatch, capsys, argv,
                                                fragment):
    import uvicorn

    if "cuda" in argv and torch.cuda.is_available():
        pytest.skip("a CUDA GPU is present")
    monkeypatch.setattr(uvicorn, "run", lambda app, **kw: pytest.fail("served anyway"))
    assert main(["serve", *argv]) == 1
    err = capsys.readouterr().err
    assert len(err.splitlines()) == 1 and err.startswith("brushwork: error:")
    assert fragment in err


