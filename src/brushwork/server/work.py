"""What the server computes, and in which order: styles, cached models, a bounded job queue.

One worker thread runs everything that uses the network (jobs and style thumbnails), one
task at a time: on a CPU a second concurrent forward pass only halves the speed of both, and on
a GPU it doubles the memory. A request waits in a bounded queue instead; when the queue is
full the server says so at once (HTTP 503 with Retry-After) rather than letting requests pile
up. Thumbnails go
to the front of the queue, since a page is waiting on them and they take a fraction of a
second.

Models are loaded once per style and kept (a small LRU cache), because reading and building the
network costs more than painting a small photo. Uploaded model files live in a temporary
folder owned by the server, named by their SHA-256, so uploading the same file twice gives
the same style id.
"""

from __future__ import annotations

import collections
import concurrent.futures
import hashlib
import itertools
import secrets
import shutil
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from PIL import Image

from .. import api, mixing
from ..api import DEFAULT_STYLE, PREVIEW_SIZE, Stylizer
from ..errors import BrushworkError, quoted
from ..images import MIME_TYPES, encode_image, load_image, output_format_named

STATIC_DIR = Path(__file__).parent / "static"
#: The photo every style's thumbnail paints (the README's giraffe, CC0, 384 px).
THUMBNAIL_PHOTO = STATIC_DIR / "sample.jpg"
#: Long side of a generated thumbnail (ours: 2x the page's 120-px cards, for sharp screens).
THUMBNAIL_SIZE = 256
#: Long side of the "before" picture for the comparison slider (ours: a screen's worth).
ORIGINAL_MAX_SIDE = 2048


class QueueFull(BrushworkError):
    """Too many jobs are waiting; the client should retry later (HTTP 503, Retry-After)."""


class UnknownStyle(BrushworkError):
    """No built-in style, --model file or upload has this id."""


class OutOfMemory(BrushworkError):
    """The device ran out of memory: the server's limit, not the client's fault (HTTP 503)."""


class UnknownJob(BrushworkError):
    """No job has this id (never made, or forgotten after ``keep_jobs`` newer ones)."""


