"""Painting a clip through the HTTP API (``/v1/videos``).

The claims: an uploaded clip is painted by the command line's own function in a thread of its
own, reporting frames done, frames in all, frames per second and time left; the painted clip
downloads with the input's audio packets byte for byte; a cancel stops it before the next
frame and leaves no file; one clip at a time (409); clips over the limits (body, frame size,
duration, frame count) are refused before any frame is painted; a corrupt or truncated clip
gets a clear message and leaves nothing behind. The clips are a few frames at 96x64 written
by PyAV (``tests.helpers.write_clip``), painted by the tiny painting model at 64 px.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import pytest
import torch

pytest.importorskip("fastapi", reason="the server extra is not installed (pip install -e "
                                      "'.[dev]')")
av = pytest.importorskip("av", reason="needs the video extra: pip install 'brushwork[video]'")
pytest.importorskip("cv2", reason="needs the video extra: pip install 'brushwork[video]'")
from fastapi.testclient import TestClient  # noqa: E402

import brushwork.video  # noqa: E402
from brushwork.server import ServerSettings, create_app  # noqa: E402
from tests.helpers import packets, pan, timing, write_clip  # noqa: E402

WAIT = 120.0  # seconds: a busy 2-core machine; a 12-frame clip at 64 px takes ~1-3 s


@pytest.fixture(autouse=True)
def _global_rng_untouched():
    """Loading a model initialises a network from torch's global RNG before its weights are
    read; later test files must see the state they would without these."""
    with torch.random.fork_rng(devices=[]):
        yield


def make_client(**settings: Any) -> TestClient:
    options = {"device": "cpu", "precision": "float32", **settings}
    return TestClient(create_app(ServerSettings(**options)), base_url="http://localhost",
                      raise_server_exceptions=False)


@pytest.fixture
def clip(tmp_path: Path) -> Path:
    """12 frames of a pan, 96x64 at 25 frames a second (0.48 s), with an AAC tone."""
    path = tmp_path / "my holiday.mp4"
    write_clip(path, pan(12))
    return path


def send(client: TestClient, clip: Path, name: str | None = None, **fields: Any):
    data = {"size": "64", **{k: str(v) for k, v in fields.items()}}
    return client.post("/v1/videos", data=data,
                       files={"file": (name or clip.name, clip.read_bytes())})


def poll(client: TestClient, video_id: str, until: Any) -> dict[str, Any]:
    deadline = time.monotonic() + WAIT
    while True:
        status = client.get(f"/v1/videos/{video_id}").json()
        if until(status):
            return status
        assert time.monotonic() < deadline, status
        time.sleep(0.03)


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
    """Every file the server holds for clips."""
    return [p for p in client.app.state.videos.folder.rglob("*") if p.is_file()]


@pytest.fixture
def held(monkeypatch):
    """``stylize_clip`` (the real one) held after its second frame until ``release`` is set
    or it is asked to stop, so that a test sees a job running, whatever the machine's speed.
    ``calls`` counts the clips painting began on."""
    real = brushwork.video.stylize_clip
    state = {"release": threading.Event(), "calls": 0}

    def holding(*args: Any, on_frame: Any, should_stop: Any, **options: Any):
        state["calls"] += 1

        def hold(progress: Any) -> None:
            on_frame(progress)
            deadline = time.monotonic() + WAIT
            while (progress.done == 2 and not state["release"].is_set() and not should_stop()
                   and time.monotonic() < deadline):
                time.sleep(0.01)

        return real(*args, on_frame=hold, should_stop=should_stop, **options)

    monkeypatch.setattr(brushwork.video, "stylize_clip", holding)
    return state


def test_a_clip_is_painted_with_progress_and_its_sound(painting_styles, clip, tmp_path, held):
    with make_client() as client:
        assert client.get("/v1/health").json()["video"]["available"] is True
        response = send(client, clip, steady="true")
        assert response.status_code == 202, response.text
        first = response.json()
        assert first["clip"] == "my-holiday" and first["style"] == "tiny-style"
        assert first["input"] == {"width": 96, "height": 64, "seconds": pytest.approx(0.48),
                                  "frames": 12, "audio_streams": 1}
        assert first["result"] is None
        running = poll(client, first["id"], lambda s: s["frames_done"] == 2)
        assert running["state"] == "running" and running["stage"] == "painting"
        assert running["frames_total"] == 12 and running["progress"] == pytest.approx(2 / 12,
                                                                                      abs=1e-3)
        assert running["fps"] > 0 and running["seconds_left"] > 0
        assert client.get("/v1/health").json()["video"]["active"] == first["id"]
        # one at a time: a second clip is refused while this one runs, and nothing is kept
        before = files_in(client)
        second = send(client, clip)
        assert_json_error(second, 409, "already being painted", f"DELETE /v1/videos/{first['id']}")
        assert second.headers["retry-after"]
        assert files_in(client) == before
        assert_json_error(client.get(f"/v1/videos/{first['id']}/result"), 409, "poll")
        held["release"].set()
        done = poll(client, first["id"], ended)
        assert done["state"] == "finished", done
        assert done["frames_done"] == done["frames_total"] == 12 and done["progress"] == 1
        assert (done["width"], done["height"]) == (64, 42) and done["seconds_left"] is None
        assert done["result"] == f"/v1/videos/{first['id']}/result"
        assert done["filename"] == "my-holiday-tiny-style.mp4"

        answer = client.get(done["result"])
        assert answer.status_code == 200
        assert answer.headers["content-type"] == "video/mp4"
        assert answer.headers["content-disposition"].startswith("inline")
        painted = tmp_path / "painted.mp4"
        painted.write_bytes(answer.content)
        assert packets(painted, "audio") == packets(clip, "audio")  # byte for byte
        frames, duration, _ = timing(painted)
        assert frames == 12 and duration == pytest.approx(timing(clip)[1], abs=0.04)
        download = client.get(done["result"], params={"download": "true"})
        assert download.headers["content-disposition"].startswith("attachment")
        assert "my-holiday-tiny-style.mp4" in download.headers["content-disposition"]
        part = client.get(done["result"], headers={"Range": "bytes=0-99"})  # <video> seeks
        assert part.status_code == 206 and part.content == answer.content[:100]
        # the upload is gone, the painted clip kept until the job is forgotten
        assert [p.name for p in files_in(client)] == ["my-holiday-tiny-style.mp4"]
        assert client.get("/v1/health").json()["video"]["active"] is None
    assert held["calls"] == 1


def test_a_cancel_stops_the_clip_and_keeps_nothing(painting_styles, clip, held):
    with make_client() as client:
        job = send(client, clip, steady="false", strength="0.5").json()
        poll(client, job["id"], lambda s: s["frames_done"] == 2)
        response = client.delete(f"/v1/videos/{job['id']}")
        assert response.status_code == 202, response.text
        status = poll(client, job["id"], ended)
        assert status["state"] == "cancelled" and status["error"] == "cancelled after 2 frames"
        assert status["result"] is None
        assert files_in(client) == []  # no upload, no painted clip, no temporary file
        assert_json_error(client.get(f"/v1/videos/{job['id']}/result"), 409, "cancelled")
        assert_json_error(client.delete(f"/v1/videos/{job['id']}"), 409, "already ended")
        assert_json_error(client.get("/v1/videos/nope"), 404, "no video")
        held["release"].set()
        again = send(client, clip)  # the slot is free again
        assert again.status_code == 202, again.text
        assert poll(client, again.json()["id"], ended)["state"] == "finished"


def never_painted(*args: Any, **options: Any):
    raise AssertionError("a clip over the limits reached the painting")


@pytest.mark.parametrize(("limits", "fields", "status", "fragments"), [
    ({"video_max_upload": 4000}, {}, 413, ("4 KiB", "--video-max-upload")),
    ({"video_max_seconds": 0.3}, {}, 413, ("0.5 s long", "limit of 0.3 s",
                                           "--video-max-seconds")),
    ({"video_max_seconds": 10, "video_max_fps": 1}, {}, 413, ("12 frames", "limit of 10")),
    ({"video_max_pixels": 96 * 63}, {}, 413, ("96x64", "--video-max-pixels")),
    ({"video_max_size": 48}, {}, 422, ("size 64", "limit of 48")),
    ({}, {"style": "no-such-style"}, 422, ("unknown style",)),
    ({"video": False}, {}, 403, ("does not paint clips",)),
])
def test_clips_over_the_limits_are_refused_before_painting(
        painting_styles, clip, monkeypatch, limits, fields, status, fragments):
    monkeypatch.setattr(brushwork.video, "stylize_clip", never_painted)
    with make_client(**limits) as client:
        assert_json_error(send(client, clip, **fields), status, *fragments)
        assert files_in(client) == []
        assert client.get("/v1/health").json()["video"]["active"] is None


def test_a_corrupt_or_truncated_clip_says_so_and_leaves_nothing(painting_styles, clip,
                                                                 tmp_path):
    indexed = tmp_path / "indexed.mp4"
    write_clip(indexed, pan(12), faststart=True)  # the index first: it opens, then ends
    data = clip.read_bytes()
    with make_client() as client:
        folder = str(client.app.state.videos.folder)
        for name, content, status, fragment in [
            ("garbage.mp4", bytes(range(256)) * 20, 415, "cannot read garbage as a clip"),
            ("cut.mp4", data[: len(data) // 2], 415, "cannot read cut as a clip"),
            ("photo.jpg", (Path(__file__).parent.parent / "docs" / "samples" /
                           "giraffe.jpg").read_bytes(), 415, "photo"),
            ("empty.mp4", b"", 422, "empty"),
        ]:
            path = tmp_path / name
            path.write_bytes(content)
            detail = assert_json_error(send(client, path), status, fragment)
            assert folder not in detail and "/input" not in detail, detail
            assert files_in(client) == []
        cut = tmp_path / "cut-short.mp4"
        cut.write_bytes(indexed.read_bytes()[: indexed.stat().st_size * 2 // 3])
        response = send(client, cut)
        assert response.status_code == 202, response.text  # its header is whole
        status = poll(client, response.json()["id"], ended)
        assert status["state"] == "failed" and "truncated" in status["error"], status
        assert "cut-short" in status["error"] and folder not in status["error"]
        assert files_in(client) == []


def test_serve_can_refuse_clips_or_change_their_limits(builtin_styles, monkeypatch, clip):
    import uvicorn

    from brushwork.cli import main

    seen: dict[str, Any] = {}
    monkeypatch.setattr(uvicorn, "run", lambda app, **kw: seen.update(app=app, **kw))
    assert main(["serve", "--device", "cpu", "--video-max-upload", "200MB",
                 "--video-max-seconds", "0.2", "--video-max-pixels", "1M"]) == 0
    with TestClient(seen["app"], base_url="http://localhost") as client:
        video = client.get("/v1/health").json()["video"]
        assert video["available"] is True
        assert video["limits"] == {"max_upload_bytes": 200 * 1024**2, "max_seconds": 0.2,
                                   "max_frames": 12, "max_pixels": 1_000_000,
                                   "max_size": 1920}
        assert_json_error(send(client, clip), 413, "--video-max-seconds")
    assert main(["serve", "--device", "cpu", "--no-video"]) == 0
    with TestClient(seen["app"], base_url="http://localhost") as client:
        assert client.get("/v1/health").json()["video"]["available"] is False
        assert_json_error(send(client, clip), 403, "does not paint clips")


def test_a_server_that_stops_stops_its_clip_and_deletes_its_files(painting_styles, clip,
                                                                  held):
    with make_client() as client:
        job = send(client, clip).json()
        poll(client, job["id"], lambda s: s["frames_done"] == 2)
        painter = client.app.state.videos
        folder = painter.folder
        assert files_in(client)
    # the lifespan's end asked the job to stop (held until then) and waited for it
    status = painter.job(job["id"])
    assert status.state == "cancelled" and status.error == "the server is shutting down"
    assert not folder.exists()


def test_the_frame_limit_holds_while_painting_too(painting_styles, clip, tmp_path):
    """A header can understate its frames: ``stylize_clip`` stops at the server's frame limit
    whatever the header said, and leaves no file."""
    from brushwork.api import load_model
    from brushwork.errors import BrushworkError

    model = load_model(painting_styles / "tiny-style.safetensors", device="cpu",
                       precision="float32")
    out = tmp_path / "out"
    out.mkdir()
    with pytest.raises(BrushworkError, match="more than 5 frames"):
        brushwork.video.stylize_clip(model, clip, out / "painted.mp4", 64, max_frames=5)
    assert list(out.iterdir()) == []


def test_only_the_last_ended_clips_are_kept(painting_styles, clip):
    with make_client(keep_videos=1) as client:
        first = send(client, clip, steady="false").json()
        assert poll(client, first["id"], ended)["state"] == "finished"
        folder = client.app.state.videos.job(first["id"]).folder
        second = send(client, clip, steady="false").json()
        assert poll(client, second["id"], ended)["state"] == "finished"
        assert_json_error(client.get(f"/v1/videos/{first['id']}"), 404, "last 1")
        assert not folder.exists()
        assert client.get(f"/v1/videos/{second['id']}/result").status_code == 200
        assert len(files_in(client)) == 1
