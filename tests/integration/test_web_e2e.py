"""The web page in a real browser: headless Chromium driven by Playwright.

A user's path through the page: pick a photo, pick a style, set a size, paint, wait, see the
painting at the requested size, download it. The server is the real one (uvicorn on a
loopback port, the worker, the model cache), with the tiny model as the built-in style (its
output layers re-randomised so that it paints: ``conftest.paints``), and the painting the
page downloads must be the one the Python API paints with that model.

Screenshots at desktop and phone widths are taken and checked in a temporary folder; the
tests never write into the work tree. To regenerate the committed ones in
``docs/screenshots/``, name the folder (this is the only way they are written)::

    BRUSHWORK_SCREENSHOTS=docs/screenshots .venv/bin/python -m pytest \
        tests/integration/test_web_e2e.py \
        -k "download or phone"

Chromium is Debian's (``/usr/bin/chromium``, or ``BRUSHWORK_CHROMIUM``), never a browser that
Playwright downloads; ``.ci/run`` installs it where it can. Without it these tests are skipped
with a message saying how to install it.
"""

from __future__ import annotations

import base64
import io
import json
import os
import shutil
import socket
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from PIL import Image

pytest.importorskip("fastapi", reason="the server extra is not installed (pip install -e "
                                      "'.[dev]')")
sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed "
                                                             "(pip install -e '.[dev]')")
import uvicorn  # noqa: E402

import brushwork.api  # noqa: E402
import brushwork.recipe  # noqa: E402
from brushwork.api import load_model  # noqa: E402
from brushwork.images import encode_image  # noqa: E402
from brushwork.model_files import read_model_file  # noqa: E402
from brushwork.server import ServerSettings, create_app  # noqa: E402

GIRAFFE = Path(__file__).resolve().parents[2] / "docs" / "samples" / "giraffe.jpg"
#: The flags every headless Chromium here needs: no sandbox as root, no GPU, and none of the
#: background connections that a machine without internet would refuse.
CHROMIUM_FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic",
]
#: Chromium's own guard against public pages reaching loopback, off (a test of the server's).
NO_PRIVATE_NETWORK_ACCESS = (
    "--disable-features=BlockInsecurePrivateNetworkRequests,PrivateNetworkAccessSendPreflights,"
    "PrivateNetworkAccessRespectPreflightResults,LocalNetworkAccessChecks",)
DESKTOP = {"width": 1280, "height": 860}
PHONE = {"width": 390, "height": 844}
TIMEOUT_MS = 90_000  # a busy 2-core machine; the tiny model itself takes well under a second


@pytest.fixture(autouse=True)
def _global_rng_untouched():
    """Loading a model initialises a network from torch's global RNG before its weights are
    read; restore the RNG so that later test files see the state they would without these."""
    with torch.random.fork_rng(devices=[]):
        yield


def chromium_path() -> str:
    candidates = [os.environ.get("BRUSHWORK_CHROMIUM"), "/usr/bin/chromium",
                  shutil.which("chromium"), shutil.which("chromium-browser")]
    for candidate in candidates:
        if candidate and Path(candidate).is_file():
            return candidate
    pytest.skip("Chromium is not installed: apt-get install chromium (Debian; .ci/run does "
                "it when run as root) or set BRUSHWORK_CHROMIUM to a Chromium binary")