@dataclass(frozen=True)
class ServerSettings:
    """Everything ``brushwork serve`` can set; the command line reads its defaults here."""

    models: list[Path] = field(default_factory=list)
    max_size: int = 4096
    max_upload: int = 64 * 1024**2
    queue: int = 8
    device: str = "auto"
    precision: str = "auto"
    max_memory: int | None = None
    #: Largest photo accepted, width x height (None: ``images.default_max_pixels()``, i.e.
    #: $BRUSHWORK_MAX_PIXELS or Pillow's default); checked from the header, before decoding.
    max_pixels: int | None = None
    #: Seconds a request may take, queueing included; then 503 (ours: a 4096-px painting
    #: behind a full queue on a 2-core CPU fits, a stuck client does not hold a slot forever).
    request_timeout: float = 300.0
    #: Photos decoded at once (ours): decoding a 64 MB upload can take ~1 GB for a moment, so
    #: a burst of uploads waits its turn here instead of multiplying that.
    decoders: int = 2
    #: Finished jobs whose results stay in memory (ours: a session's worth; a 4096-px PNG is
    #: ~30 MB, so this bounds the server's memory at a few hundred MB).
    keep_jobs: int = 16
    #: Uploaded models kept; the oldest is forgotten first.
    max_uploads: int = 8
    #: Models kept loaded at once; the least recently used is dropped first.
    cached_models: int = 4
    #: The address the server is bound to: a request's Host must name it (or, for a loopback
    #: address, localhost), so that a web page cannot reach it by DNS rebinding (``guard``).
    host: str = "127.0.0.1"
    #: More names to answer to (--allowed-host): a proxy's public name; "*" turns the Host
    #: check off. Pages from these names may also write (upload, paint).
    allowed_hosts: tuple[str, ...] = ()
    #: Seconds a client may take to send a request head (ours: a browser sends it in one
    #: packet; 10 s is room for a slow link, and a stalled client is cut off; ``connections``).
    header_timeout: float = 10.0
    #: Seconds a request body may stall without a byte (ours: a mobile upload that pauses for
    #: this long has failed; a slow but steady one is never cut off).
    idle_timeout: float = 30.0
    #: Whether users may train a style on their own painting (POST /v1/trainings; ours: on,
    #: as everything else here; a shared server that should only paint turns it off).
    training: bool = True
    #: A training's time budget in minutes (None: the library's, ``TrainConfig.minutes``,
    #: 25: the recipe's at most 375 iterations take 6-9 minutes on a 2-core AVX-512 BF16 CPU
    #: and ~11 on AVX2 (docs/styles/own-painting.md), so the budget only cuts a much slower
    #: machine's run short, which still ends with a model; 0: no budget).
    train_minutes: float | None = None
    #: ``TrainConfig`` fields laid over the recipe's (empty: the recipe as ``brushwork
    #: train`` runs it; tests give tiny crops and a few iterations).
    train_overrides: dict[str, Any] = field(default_factory=dict)
    #: The quality report after a training (ours: on, as ``brushwork train`` does; 3 photos
    #: painted at 1024 px and scored, 30-40 s on a 2-core CPU, ~90 s with the peer
    #: installed on a busy one; tests turn it off).
    train_report: bool = True
    #: Ended trainings remembered (their model files and report sheets kept on disk); the
    #: oldest is forgotten and its files deleted first (ours: a session's worth, ~8 MB each).
    keep_trainings: int = 4
    #: Whether clips may be painted (POST /v1/videos; ours: on, as training is; needs the
    #: video extra, and the page hides its video section without it).
    video: bool = True
    #: Largest clip upload, bytes, refused from Content-Length before it is read (ours: 50
    #: MB: 30 s of a phone's 1080p H.264 at ~12 Mbit/s is ~45 MB). Not bounded by
    #: ``max_upload``, which is for photos and models.
    video_max_upload: int = 50 * 1024**2
    #: Longest clip, seconds, read from its header before any frame is painted (ours: 30 s:
    #: at 720 px a 2-core CPU paints ~4 frames a second, so a 30-fps clip takes ~4 minutes).
    video_max_seconds: float = 30.0
    #: Frames allowed per second of that limit: a clip may have at most ``video_max_seconds``
    #: x this many frames (ours: 60, phones' fast mode; slow motion at 120-240 frames a
    #: second costs 2-4x the work its duration says). Enforced while painting too, since a
    #: header can understate its frames.
    video_max_fps: float = 60.0
    #: Largest clip frame, width x height, from the header and again for every frame (ours:
    #: 1080p, 1920 x 1080 either way up).
    video_max_pixels: int = 1920 * 1080
    #: Largest painted long side of a clip (ours: 1920, a 1080p frame's; at most
    #: ``max_size``).
    video_max_size: int = 1920
    #: Ended clip jobs remembered, their painted clips kept on disk; the oldest is forgotten
    #: and its file deleted first (ours: 4; a painted clip is about its input's size).
    keep_videos: int = 4

    @property
    def video_max_frames(self) -> int:
        return max(1, int(self.video_max_seconds * self.video_max_fps))


@dataclass
class Style:
    """A style the server offers: a built-in one, a --model file or an upload."""

    id: str
    kind: str  # "builtin" | "file" | "upload" | "mix"
    source: str | Path  # what api.load_model takes
    card: dict[str, Any]
    #: A mix's parts: (source, share) pairs for ``api.load_mix``; empty for one style.
    parts: list[tuple[str | Path, float]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "kind": self.kind, **self.card,
                "thumbnail": f"/v1/styles/{self.id}/thumbnail"}


