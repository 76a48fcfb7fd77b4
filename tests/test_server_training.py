"""Training a style on one's own painting through the HTTP API (``/v1/trainings``).

The claims: a painting uploaded trains a style (the recipe of ``brushwork train``) in a
thread of its own, reporting its iterations, time left and previews; when it has finished the
style is offered at once and paints, and its model file can be downloaded; a cancel stops it
within an iteration and leaves no model; one training at a time; a bad painting is refused
before it is decoded as a bad photo is, and starts nothing; a server that stops stops its
training. The runs are the real recipe and trainer at tiny crops for 2 iterations (a few
seconds each); the built-in styles are the real ones, which the recipe starts from.
"""

from __future__ import annotations

import io
import time
from pathlib import Path
from typing import Any

import pytest
import torch
from PIL import Image

pytest.importorskip("fastapi", reason="the server extra is not installed (pip install -e "
                                      "'.[dev]')")
from fastapi.testclient import TestClient

import brushwork.quality_report
import brushwork.recipe
import brushwork.server.app
from brushwork.api import STYLES_DIR
from brushwork.borders import trim_border
from brushwork.errors import BrushworkError
from brushwork.model_files import read_model_file
from brushwork.server import ServerSettings, create_app

#: The smallest run of the recipe (as tests/test_recipe.py's): 32-px crops, 2 iterations, a
#: preview after each.
TINY = {"iterations": 2, "crop_size": 32, "photo_size": 32, "mixed_precision": False,
        "preview_every": 1}
#: Long enough never to end by itself in a test: for cancels and shutdowns.
ENDLESS = {**TINY, "iterations": 100_000}
WAIT = 180.0  # seconds: a busy 2-core machine; a tiny run takes ~5-10 s


@pytest.fixture(autouse=True)
def _global_rng_untouched():
    """Training seeds torch's global RNG; later test files must see the state they would
    without these."""
    with torch.random.fork_rng(devices=[]):
        yield


def make_client(**settings: Any) -> TestClient:
    options = {"device": "cpu", "precision": "float32", "train_overrides": TINY,
               "train_minutes": 0.0, "train_report": False, **settings}
    return TestClient(create_app(ServerSettings(**options)), base_url="http://localhost",
                      raise_server_exceptions=False)


@pytest.fixture
def painting(tmp_path: Path) -> Path:
    """A built-in style's artwork, small (a user's painting: any picture)."""
    path = tmp_path / "my harbour.jpg"
    with Image.open(STYLES_DIR / "great-wave.artwork.jpg") as art:
        art.convert("RGB").resize((160, 108)).save(path, quality=92)
    return path


def start(client: TestClient, painting: Path, name: str | None = None):
    return client.post("/v1/trainings",
                       files={"file": (name or painting.name, painting.read_bytes())})


def poll(client: TestClient, training_id: str, until: Any) -> dict[str, Any]:
    """The training's status once ``until(status)`` holds (fails after WAIT seconds)."""
    deadline = time.monotonic() + WAIT
    while True:
        status = client.get(f"/v1/trainings/{training_id}").json()
        if until(status):
            return status
        assert time.monotonic() < deadline, status
        time.sleep(0.05)


def ended(status: dict[str, Any]) -> bool:
    return status["state"] not in ("queued", "running")


def assert_json_error(response, status: int, *fragments: str) -> str:
    assert response.status_code == status, (response.status_code, response.text)
    assert response.headers["content-type"].startswith("application/json")
    detail = response.json()["detail"]
    for fragment in fragments:
        assert fragment in detail, detail
    return detail


def files_in(client: TestClient) -> list[Path]:
    """Every file the trainer holds on disk."""
    return [p for p in Path(client.app.state.trainer._temporary.name).rglob("*") if p.is_file()]


def fake_report(model_path: Path, painting: Path) -> dict[str, Any]:
    """``report_on_model`` in a fraction of a second: its sheet and its dict's shape."""
    assert painting.is_file() and model_path.is_file()
    sheet = model_path.with_name(model_path.stem + ".report.jpg")
    Image.new("RGB", (64, 32), (200, 10, 10)).save(sheet)
    return {"photos": ["a.jpg"], "size": 1024, "sheet": sheet.name, "streaks": False,
            "model": {"content": 1.5, "style@512": 0.25}}