def serve(settings: ServerSettings) -> Iterator[str]:
    """The app under uvicorn on a free loopback port, in a thread; yields its base URL."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(create_app(settings), log_level="warning"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=30)
        sock.close()


@pytest.fixture
def server(painting_styles) -> Iterator[str]:
    yield from serve(ServerSettings(device="cpu", precision="float32"))


@pytest.fixture
def screenshots(tmp_path: Path) -> Path:
    """Where screenshots go: ``BRUSHWORK_SCREENSHOTS`` when set (to regenerate the committed
    ones: see the module docstring), else a fresh temporary folder."""
    chosen = os.environ.get("BRUSHWORK_SCREENSHOTS")
    folder = Path(chosen) if chosen else tmp_path / "screenshots"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def take_screenshot(page, path: Path, viewport: dict) -> None:
    """A full-page screenshot at ``path``, checked: a PNG as wide as the viewport, freshly
    written (never an older file left in the folder)."""
    path.unlink(missing_ok=True)
    page.screenshot(path=str(path), full_page=True)
    with Image.open(io.BytesIO(path.read_bytes())) as shot:
        assert shot.format == "PNG"
        assert shot.width == viewport["width"] and shot.height >= viewport["height"] // 2
        assert np.asarray(shot.convert("L"), dtype=float).std() > 5  # not a blank page


@pytest.fixture
def browser(tmp_path: Path):
    """A function that opens a fresh Chromium (new profile) with a viewport and any further
    command-line flags; closes them all."""
    executable = chromium_path()
    contexts = []
    with sync_api.sync_playwright() as playwright:
        def open_page(viewport: dict, flags: tuple[str, ...] = ()) -> sync_api.Page:
            profile = tmp_path / f"profile-{len(contexts)}"
            context = playwright.chromium.launch_persistent_context(
                str(profile), executable_path=executable, headless=True,
                args=[*CHROMIUM_FLAGS, *flags],
                viewport=viewport, accept_downloads=True, timeout=TIMEOUT_MS)
            contexts.append(context)
            context.set_default_timeout(TIMEOUT_MS)
            page = context.new_page()
            page.on("pageerror", lambda error: pytest.fail(f"error in the page: {error}"))
            return page

        yield open_page
        for context in contexts:
            context.close()


def open_app(page, base: str) -> None:
    page.goto(base + "/")
    page.wait_for_selector("body[data-ready=true]")
    assert not page.is_visible("#error"), page.inner_text("#error")


def paint(page, photo: Path, style: str, size: int, *, strength: int | None = None,
          preserve_color: bool = False) -> None:
    page.set_input_files("#photo-input", str(photo))
    page.click(f'.style-card[data-style="{style}"]')
    assert page.get_attribute(f'.style-card[data-style="{style}"]', "aria-checked") == "true"
    page.select_option("#size", str(size))
    if strength is not None:
        page.fill("#strength", str(strength))
    if preserve_color:
        page.check("#preserve-color")
    page.click("#paint")
    page.wait_for_selector("#download:not([hidden])")
    assert not page.is_visible("#error"), page.inner_text("#error")


def shown_painting(page) -> tuple[int, int, str]:
    """(natural width, natural height, src) of the painting the page shows."""
    width, height, src = page.eval_on_selector(
        "#after", "e => [e.naturalWidth, e.naturalHeight, e.getAttribute('src')]")
    return width, height, src


def download(page, folder: Path) -> Image.Image:
    with page.expect_download() as event:
        page.click("#download")
    path = folder / event.value.suggested_filename
    event.value.save_as(path)
    image = Image.open(path)
    image.load()
    return image


def assert_painted_by_the_model(painting: Image.Image, photo: Path, model: Path) -> None:
    """The painting is the model's, as the Python API paints the same photo at the same size,
    and not the photo. The download is a JPEG (quality 95): the API's painting is compared
    after the same encoding, since a painting this busy loses ~16/255 to JPEG alone."""
    with Image.open(photo) as original:
        original = original.convert("RGB")
        painted = load_model(model, device="cpu", precision="float32").stylize(
            original, max(painting.size))
        expected = Image.open(io.BytesIO(encode_image(painted, "JPEG", 95)))
        resized = original.resize(painting.size, Image.Resampling.BILINEAR)
    pixels = np.asarray(painting.convert("RGB"), dtype=float)
    from_model = np.abs(pixels - np.asarray(expected, dtype=float)).mean()
    from_photo = np.abs(pixels - np.asarray(resized, dtype=float)).mean()
    assert expected.size == painting.size
    assert from_model < 1, from_model
    assert from_photo > 10, from_photo


def test_paint_a_photo_in_the_browser_and_download_it(server, browser, tmp_path, screenshots,
                                                      painting_styles):
    page = browser(DESKTOP)
    open_app(page, server)
    assert page.inner_text('.style-card[data-style="tiny-style"] .title') == "Tiny Style"
    # the default style is chosen, and its thumbnail (painted by the server) is shown
    card = '.style-card[data-style="tiny-style"]'
    assert page.get_attribute(card, "aria-checked") == "true"
    page.wait_for_function(f"document.querySelector('{card} img').naturalWidth === 256")
    assert page.is_disabled("#paint")  # until a photo is chosen
    paint(page, GIRAFFE, "tiny-style", 512)

    width, height, src = shown_painting(page)
    assert (width, height) == (512, 342)  # the giraffe is 1024x683: 3:2
    assert src.startswith("/v1/jobs/") and src.endswith("/result")
    assert page.inner_text("#label-after") == "Painting"
    assert page.is_visible("#slider")  # before/after comparison
    assert "512 \u00d7 342 px" in page.inner_text("#result-info")  # a multiplication sign
    href = page.get_attribute("#download", "href")
    assert href == f"{src}?download=true"

    painting = download(page, tmp_path)
    assert painting.format == "JPEG"
    assert painting.size == (512, 342)
    assert_painted_by_the_model(painting, GIRAFFE, painting_styles / "tiny-style.safetensors")
    take_screenshot(page, screenshots / "web-desktop.png", DESKTOP)


def test_the_page_on_a_phone_with_colour_and_strength(server, browser, tmp_path, screenshots):
    page = browser(PHONE)
    open_app(page, server)
    # A style with a long name (the two-artwork one's "The Great Wave off Kanagawa + The
    # Garden at Bougival") widened the mix list past the phone's width, and the page then
    # overflowed sideways and its style cards could not be tapped.
    page.evaluate("""() => { const o = document.createElement('option');
        o.textContent = 'The Great Wave off Kanagawa + The Garden at Bougival (Hokusai + Morisot)';
        document.querySelector('#mix-style').append(o); }""")
    overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0, f"the page is {overflow} px wider than the phone"
    paint(page, GIRAFFE, "tiny-style", 768, strength=60, preserve_color=True)
    width, height, _ = shown_painting(page)
    assert (width, height) == (768, 512)
    painting = download(page, tmp_path)
    assert painting.size == (768, 512)
    # 60% strength with the photo's colours: closer to the photo than a full painting
    with Image.open(GIRAFFE) as original:
        photo = np.asarray(original.convert("RGB").resize((768, 512), Image.Resampling.BILINEAR)
                           .convert("YCbCr"), dtype=float)
    ycc = np.asarray(painting.convert("YCbCr"), dtype=float)
    assert np.median(np.abs(ycc[..., 1:] - photo[..., 1:])) < 4  # the chroma is the photo's
    page.evaluate("window.scrollTo(0, 0)")
    take_screenshot(page, screenshots / "web-phone.png", PHONE)


def test_with_only_an_uploaded_model(tmp_path, browser, tiny_model_file, monkeypatch,
                                     sample_photo):
    empty = tmp_path / "no-styles"
    empty.mkdir()
    monkeypatch.setattr(brushwork.api, "STYLES_DIR", empty)
    for base in serve(ServerSettings(device="cpu", precision="float32")):
        page = browser(DESKTOP)
        open_app(page, base)
        assert page.is_visible("#no-styles")
        page.set_input_files("#photo-input", str(sample_photo))
        assert page.is_disabled("#paint")  # no style yet
        page.set_input_files("#model-input", str(tiny_model_file))
        card = page.wait_for_selector('.style-card[aria-checked="true"]')
        assert card.inner_text().startswith("tiny")
        assert not page.is_visible("#no-styles")
        page.select_option("#size", "512")
        page.click("#paint")
        page.wait_for_selector("#download:not([hidden])")
        assert shown_painting(page)[:2] == (512, 341)  # the sample photo is 300x200
        assert download(page, tmp_path).size == (512, 341)


def test_a_bad_photo_shows_the_servers_message(server, browser, tmp_path):
    page = browser(DESKTOP)
    open_app(page, server)
    bad = tmp_path / "notes.jpg"
    bad.write_text("not a photo")
    page.set_input_files("#photo-input", str(bad))
    page.click("#paint")
    page.wait_for_selector("#error:not([hidden])")
    assert "not an image" in page.inner_text("#error")
    assert not page.is_disabled("#paint")  # the user can try again
    assert page.is_hidden("#download")


def test_the_api_docs_load_offline(server, browser):
    """/docs works offline, as the page promises: every request the documentation makes is to
    this server (it used to load Swagger UI from a CDN)."""
    page = browser(DESKTOP)
    requests: list[str] = []
    page.on("request", lambda request: requests.append(request.url))
    page.goto(server + "/docs")
    page.wait_for_selector(".opblock")  # Swagger UI has rendered the operations
    assert page.locator(".opblock").count() >= 10
    elsewhere = [u for u in requests if not u.startswith((server, "data:", "blob:"))]
    assert not elsewhere, elsewhere


def test_a_page_from_another_site_cannot_use_the_server(server, browser, tmp_path,
                                                        tiny_model_file):
    """A page on another site must not upload models (and push the user's own out) nor make
    the machine paint. A page served as http://evil.example (Playwright answers for
    that name; nothing leaves the machine) posts to the server as such a page would: the
    request reaches the server and is refused with 403, and nothing is stored.

    Chromium itself blocks a public page's requests to loopback (Private Network Access);
    Firefox and Safari do not, and neither did Chromium before 2024. The check must not rely
    on it, so it is switched off here: this is the browser of a user who has no such guard.
    """
    page = browser(DESKTOP, NO_PRIVATE_NETWORK_ACCESS)
    model = base64.b64encode(tiny_model_file.read_bytes()).decode()
    evil = f"""<!doctype html><script>
      const bytes = Uint8Array.from(atob("{model}"), c => c.charCodeAt(0));
      const form = new FormData();
      form.append("file", new Blob([bytes]), "mine.safetensors");
      fetch("{server}/v1/models", {{method: "POST", body: form, mode: "no-cors"}})
        .finally(() => document.body.dataset.done = "yes");
    </script><body></body>"""
    page.route("http://evil.example/", lambda route: route.fulfill(
        body=evil, content_type="text/html"))
    statuses: list[int] = []
    page.on("response", lambda response: statuses.append(response.status)
            if response.url.endswith("/v1/models") else None)
    page.goto("http://evil.example/")
    page.wait_for_selector("body[data-done=yes]", state="attached")
    page.wait_for_timeout(200)
    assert statuses == [403], statuses  # it reached the server, which refused it
    with urllib.request.urlopen(server + "/v1/styles", timeout=10) as answer:
        listed = [s["id"] for s in json.load(answer)["styles"]]
    assert listed == ["tiny-style"]


@pytest.fixture
def own_painting(tmp_path: Path) -> Path:
    """A user's painting: a built-in style's artwork, made small."""
    path = tmp_path / "my harbour.jpg"
    with Image.open(brushwork.api.STYLES_DIR / "great-wave.artwork.jpg") as art:
        art.convert("RGB").resize((160, 108)).save(path, quality=92)
    return path


def test_train_a_style_on_your_own_painting_then_paint_with_it(browser, tmp_path, screenshots,
                                                               own_painting, monkeypatch):
    """Training from the page: choose a painting, train, watch the progress and the preview,
    cancel; train again, and the new style is chosen, downloadable, and paints the photo as its
    file does.

    The real recipe at 32-px crops for 3 iterations and the real built-in styles (it starts
    from the nearest one). The first run is held at its first preview until it is asked to
    stop, so that the cancel is always clicked while it runs, however fast the machine."""
    real = brushwork.recipe.train_own_style
    runs: list[Path] = []

    def held_first(painting: Path, output: Path, **options: Any) -> Path:
        runs.append(Path(painting))
        if len(runs) > 1:
            return real(painting, output, **options)
        report, should_stop = options["callback"], options["should_stop"]

        def callback(event: Any) -> None:
            report(event)
            deadline = time.monotonic() + TIMEOUT_MS / 1000
            while event.kind == "preview" and not should_stop() and time.monotonic() < deadline:
                time.sleep(0.05)

        return real(painting, output, **{**options, "callback": callback})

    monkeypatch.setattr(brushwork.recipe, "train_own_style", held_first)
    small = {"iterations": 3, "crop_size": 32, "photo_size": 32, "mixed_precision": False,
             "preview_every": 1}
    for base in serve(ServerSettings(device="cpu", precision="float32", train_minutes=0,
                                     train_overrides=small, train_report=False)):
        page = browser(DESKTOP)
        open_app(page, base)
        cards = page.locator(".style-card").count()
        assert page.is_disabled("#train")  # until a painting is chosen
        page.set_input_files("#painting-input", str(own_painting))
        assert page.inner_text("#painting-label").startswith("my harbour.jpg")
        page.click("#train")
        page.wait_for_function(
            "document.querySelector('#train-text').textContent.startsWith('Iteration 1 of 3')")
        assert "left" in page.inner_text("#train-text")  # a time-left estimate
        assert page.get_attribute("#train-progress", "aria-valuenow") == "33"
        page.wait_for_function("document.querySelector('#train-preview').naturalWidth > 0")
        assert page.is_disabled("#train")  # one at a time
        page.click("#train-cancel")
        page.wait_for_function("document.querySelector('#train-text').textContent"
                               ".startsWith('Cancelled at iteration')")
        assert page.is_hidden("#train-cancel") and page.is_hidden("#train-links")
        assert page.locator(".style-card").count() == cards  # no style from a cancelled run
        assert not page.is_visible("#train-error")

        page.click("#train")  # the same painting again, to the end this time
        page.wait_for_selector("#train-links:not([hidden])")
        assert page.inner_text("#train-text").startswith("Your style “my-harbour” is ready")
        assert page.is_hidden("#train-report")  # the report is off here
        chosen = page.wait_for_selector('.style-card[aria-checked="true"]')
        assert chosen.get_attribute("data-style").startswith("upload-")
        assert chosen.inner_text().startswith("my-harbour")
        assert page.locator(".style-card").count() == cards + 1
        with page.expect_download() as event:
            page.click("#train-model")
        model = tmp_path / event.value.suggested_filename
        event.value.save_as(model)
        assert model.name == "my-harbour.safetensors"
        assert read_model_file(model)[1]["record"]["recipe"].startswith("the zoo's recipe")

        page.set_input_files("#photo-input", str(GIRAFFE))
        page.select_option("#size", "512")
        page.click("#paint")
        page.wait_for_selector("#download:not([hidden])")
        assert not page.is_visible("#error"), page.inner_text("#error")
        assert_painted_by_the_model(download(page, tmp_path), GIRAFFE, model)
        take_screenshot(page, screenshots / "web-own-painting.png", DESKTOP)
    assert len(runs) == 2


def test_paint_a_clip_and_play_it_in_the_page(server, browser, tmp_path, screenshots,
                                             monkeypatch):
    """Choose a clip, paint it with the style above: the progress says the frame, the rate
    and the time left, a second clip cannot start meanwhile; then the painted clip is the
    <video>'s source, plays (where this Chromium decodes H.264) and downloads with its sound.
    The painting is held after its second frame until the page has shown that progress, so
    that it is seen however fast the machine."""
    pytest.importorskip("av", reason="needs the video extra: pip install 'brushwork[video]'")
    pytest.importorskip("cv2", reason="needs the video extra: pip install 'brushwork[video]'")
    import brushwork.video
    from tests.helpers import packets, pan, write_clip

    real = brushwork.video.stylize_clip
    release = threading.Event()

    def held(*args: Any, on_frame: Any, **options: Any):
        def hold(progress: Any) -> None:
            on_frame(progress)
            if progress.done == 2:
                release.wait(TIMEOUT_MS / 1000)

        return real(*args, on_frame=hold, **options)

    monkeypatch.setattr(brushwork.video, "stylize_clip", held)
    source = tmp_path / "my clip.mp4"
    write_clip(source, pan(8))  # 96x64, 0.32 s, with an AAC tone
    page = browser(DESKTOP)
    open_app(page, server)
    assert page.is_visible("#video") and page.is_disabled("#video-paint")
    assert page.input_value("#video-size") == "720"
    page.set_input_files("#clip-input", str(source))
    assert page.inner_text("#clip-label").startswith("my clip.mp4")
    page.select_option("#video-size", "360")
    page.click("#video-paint")
    page.wait_for_function("document.querySelector('#video-text').textContent"
                           ".startsWith('Frame 2 of 8')")
    assert "left" in page.inner_text("#video-text") and "frames/s" in page.inner_text(
        "#video-text")
    assert page.get_attribute("#video-progress", "aria-valuenow") == "25"
    assert page.is_disabled("#video-paint") and page.is_visible("#video-cancel")
    release.set()
    page.wait_for_selector("#video-links:not([hidden])")
    assert not page.is_visible("#video-error"), page.inner_text("#video-error")
    assert page.inner_text("#video-text").startswith("Painted 8 frames at 360 \u00d7 240 px")
    src = page.get_attribute("#video-result", "src")
    assert src.startswith("/v1/videos/") and src.endswith("/result")
    assert page.is_hidden("#video-cancel") and not page.is_disabled("#video-paint")
    plays = page.evaluate("document.createElement('video').canPlayType("
                          "'video/mp4; codecs=\"avc1.64001E, mp4a.40.2\"')")
    if plays:  # Debian's Chromium decodes H.264; a build without it still gets the link
        page.wait_for_function("document.querySelector('#video-result').readyState >= 1")
        assert page.evaluate("[document.querySelector('#video-result').videoWidth, "
                             "document.querySelector('#video-result').videoHeight]") == [360, 240]
    with page.expect_download() as event:
        page.click("#video-download")
    painted = tmp_path / event.value.suggested_filename
    event.value.save_as(painted)
    assert painted.name == "my-clip-tiny-style.mp4"
    assert packets(painted, "audio") == packets(source, "audio")
    take_screenshot(page, screenshots / "web-video.png", DESKTOP)