class Styles:
    """The styles on offer. Built-in ones are read from ``api`` on every call, so a style
    installed while the server runs (or a test's stand-in) is seen."""

    def __init__(self, files: list[Path], upload_dir: Path, max_uploads: int) -> None:
        self.upload_dir = upload_dir
        self.max_uploads = max_uploads
        self._lock = threading.Lock()
        self._files: dict[str, Style] = {}
        self._uploads: collections.OrderedDict[str, Style] = collections.OrderedDict()
        for path in files:
            if not path.is_file():
                raise BrushworkError(f"model file not found: {path}")
            key = path.stem
            for n in itertools.count(2):
                if key not in self._files and key not in api.available_styles():
                    break
                key = f"{path.stem}-{n}"
            self._files[key] = Style(key, "file", path.resolve(),
                                     {"title": path.stem, "source": str(path)})

    def all(self) -> list[Style]:
        builtins = [Style(n, "builtin", n, api.style_card(n)) for n in api.available_styles()]
        for style in builtins:
            style.card.setdefault("title", style.id)
        with self._lock:
            return [*builtins, *self._files.values(), *reversed(self._uploads.values())]

    def default(self) -> str | None:
        """The style a request without one gets: the library's default, else the first."""
        ids = [s.id for s in self.all()]
        if DEFAULT_STYLE in ids:
            return DEFAULT_STYLE
        return ids[0] if ids else None

    def get(self, style_id: str) -> Style:
        """A style on offer, or a mix of them (``a:0.6,b:0.4``, ``brushwork.mixing``) whose
        parts are all on offer: a mix never names a file, only styles already offered."""
        for style in self.all():
            if style.id == style_id:
                return style
        if "," in style_id or ":" in style_id:
            try:
                parts = mixing.normalise([(self.get(name).id, weight) for name, weight
                                          in mixing.split_mix(style_id)], style_id)
            except BrushworkError as error:
                raise UnknownStyle(str(error)) from None
            members = {s.id: s for s in self.all()}
            if len(parts) == 1:
                return members[str(parts[0].source)]
            label = mixing.mix_label(parts, [str(part.source) for part in parts])
            sources = [(members[str(part.source)].source, part.weight) for part in parts]
            return Style(label, "mix", label, {"title": label, "mix": [
                {"style": str(part.source), "weight": part.weight} for part in parts]},
                sources)
        known = ", ".join(s.id for s in self.all()) or "none: upload a model file"
        raise UnknownStyle(f"unknown style {quoted(style_id)}; available: {known}")

    def stage_upload(self, data: bytes, filename: str) -> Style:
        """Store an uploaded model file, not yet offered: it is listed (``list_upload``)
        only once it has loaded, so a file that is refused never appears in /v1/styles."""
        digest = hashlib.sha256(data).hexdigest()[:16]
        style_id = f"upload-{digest}"
        with self._lock:
            if style_id in self._uploads:
                return self._uploads[style_id]
        path = self.upload_dir / f"{style_id}.safetensors"
        path.write_bytes(data)
        name = Path(filename).name[:80]
        title = Path(name).stem or style_id
        return Style(style_id, "upload", path, {"title": title, "source": name})

    def list_upload(self, style: Style) -> list[str]:
        """Offer a staged upload (newest first); returns the ids it pushed out."""
        dropped = []
        with self._lock:
            self._uploads[style.id] = style
            self._uploads.move_to_end(style.id)
            while len(self._uploads) > self.max_uploads:
                old_id, old = self._uploads.popitem(last=False)
                Path(old.source).unlink(missing_ok=True)
                dropped.append(old_id)
        return dropped

    def discard_upload(self, style: Style) -> None:
        """Delete a staged upload that did not load (a listed one is left alone)."""
        with self._lock:
            if style.id not in self._uploads:
                Path(style.source).unlink(missing_ok=True)


