"""What the server computes, and in which order: a bounded queue of photos for one worker thread.

One worker thread runs everything that uses the network (jobs, style thumbnails and loading
uploaded models), one task at a time: on a CPU a second concurrent forward pass only halves the
speed of both, and on a GPU it doubles the memory. A request waits in a bounded queue instead;
when the queue is full the server says so at once (HTTP 503 with Retry-After) rather than
letting requests pile up. Thumbnails go to the front of the queue, since a page is waiting on
them and they take a fraction of a second. The styles and their loaded models are ``styles``'s.
"""

from __future__ import annotations

import collections
import concurrent.futures
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

from .. import api
from ..api import PREVIEW_SIZE, Stylizer
from ..errors import BrushworkError, quoted
from ..images import MIME_TYPES, encode_image, load_image, output_format_named
from .settings import ServerSettings
from .styles import ModelCache, Style, Styles

STATIC_DIR = Path(__file__).parent / "static"
#: The photo every style's thumbnail paints (the README's giraffe, CC0, 384 px).
THUMBNAIL_PHOTO = STATIC_DIR / "sample.jpg"
#: Long side of a generated thumbnail (ours: 2x the page's 120-px cards, for sharp screens).
THUMBNAIL_SIZE = 256
#: Long side of the "before" picture for the comparison slider (ours: a screen's worth).
ORIGINAL_MAX_SIDE = 2048


class QueueFull(BrushworkError):
    """Too many jobs are waiting; the client should retry later (HTTP 503, Retry-After)."""


class OutOfMemory(BrushworkError):
    """The device ran out of memory: the server's limit, not the client's fault (HTTP 503)."""


class UnknownJob(BrushworkError):
    """No job has this id (never made, or forgotten after ``keep_jobs`` newer ones)."""


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