def test_a_painting_becomes_a_style_that_paints_and_downloads(painting, sample_photo,
                                                              monkeypatch):
    monkeypatch.setattr(brushwork.quality_report, "report_on_model", fake_report)
    with make_client(train_report=True) as client:
        before = {s["id"] for s in client.get("/v1/styles").json()["styles"]}
        response = start(client, painting)
        assert response.status_code == 202, response.text
        first = response.json()
        assert first["state"] in ("queued", "running") and first["painting"] == "my-harbour"
        assert first["style"] is None and first["model"] is None
        assert client.get("/v1/health").json()["training"]["active"] == first["id"]

        # one at a time: a second is refused at once, saying which one runs and how to stop it
        detail = assert_json_error(start(client, painting), 409, "already training",
                                   first["id"], f"DELETE /v1/trainings/{first['id']}")
        assert "one at a time" in detail

        running = poll(client, first["id"], lambda s: s["iteration"] >= 1 or ended(s))
        assert running["iterations"] == 2
        done = poll(client, first["id"], ended)
        assert done["state"] == "finished", done
        assert (done["iteration"], done["progress"], done["seconds_left"]) == (2, 1.0, None)
        assert done["elapsed_seconds"] > 0 and done["error"] is None
        assert client.get("/v1/health").json()["training"]["active"] is None

        preview = client.get(done["preview"])
        assert preview.headers["content-type"] == "image/jpeg"
        assert preview.headers["x-brushwork-iteration"] == "2"
        strip = Image.open(io.BytesIO(preview.content))
        assert strip.width > 3 * strip.height  # photo | level 1 | level 2 | level 3

        # the style is offered at once, titled after the painting, and paints
        styles = {s["id"]: s for s in client.get("/v1/styles").json()["styles"]}
        assert set(styles) - before == {done["style"]}
        assert styles[done["style"]]["title"] == "my-harbour"
        painted = client.post("/v1/stylize", data={"style": done["style"], "size": "64"},
                              files={"file": (sample_photo.name, sample_photo.read_bytes())})
        assert painted.status_code == 200, painted.text
        assert painted.headers["x-brushwork-style"] == done["style"]
        assert Image.open(io.BytesIO(painted.content)).size == (64, 43)

        model = client.get(done["model"])
        assert model.status_code == 200
        assert 'filename="my-harbour.safetensors"' in model.headers["content-disposition"]
        saved = Path(client.app.state.trainer._temporary.name) / "download.safetensors"
        saved.write_bytes(model.content)
        tensors, metadata = read_model_file(saved)
        assert tensors and metadata["record"]["recipe"].startswith("the zoo's recipe")
        # the painting as trained on: without the border the trim finds (brushwork.borders)
        with Image.open(painting) as art:
            width, height = trim_border(art).size
        assert metadata["styles"][0] == {"file": "my-harbour.png", "width": width,
                                         "height": height}

        assert done["report"] == {"photos": ["a.jpg"], "size": 1024, "streaks": False,
                                  "model": {"content": 1.5, "style@512": 0.25},
                                  "sheet": f"/v1/trainings/{first['id']}/report"}
        sheet = client.get(done["report"]["sheet"])
        assert sheet.headers["content-type"] == "image/jpeg"
        assert Image.open(io.BytesIO(sheet.content)).size == (64, 32)
        # the run folder (checkpoints, previews) and the painting are gone; model and sheet kept
        names = sorted(p.name for p in files_in(client))
        assert names == ["download.safetensors", "my-harbour.report.jpg",
                         "my-harbour.safetensors"]
        # a finished training cannot be cancelled; the next one may start
        assert_json_error(client.delete(f"/v1/trainings/{first['id']}"), 409, "already ended")
    assert not Path(client.app.state.trainer._temporary.name).exists()  # cleaned up on close


def test_a_cancel_stops_within_an_iteration_and_leaves_no_model(painting):
    with make_client(train_overrides=ENDLESS) as client:
        before = client.get("/v1/styles").json()["styles"]
        training = start(client, painting).json()
        poll(client, training["id"], lambda s: s["iteration"] >= 1 or ended(s))
        running = client.get(f"/v1/trainings/{training['id']}").json()
        assert running["state"] == "running" and running["seconds_left"] > 0
        assert running["iterations"] == 100_000
        asked = client.delete(f"/v1/trainings/{training['id']}")
        assert asked.status_code == 202, asked.text
        done = poll(client, training["id"], ended)
        assert done["state"] == "cancelled", done
        # asked between iteration k-1's report and k's: k finishes, k+1 at most begins
        assert done["iteration"] <= asked.json()["iteration"] + 2, (asked.json(), done)
        assert done["error"] == f"cancelled at iteration {done['iteration']}"
        assert done["model"] is None and done["style"] is None
        assert_json_error(client.get(f"/v1/trainings/{training['id']}/model"), 409,
                          "no model", "cancelled")
        assert client.get("/v1/styles").json()["styles"] == before
        assert files_in(client) == []  # checkpoint, previews, painting: all deleted
        assert client.get(done["preview"]).status_code == 200  # the last look stays
        # the slot is free again
        again = start(client, painting)
        assert again.status_code == 202, again.text
        client.delete(f"/v1/trainings/{again.json()['id']}")
        poll(client, again.json()["id"], ended)


def test_stopping_the_server_stops_its_training(painting):
    client = make_client(train_overrides=ENDLESS)
    with client:
        training = start(client, painting).json()
        poll(client, training["id"], lambda s: s["iteration"] >= 1 or ended(s))
        began = time.monotonic()
    assert time.monotonic() - began < 30  # one tiny iteration and a checkpoint, not 100,000
    job = client.app.state.trainer.job(training["id"])
    assert (job.state, job.error) == ("cancelled", "the server is shutting down")
    assert not job.folder.exists()