class ModelCache:
    """One ``Stylizer`` per style id, loaded on first use (``loads`` counts the loads)."""

    def __init__(self, settings: ServerSettings) -> None:
        self.settings = settings
        self.loads = 0
        self._lock = threading.Lock()
        self._models: collections.OrderedDict[str, Stylizer] = collections.OrderedDict()

    def get(self, style: Style) -> Stylizer:
        with self._lock:
            if style.id in self._models:
                self._models.move_to_end(style.id)
                return self._models[style.id]
            if style.parts:
                model = api.load_mix(style.parts, device=self.settings.device,
                                     precision=self.settings.precision)
            else:
                model = api.load_model(style.source, device=self.settings.device,
                                       precision=self.settings.precision)
            self.loads += 1
            self._models[style.id] = model
            while len(self._models) > self.settings.cached_models:
                self._models.popitem(last=False)
            return model

    def drop(self, style_id: str) -> None:
        with self._lock:
            self._models.pop(style_id, None)

    def loaded(self) -> list[str]:
        with self._lock:
            return list(self._models)


@dataclass
class Request:
    """What a client asked for; validated by the HTTP layer before a job is made."""

    style: str
    size: int = 1024
    preserve_color: bool = False
    strength: float = 1.0
    format: str = "jpg"
    quality: int = 95
    keep_exif: bool = False
    preview: bool = False  # compute the 256-px first level first, for the page

    @property
    def pil_format(self) -> str:
        return output_format_named(self.format)[0]

    @property
    def media_type(self) -> str:
        return MIME_TYPES[self.pil_format]


@dataclass
class Job:
    """One photo to paint, and what has come of it so far."""

    request: Request
    photo: Image.Image | None
    name: str  # the photo's file name without its suffix, for the download's name
    #: Frames in the photo: an animation (GIF, WebP) has its first frame painted, and says so
    frames: int = 1
    id: str = field(default_factory=lambda: secrets.token_urlsafe(9))
    state: str = "queued"  # queued | running | done | error
    stage: str = "queued"  # queued | loading | preview | painting | encoding | done | error
    levels_done: int = 0
    levels_total: int = 0
    preview_png: bytes | None = None
    result: bytes | None = None
    original_jpeg: bytes | None = None
    width: int = 0
    height: int = 0
    seconds: float = 0.0
    device: str = ""
    error: str | None = None
    error_status: int = 500
    created: float = field(default_factory=time.time)
    future: concurrent.futures.Future = field(default_factory=concurrent.futures.Future)

    @property
    def filename(self) -> str:
        suffix = output_format_named(self.request.format)[1]
        return f"{self.name}-{self.request.style}{suffix}"

    @property
    def progress(self) -> float:
        """A rough fraction done, for a progress bar: the levels dominate the time."""
        if self.state == "done":
            return 1.0
        base = {"queued": 0.0, "loading": 0.05, "preview": 0.1}.get(self.stage)
        if base is not None:
            return base
        if self.stage == "encoding":
            return 0.95
        share = self.levels_done / self.levels_total if self.levels_total else 0.0
        return round(0.2 + 0.75 * share, 3)

    def to_dict(self, position: int | None) -> dict[str, Any]:
        url = f"/v1/jobs/{self.id}"
        return {
            "id": self.id, "state": self.state, "stage": self.stage, "position": position,
            "progress": self.progress, "levels_done": self.levels_done,
            "levels_total": self.levels_total, "style": self.request.style,
            "size": self.request.size, "preserve_color": self.request.preserve_color,
            "strength": self.request.strength, "format": self.request.format,
            "preview": f"{url}/preview" if self.preview_png else None,
            "result": f"{url}/result" if self.result else None,
            "original": f"{url}/original" if self.original_jpeg else None,
            "filename": self.filename, "width": self.width or None,
            "height": self.height or None, "seconds": round(self.seconds, 3) or None,
            "device": self.device or None, "error": self.error, "frames": self.frames,
        }