@pytest.fixture(scope="module")
def bomb(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny PNG file that claims 20000x20000 pixels (over Pillow's bomb limit)."""
    path = tmp_path_factory.mktemp("bomb") / "bomb.png"
    Image.new("1", (20000, 20000)).save(path)
    return path


@pytest.mark.parametrize(("case", "status", "fragments"), [
    ("no file", 422, ("file",)),
    ("empty file", 422, ("empty", "send a painting")),
    ("text file", 415, ("not an image", "it reads")),
    ("truncated jpeg", 415, ("art.jpg",)),
    ("over --max-pixels", 413, ("over the limit", "--max-pixels")),
    ("decompression bomb", 413, ("too large",)),
    ("body over --max-upload", 413, ("--max-upload",)),
])
def test_a_bad_painting_is_refused_and_starts_nothing(painting, bomb, case, status, fragments,
                                                     monkeypatch):
    decoded: list[str] = []
    original = brushwork.server.app.read_image

    def counted(data: bytes, name: str, max_pixels: int | None):
        decoded.append(name)
        return original(data, name, max_pixels)

    monkeypatch.setattr(brushwork.server.app, "read_image", counted)
    files = {"file": ("art.jpg", painting.read_bytes())}
    if case == "no file":
        files = {}
    elif case == "empty file":
        files = {"file": ("art.jpg", b"")}
    elif case == "text file":
        files = {"file": ("art.jpg", b"this is not a painting\n" * 10)}
    elif case == "truncated jpeg":
        files = {"file": ("art.jpg", painting.read_bytes()[:300])}
    elif case == "decompression bomb":
        files = {"file": ("bomb.png", bomb.read_bytes())}
    with make_client(max_pixels=160 * 100, max_upload=len(painting.read_bytes()) // 2
                     if case == "body over --max-upload" else 64 * 1024**2) as client:
        assert_json_error(client.post("/v1/trainings", files=files), status, *fragments)
        assert client.get("/v1/health").json()["training"]["active"] is None
        assert client.app.state.trainer.jobs == {}
        assert files_in(client) == []
        if case in ("no file", "empty file", "body over --max-upload"):
            assert decoded == []  # refused before decoding


def test_another_sites_page_cannot_start_or_cancel_a_training(painting):
    """The cross-site guard covers training too: a page elsewhere must not make the machine
    train for minutes, nor cancel the user's run."""
    cross_site = {"Origin": "http://evil.example", "Sec-Fetch-Site": "cross-site",
                  "Sec-Fetch-Mode": "no-cors"}
    with make_client() as client:
        response = client.post("/v1/trainings", headers=cross_site,
                               files={"file": (painting.name, painting.read_bytes())})
        assert response.status_code == 403, response.text
        assert client.app.state.trainer.jobs == {}
        assert client.delete("/v1/trainings/x", headers=cross_site).status_code == 403


def test_openapi_documents_the_training_endpoints():
    with make_client() as client:
        paths = client.get("/openapi.json").json()["paths"]
    assert set(paths["/v1/trainings/{training_id}"]) == {"get", "delete"}
    assert {"/v1/trainings", "/v1/trainings/{training_id}/preview",
            "/v1/trainings/{training_id}/model", "/v1/trainings/{training_id}/report"} <= set(paths)
    assert "409" in paths["/v1/trainings"]["post"]["responses"]


def test_unknown_trainings_are_404(painting):
    with make_client() as client:
        for method, path in (("get", ""), ("get", "/preview"), ("get", "/model"),
                             ("get", "/report"), ("delete", "")):
            response = getattr(client, method)(f"/v1/trainings/nope{path}")
            assert_json_error(response, 404, "no training", "nope")


def test_a_server_that_does_not_train_says_so(painting):
    with make_client(training=False) as client:
        assert_json_error(start(client, painting), 403, "does not train",
                          "brushwork train --style")
        assert client.get("/v1/health").json()["training"]["available"] is False


def test_a_failed_training_says_why_and_frees_the_slot(painting, monkeypatch):
    def fails(painting: Path, output: Path, **options: Any) -> Path:
        output.write_bytes(b"half a model")  # whatever it left is not offered
        raise BrushworkError("the loss became nan at iteration 1: lower the learning rate")

    monkeypatch.setattr(brushwork.recipe, "train_own_style", fails)
    with make_client() as client:
        training = start(client, painting).json()
        done = poll(client, training["id"], ended)
        assert done["state"] == "failed"
        assert done["error"] == "the loss became nan at iteration 1: lower the learning rate"
        assert_json_error(client.get(f"/v1/trainings/{training['id']}/model"), 409, "failed")
        assert files_in(client) == []
        assert start(client, painting).status_code == 202


def test_bad_training_settings_fail_before_serving():
    with pytest.raises(BrushworkError, match="not training settings: iteration"):
        create_app(ServerSettings(train_overrides={"iteration": 2}))
    with pytest.raises(BrushworkError, match=">= 0 minutes"):
        create_app(ServerSettings(train_minutes=-1))