class Worker:
    """The one thread that runs the network, fed by a bounded queue of jobs."""

    def __init__(self, settings: ServerSettings) -> None:
        self.settings = settings
        self._temporary = tempfile.TemporaryDirectory(prefix="brushwork-uploads-")
        self.styles = Styles(settings.models, Path(self._temporary.name), settings.max_uploads)
        self.models = ModelCache(settings)
        self.jobs: collections.OrderedDict[str, Job] = collections.OrderedDict()
        self._thumbnails: dict[str, bytes] = {}
        self._tasks: collections.deque[tuple[Callable[[], Any], concurrent.futures.Future,
                                             Job | None]] = collections.deque()
        self._waiting_jobs = 0
        self._running: Job | None = None
        self._wake = threading.Condition()
        self._stopping = False
        self._thread = threading.Thread(target=self._run, name="brushwork-worker", daemon=True)
        for style in self.styles.all():
            if style.kind == "file":  # a bad --model file is an error before serving starts
                self.models.get(style)
        self._thread.start()

    # ------------------------------------------------------------------------- queueing

    def _put(self, task: Callable[[], Any], job: Job | None, urgent: bool
             ) -> concurrent.futures.Future:
        future = job.future if job is not None else concurrent.futures.Future()
        with self._wake:
            if self._stopping:
                raise QueueFull("the server is shutting down")
            if job is not None:
                if self._waiting_jobs >= self.settings.queue:
                    raise QueueFull(f"{self._waiting_jobs} photos are already waiting (the "
                                    "limit): try again in a moment")
                self._waiting_jobs += 1
                self._remember(job)
            if urgent:
                self._tasks.appendleft((task, future, job))
            else:
                self._tasks.append((task, future, job))
            self._wake.notify()
        return future

    def _remember(self, job: Job) -> None:
        self.jobs[job.id] = job
        finished = [j for j in self.jobs.values() if j.state in ("done", "error")]
        for old in finished[: max(0, len(finished) - self.settings.keep_jobs)]:
            del self.jobs[old.id]

    def _run(self) -> None:
        while True:
            with self._wake:
                while not self._tasks and not self._stopping:
                    self._wake.wait()
                if self._stopping and not self._tasks:
                    return
                task, future, job = self._tasks.popleft()
                if job is not None:
                    self._waiting_jobs -= 1
                    self._running = job
            if future.set_running_or_notify_cancel():
                try:
                    future.set_result(task())
                except BaseException as error:  # handed to whoever awaits the future
                    future.set_exception(error)
            elif job is not None:  # its request gave up (timed out) while it waited
                job.state = job.stage = "error"
                job.error, job.photo = "cancelled: the request timed out before it ran", None
            with self._wake:
                self._running = None

    def position(self, job: Job) -> int | None:
        """Jobs ahead of ``job`` in the queue (0: next), or None when it is not waiting."""
        with self._wake:
            waiting = [j for _, _, j in self._tasks if j is not None]
            return waiting.index(job) if job in waiting else None

    def has_room(self) -> bool:
        """Whether a job could be queued now: checked before a photo is decoded, so that a
        full queue costs a client no more than its upload."""
        with self._wake:
            return not self._stopping and self._waiting_jobs < self.settings.queue

    def status(self) -> dict[str, Any]:
        with self._wake:
            return {"waiting": self._waiting_jobs, "capacity": self.settings.queue,
                    "running": self._running is not None}

    def close(self) -> None:
        with self._wake:
            self._stopping = True
            for _, future, job in self._tasks:
                if job is not None:
                    job.state, job.stage, job.error = "error", "error", "server shutting down"
                future.cancel()
            self._tasks.clear()
            self._wake.notify_all()
        self._thread.join(timeout=60)
        shutil.rmtree(self._temporary.name, ignore_errors=True)
        self._temporary.cleanup()

    # ------------------------------------------------------------------------ the work

    def submit(self, job: Job) -> concurrent.futures.Future:
        """Queue ``job``; raises ``QueueFull`` when ``settings.queue`` jobs are waiting."""
        self.styles.get(job.request.style)  # unknown style: an error now, not in the queue
        return self._put(lambda: self._paint(job), job, urgent=False)

    def job(self, job_id: str) -> Job:
        job = self.jobs.get(job_id)
        if job is None:
            raise UnknownJob(f"no job {quoted(job_id)} (finished jobs are kept for the last "
                             f"{self.settings.keep_jobs})")
        return job

    def _paint(self, job: Job) -> Job:
        request, photo = job.request, job.photo
        assert photo is not None
        job.state, job.stage = "running", "loading"
        try:
            model = self.models.get(self.styles.get(request.style))
            job.device = str(model.device)
            began = time.perf_counter()
            if request.preview and request.size > PREVIEW_SIZE:
                job.stage = "preview"
                quick = model.preview(photo, PREVIEW_SIZE, preserve_color=request.preserve_color,
                                      strength=request.strength)
                job.preview_png = encode_image(quick, "PNG")
            job.stage = "painting"

            def on_level(done: int, total: int) -> None:
                job.levels_done, job.levels_total = done, total

            painting = model.stylize(
                photo, request.size, self.settings.max_memory,
                preserve_color=request.preserve_color, strength=request.strength,
                on_level=on_level,
            )
            job.stage = "encoding"
            exif = photo.info.get("exif") if request.keep_exif else None
            job.result = encode_image(painting, request.pil_format, request.quality, exif)
            job.width, job.height = painting.size
            if request.preview:
                before = photo.resize(painting.size, Image.Resampling.BILINEAR)
                before.thumbnail((ORIGINAL_MAX_SIDE, ORIGINAL_MAX_SIDE))
                job.original_jpeg = encode_image(before, "JPEG", 90)
            job.seconds = time.perf_counter() - began
            job.state = job.stage = "done"
        except BrushworkError as error:
            job.state = job.stage = "error"
            job.error, job.error_status = str(error), 422
            raise
        except Exception as error:
            if isinstance(error, MemoryError) or "memory" in str(error).lower():
                job.state = job.stage = "error"
                job.error, job.error_status = ("not enough memory for this size right now: "
                                               "ask for a smaller size"), 503
                raise OutOfMemory(job.error) from error
            job.state = job.stage = "error"
            job.error = f"internal error: {type(error).__name__}: {error}"
            raise
        finally:
            job.photo = None  # the decoded photo is the biggest thing a job holds
        return job

    def thumbnail(self, style_id: str) -> concurrent.futures.Future:
        """The style's thumbnail (PNG/JPEG bytes, media type): shipped, cached or painted."""
        style = self.styles.get(style_id)
        future: concurrent.futures.Future = concurrent.futures.Future()
        if style.kind == "builtin":
            for suffix, media in ((".jpg", "image/jpeg"), (".png", "image/png")):
                shipped = api.STYLES_DIR / f"{style.id}.thumbnail{suffix}"
                if shipped.is_file():
                    future.set_result((shipped.read_bytes(), media))
                    return future
        cached = self._thumbnails.get(style.id)
        if cached is not None:
            future.set_result((cached, "image/jpeg"))
            return future

        def paint() -> tuple[bytes, str]:
            if style.id not in self._thumbnails:
                model = self.models.get(style)
                painting = model.stylize(load_image(THUMBNAIL_PHOTO), THUMBNAIL_SIZE)
                self._thumbnails[style.id] = encode_image(painting, "JPEG", 88)
            return self._thumbnails[style.id], "image/jpeg"

        return self._put(paint, None, urgent=True)

    def add_model(self, data: bytes, filename: str) -> concurrent.futures.Future:
        """Store and load an uploaded model file (in the worker, like every load); it is
        offered as a style only if it loads."""

        def load() -> tuple[Style, Stylizer]:
            style = self.styles.stage_upload(data, filename)
            try:
                model = self.models.get(style)
            except BrushworkError as error:
                self.styles.discard_upload(style)
                raise BrushworkError(
                    f"{quoted(filename or 'the upload')}: not a model Brushwork can use "
                    f"({str(error).replace(str(style.source), 'file')})") from None
            except BaseException:  # a bug: answered 500, but the file is not offered either
                self.styles.discard_upload(style)
                raise
            for old in self.styles.list_upload(style):
                self.models.drop(old)
                self._thumbnails.pop(old, None)
            return style, model

        return self._put(load, None, urgent=True)
