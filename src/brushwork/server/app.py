"""The HTTP API and the web page: ``create_app(settings)`` builds the FastAPI application.

Endpoints (OpenAPI at ``/openapi.json``; Swagger UI at ``/docs``, served from the copy in the
``fastapi-offline`` package, so it works without a network; FastAPI's ReDoc page is off, as
ReDoc fetches its logo from a CDN even from a local copy):

* ``GET /v1/health``: status, version, device, queue, limits.
* ``GET /v1/styles``: the styles on offer (built-in, ``--model`` files, uploads) with their
  cards; ``GET /v1/styles/{id}/thumbnail``: the style painted on a sample photo.
* ``POST /v1/models``: upload a model file (.safetensors made by ``brushwork train``); it is
  offered as a style from then on.
* ``POST /v1/stylize``: multipart photo + parameters; answers with the painting itself and
  its metadata in ``X-Brushwork-*`` headers. The simple, synchronous call for scripts.
* ``POST /v1/jobs`` and ``GET /v1/jobs/{id}[/preview|/result|/original]``: the same work as a
  job that reports its progress, with a 256-px preview from the first level before the full
  result. The web page uses these.
* ``POST /v1/trainings``: multipart painting; trains a style on it (``trainer``: the recipe
  of ``brushwork train``, one training at a time, in its own thread), answers 202 at once.
  ``GET /v1/trainings/{id}``: state, iteration, time left, messages, and when it has
  finished the new style's id (already offered in /v1/styles); ``/preview`` (the latest
  preview strip, JPEG), ``/model`` (the .safetensors file), ``/report`` (the quality
  report's sheet). ``DELETE /v1/trainings/{id}`` cancels it within one iteration.
* ``POST /v1/videos``, ``GET``/``DELETE /v1/videos/{id}``, ``/result``: a clip painted as
  ``brushwork stylize clip.mp4`` paints it, one at a time, with its progress, a cancel and
  the painted clip to play or download (``video_routes``, ``video_jobs``).

Every error is JSON, ``{"detail": "a message a person can act on"}``, with a 4xx status for
anything the client can fix: 413 for a body or image over the limits, 415 for a file that is
not an image, 422 for a bad parameter or an unknown style, 404 for an unknown job or style
path, 409 for a result asked for before it exists or a second training while one runs.
503 with ``Retry-After`` means "busy, try again": the queue is full, the request took longer
than ``--timeout``, or the server is shutting down. Any other 5xx is a bug.

Limits of our own, none of which Starlette or uvicorn sets: the request body (``--max-upload``,
``BodyLimit``), the photo's pixels (``--max-pixels``, read from its header before decoding),
the photos decoded at once (``ServerSettings.decoders``), the jobs waiting (``--queue``) and
the time a request may take (``--timeout``, ``RequestTimeout``); stalled connections are cut
off by ``connections`` (``--header-timeout``, ``--idle-timeout``).

Other web pages are kept out (issue 18, ``guard``): a request whose Host is not this
server's, or a write from another site's page, gets 403. Messages quote what a client sent
cut short (``errors.quoted``), and the cheap fields (size, style) are checked before a photo
is decoded.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import weakref
from collections.abc import Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Annotated, Any, Literal

from fastapi import Depends, FastAPI, File, Form, HTTPException, Query, Request, UploadFile
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from .. import __version__
from ..api import PREVIEW_SIZE
from ..devices import resolve_device
from ..errors import BrushworkError
from ..images import (
    ImageTooLarge,
    check_max_pixels,
    default_max_pixels,
    heif_available,
    read_image,
    readable_formats_text,
)
from ..levels import MAX_SIZE
from ..tiling import format_memory
from .guard import NO_FRAMING, HostPolicy, LocalGuard
from .settings import ServerSettings
from .styles import UnknownStyle
from .trainer import (
    Trainer,
    TrainingBusy,
    TrainingJob,
    TrainingOff,
    UnknownTraining,
    check_overrides,
)
from .video_jobs import VideoPainter
from .video_routes import VIDEOS_PATH, video_router
from .work import STATIC_DIR, Job, OutOfMemory, QueueFull, UnknownJob, Worker
from .work import Request as JobRequest

#: Seconds a client told "queue full" should wait before trying again (ours).
RETRY_AFTER = 5
_SAFE_NAME = re.compile(r"[^A-Za-z0-9._-]+")
#: Longest error message answered (ours): every message quotes client input cut short
#: (``errors.quoted``); this is the backstop for a message that quotes something else long.
MAX_DETAIL = 1000
#: Where the offline API documentation's assets are served.
DOCS_ASSETS = "/docs-assets"


def _error(status: int, message: str, headers: dict[str, str] | None = None,
           **extra: Any) -> JSONResponse:
    if len(message) > MAX_DETAIL:
        message = message[: MAX_DETAIL - 1] + "…"
    return JSONResponse({"detail": message, **extra}, status_code=status, headers=headers)


def _clipped(value: Any) -> Any:
    """A validation error's details with every string cut short: pydantic puts the whole
    input in them (a 1,000,000-character field came back whole, issue 18)."""
    if isinstance(value, str):
        return value if len(value) <= 80 else value[:79] + "…"
    if isinstance(value, dict):
        return {k: _clipped(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clipped(v) for v in value]
    if isinstance(value, (int, float, bool)) or value is None:
        return value
    return _clipped(str(value))


def _docs_assets() -> Path:
    """The Swagger UI files that ``fastapi-offline`` ships (the server extra): MIT, Swagger UI
    5 under Apache-2.0; only its files are used, not its app factory."""
    try:
        import fastapi_offline
    except ImportError as error:
        raise BrushworkError("brushwork serve needs fastapi-offline for its offline API "
                             "documentation: pip install 'brushwork[server]'") from error
    return Path(fastapi_offline.__file__).parent / "static"


class BodyLimit:
    """ASGI middleware: a request body over ``limit`` bytes gets 413, however it is sent.

    A declared Content-Length over the limit is refused before anything is read; a chunked
    body is counted as it arrives and cut off at the limit. Whatever the application made of
    the cut-off body is replaced by the 413 (FastAPI would otherwise call it a parse error).
    ``paths`` give some paths a limit of their own, with the flag that sets it (clips are
    bigger than photos, and bounded separately).
    """

    def __init__(self, app: Callable[..., Awaitable[None]], limit: int,
                 paths: dict[str, tuple[int, str]] | None = None) -> None:
        self.app, self.limit, self.paths = app, limit, paths or {}

    @staticmethod
    def _refusal(limit: int, flag: str) -> JSONResponse:
        return _error(413, f"request body is over this server's limit of "
                           f"{format_memory(limit)} (brushwork serve {flag})")

    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit, flag = self.paths.get(scope.get("path", ""), (self.limit, "--max-upload"))
        declared = dict(scope.get("headers", ())).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            await self._refusal(limit, flag)(scope, receive, send)
            return
        received, exceeded = 0, False

        async def counted() -> dict:
            nonlocal received, exceeded
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    exceeded = True
                    raise _BodyTooLarge
            return message

        async def guarded(message: dict) -> None:
            if not exceeded:
                await send(message)

        try:
            await self.app(scope, counted, guarded)
        except Exception:
            if not exceeded:
                raise
        if exceeded:
            await self._refusal(limit, flag)(scope, receive, send)


class _BodyTooLarge(Exception):
    pass


class RequestTimeout:
    """ASGI middleware: a request that has not started its answer within ``seconds`` gets a
    503 JSON answer with Retry-After, and its handler is cancelled.

    Cancelling the handler cancels a job still waiting in the queue (the worker skips it); a
    painting already running cannot be interrupted, so it finishes and is dropped. An answer
    already started is never cut off: a slow download is the client's, not the server's.
    """

    def __init__(self, app: Callable[..., Awaitable[None]], seconds: float) -> None:
        self.app, self.seconds = app, seconds

    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def watched(message: dict) -> None:
            nonlocal started
            started = True
            await send(message)

        task = asyncio.ensure_future(self.app(scope, receive, watched))
        done, _ = await asyncio.wait({task}, timeout=self.seconds)
        if task in done or started:
            await task
            return
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        if not started:
            await _error(503, f"the request took longer than this server's limit of "
                              f"{self.seconds:g} s (brushwork serve --timeout): try again "
                              "later or ask for a smaller size",
                         {"Retry-After": str(RETRY_AFTER)})(scope, receive, send)


# ---------------------------------------------------------------------------- parameters


def _safe_stem(filename: str | None) -> str:
    stem = _SAFE_NAME.sub("-", Path(filename or "photo").stem).strip("-.")[:60]
    return stem or "photo"


async def _read_photo(file: UploadFile, max_pixels: int, decoders: asyncio.Semaphore,
                      what: str = "photo") -> Any:
    """Decode an uploaded image (``what``: "photo" or "painting", for the messages); its
    pixels are checked from the header first (413), anything unreadable is 415."""
    data = await file.read()
    name = _SAFE_NAME.sub("-", Path(file.filename or "upload").name)[:80] or "upload"
    if not data:
        raise HTTPException(422, f"{name}: the file is empty; send a {what} in the 'file' field")
    try:
        async with decoders:
            return await run_in_threadpool(read_image, data, name, max_pixels)
    except ImageTooLarge as error:
        raise HTTPException(413, f"{error} (this server's limit: brushwork serve "
                            "--max-pixels)") from None
    except BrushworkError as error:
        message = str(error)
        if "it reads" not in message:
            message += f" (send a {readable_formats_text()} {what})"
        raise HTTPException(415, message) from None


class StylizeForm:
    """The multipart fields of ``POST /v1/stylize`` and ``POST /v1/jobs``."""

    def __init__(
        self,
        file: Annotated[UploadFile, File(description="the photo (JPEG, PNG, WebP, TIFF, BMP, "
                                                     "HEIC with brushwork[heif], AVIF)")],
        style: Annotated[str | None, Form(description="a style id from GET /v1/styles "
                                                      "(default: the default style)")] = None,
        model: Annotated[UploadFile | None, File(description="a model file to use instead "
                                                             "of a style (as POST /v1/models)"
                                                 )] = None,
        size: Annotated[int, Form(ge=1,
                                  description="long side of the output in pixels")] = 1024,
        preserve_color: Annotated[bool, Form(description="keep the photo's colours "
                                                         "(luminance-only transfer)")] = False,
        strength: Annotated[float, Form(ge=0.0, le=1.0, description="1: the full painting, "
                                                                    "0: the photo")] = 1.0,
        format: Annotated[Literal["jpg", "jpeg", "png", "webp"],
                          Form(description="output format")] = "jpg",
        quality: Annotated[int, Form(ge=1, le=100, description="JPEG/WebP quality")] = 95,
        keep_exif: Annotated[bool, Form(description="copy the photo's EXIF to the "
                                                    "output")] = False,
    ) -> None:
        self.file, self.model = file, model
        self.request = JobRequest(style=style or "", size=size, preserve_color=preserve_color,
                                  strength=strength, format=format, quality=quality,
                                  keep_exif=keep_exif)


# ------------------------------------------------------------------------------ the app


def create_app(settings: ServerSettings | None = None) -> FastAPI:
    """The web page and HTTP API over one worker (see ``work``); models load on first use.

    Raises ``BrushworkError`` for settings that cannot work (a missing --model file, CUDA
    without a GPU) so that ``brushwork serve`` fails before it takes the port.
    """
    settings = settings or ServerSettings()
    if not 1 <= settings.max_size <= MAX_SIZE:
        raise BrushworkError(f"--max-size must be from 1 to {MAX_SIZE}, not {settings.max_size}")
    for flag, seconds in (("--timeout", settings.request_timeout),
                          ("--header-timeout", settings.header_timeout),
                          ("--idle-timeout", settings.idle_timeout)):
        if not seconds > 0:
            raise BrushworkError(f"{flag} must be positive, not {seconds}")
    if settings.train_minutes is not None and not settings.train_minutes >= 0:
        raise BrushworkError(f"the training budget must be >= 0 minutes, not "
                             f"{settings.train_minutes}")
    check_overrides(settings.train_overrides)
    docs_assets = _docs_assets()
    max_pixels = (default_max_pixels() if settings.max_pixels is None
                  else check_max_pixels(settings.max_pixels))
    device = resolve_device(settings.device)
    worker = Worker(settings)
    trainer = Trainer(settings, worker)
    videos = VideoPainter(settings)
    # One semaphore per event loop: an asyncio primitive belongs to the loop that first
    # waits on it, and a test may drive one app from several loops in turn.
    semaphores: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Semaphore] = (
        weakref.WeakKeyDictionary())

    def decoders() -> asyncio.Semaphore:
        loop = asyncio.get_running_loop()
        if loop not in semaphores:
            semaphores[loop] = asyncio.Semaphore(max(1, settings.decoders))
        return semaphores[loop]

    @asynccontextmanager
    async def lifespan(_: FastAPI):
        yield
        await run_in_threadpool(trainer.close)  # first: a finishing run offers its style
        await run_in_threadpool(videos.close)
        await run_in_threadpool(worker.close)

    app = FastAPI(
        title="Brushwork", version=__version__, lifespan=lifespan,
        description="Fast artistic style transfer (MT-Net, Wang et al., CVPR 2017): paint "
                    "photos in a built-in or uploaded style. Errors are JSON: "
                    '{"detail": message}.',
        docs_url=None, redoc_url=None,  # FastAPI's load from a CDN; /docs is below
    )
    app.state.worker = worker
    app.state.trainer = trainer
    app.state.videos = videos
    app.add_middleware(BodyLimit, limit=settings.max_upload, paths={
        VIDEOS_PATH: (settings.video_max_upload, "--video-max-upload")})
    app.add_middleware(RequestTimeout, seconds=settings.request_timeout)
    app.add_middleware(LocalGuard, policy=HostPolicy.for_bind(  # the outermost: first
        settings.host, settings.allowed_hosts))

    # ------------------------------------------------------------------------- errors

    @app.exception_handler(RequestValidationError)
    async def invalid(_: Request, error: RequestValidationError) -> JSONResponse:
        problems = []
        for item in error.errors():
            where = ".".join(str(part) for part in item.get("loc", ()) if part != "body")
            problems.append(f"{where[:40]}: {str(item.get('msg', 'invalid'))[:200]}")
        return _error(422, "; ".join(problems) or "invalid request",
                      errors=_clipped(json.loads(json.dumps(error.errors(), default=str))))

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_: Request, error: StarletteHTTPException) -> JSONResponse:
        return _error(error.status_code, str(error.detail), getattr(error, "headers", None))

    @app.exception_handler(Exception)
    async def unexpected(_: Request, error: Exception) -> JSONResponse:
        return _error(500, f"internal error: {type(error).__name__}: {str(error)[:300]} "
                           "(please report it)")

    # ----------------------------------------------------------------------- helpers

    async def wait(future: Any) -> Any:
        return await asyncio.wrap_future(future)

    async def queue(job: Job) -> None:
        try:
            worker.submit(job)
        except UnknownStyle as error:
            raise HTTPException(422, str(error)) from None
        except QueueFull as error:
            raise busy(error) from None

    def busy(error: BrushworkError) -> HTTPException:
        return HTTPException(503, str(error), {"Retry-After": str(RETRY_AFTER)})

    async def upload_model(file: UploadFile) -> dict[str, Any]:
        data = await file.read()
        if not data:
            raise HTTPException(422, "the model file is empty")
        try:
            style, model = await wait(worker.add_model(data, file.filename or "model"))
        except QueueFull as error:
            raise busy(error) from None
        except BrushworkError as error:
            raise HTTPException(422, str(error)) from None
        return {**style.to_dict(), "architecture": model.metadata.get("architecture"),
                "parameters": model.parameter_count}

    async def job_from(form: StylizeForm, preview: bool) -> Job:
        request = form.request
        if request.size > settings.max_size:
            raise HTTPException(422, f"size {request.size} is over this server's limit of "
                                f"{settings.max_size} px (brushwork serve --max-size)")
        if form.model is not None and form.model.filename:
            request.style = (await upload_model(form.model))["id"]
        if not request.style:
            default = worker.styles.default()
            if default is None:
                raise HTTPException(422, "no style is installed: upload a model file (POST "
                                    "/v1/models, or the 'model' field)")
            request.style = default
        try:  # the cheap checks first: an unknown style costs no decoding
            worker.styles.get(request.style)
        except UnknownStyle as error:
            raise HTTPException(422, str(error)) from None
        request.preview = preview
        if not worker.has_room():  # say so before the photo is decoded, not after
            raise busy(QueueFull(f"{settings.queue} photos are already waiting (the limit): "
                                 "try again in a moment"))
        photo = await _read_photo(form.file, max_pixels, decoders())
        return Job(request=request, photo=photo, name=_safe_stem(form.file.filename),
                   frames=photo.info.get("frames", 1))

    def image_response(job: Job, download: bool = False) -> Response:
        if job.state == "error":
            raise HTTPException(409, f"the job failed: {job.error}")
        if job.result is None:
            raise HTTPException(409, f"the job is not finished yet ({job.stage}); poll "
                                f"/v1/jobs/{job.id}")
        r = job.request
        disposition = "attachment" if download else "inline"
        extra = {"X-Brushwork-Frames": str(job.frames)} if job.frames > 1 else {}
        return Response(job.result, media_type=r.media_type, headers={**extra,
            "Content-Disposition": f'{disposition}; filename="{job.filename}"',
            "X-Brushwork-Style": r.style, "X-Brushwork-Width": str(job.width),
            "X-Brushwork-Height": str(job.height),
            "X-Brushwork-Seconds": f"{job.seconds:.3f}", "X-Brushwork-Device": job.device,
            "X-Brushwork-Preserve-Color": str(r.preserve_color).lower(),
            "X-Brushwork-Strength": f"{r.strength:g}", "X-Brushwork-Version": __version__,
            "Cache-Control": "no-store",
        })

    def find_job(job_id: str) -> Job:
        try:
            return worker.job(job_id)
        except UnknownJob as error:
            raise HTTPException(404, str(error)) from None

    image_responses: dict[int | str, dict[str, Any]] = {
        200: {"content": {"image/jpeg": {}, "image/png": {}, "image/webp": {}},
              "description": "The painting. Headers: X-Brushwork-Style, -Width, -Height, "
                             "-Seconds, -Device, -Preserve-Color, -Strength, -Version."},
        413: {"description": "body or image over the limits"},
        415: {"description": "not an image"},
        422: {"description": "a bad parameter or an unknown style"},
        503: {"description": "busy (the queue is full, the request timed out, or the server "
                             "is shutting down): retry after Retry-After seconds"},
    }

    # ------------------------------------------------------------------------ routes

    @app.get("/v1/health", tags=["service"])
    async def health() -> dict[str, Any]:
        """Liveness and what this server allows: for monitors and for the web page."""
        return {
            "status": "ok", "version": __version__, "device": str(device),
            "queue": worker.status(), "models_loaded": worker.models.loaded(),
            "heif": heif_available(),
            "training": {"available": settings.training, "active": trainer.active(),
                         "report": settings.train_report},
            "video": {"available": videos.available, "active": videos.active(),
                      "limits": {"max_upload_bytes": settings.video_max_upload,
                                 "max_seconds": settings.video_max_seconds,
                                 "max_frames": settings.video_max_frames,
                                 "max_pixels": settings.video_max_pixels,
                                 "max_size": min(settings.video_max_size,
                                                 settings.max_size)}},
            "limits": {"max_size": settings.max_size, "max_upload_bytes": settings.max_upload,
                       "max_pixels": max_pixels, "preview_size": PREVIEW_SIZE,
                       "queue": settings.queue, "timeout_seconds": settings.request_timeout},
        }

    @app.get("/v1/styles", tags=["styles"])
    async def styles() -> dict[str, Any]:
        """Built-in styles, --model files and uploaded models, with their cards."""
        return {"default": worker.styles.default(),
                "styles": [s.to_dict() for s in worker.styles.all()]}

    @app.get("/v1/styles/{style_id}/thumbnail", tags=["styles"],
             responses={200: {"content": {"image/jpeg": {}}}, 404: {}})
    async def thumbnail(style_id: str) -> Response:
        """The style painted on a sample photo (made once, then cached)."""
        try:
            data, media = await wait(worker.thumbnail(style_id))
        except UnknownStyle as error:
            raise HTTPException(404, str(error)) from None
        except QueueFull as error:
            raise busy(error) from None
        return Response(data, media_type=media, headers={"Cache-Control": "max-age=3600"})

    @app.post("/v1/models", status_code=201, tags=["styles"])
    async def add_model(
        file: Annotated[UploadFile, File(description="a .safetensors model file")],
    ) -> dict[str, Any]:
        """Upload a model made by ``brushwork train``; it becomes a style (id in the answer).

        Files are checked as ``brushwork info`` checks them and never unpickled.
        """
        return await upload_model(file)

    @app.post("/v1/stylize", tags=["stylize"], response_class=Response,
              responses=image_responses)
    async def stylize(form: Annotated[StylizeForm, Depends()]) -> Response:
        """Paint one photo and answer with the image (waits in the queue if need be)."""
        job = await job_from(form, preview=False)
        await queue(job)
        try:
            await wait(job.future)
        except OutOfMemory as error:
            raise HTTPException(503, str(error), {"Retry-After": str(RETRY_AFTER)}) from None
        except BrushworkError as error:
            raise HTTPException(422, str(error)) from None
        return image_response(job)

    @app.post("/v1/jobs", status_code=202, tags=["jobs"])
    async def create_job(form: Annotated[StylizeForm, Depends()]) -> dict[str, Any]:
        """Start painting one photo; poll ``GET /v1/jobs/{id}`` for progress and results.

        A 256-px preview (the first level alone) comes first, then the full painting.
        """
        job = await job_from(form, preview=True)
        await queue(job)
        return job.to_dict(worker.position(job))

    @app.get("/v1/jobs/{job_id}", tags=["jobs"])
    async def job_status(job_id: str) -> dict[str, Any]:
        """State, stage, progress (0..1), queue position and the URLs of what is ready."""
        job = find_job(job_id)
        return job.to_dict(worker.position(job))

    @app.get("/v1/jobs/{job_id}/preview", tags=["jobs"],
             responses={200: {"content": {"image/png": {}}}})
    async def job_preview(job_id: str) -> Response:
        """The first level alone, 256 px on the long side (PNG)."""
        job = find_job(job_id)
        if job.preview_png is None:
            raise HTTPException(409, f"no preview yet ({job.stage})")
        return Response(job.preview_png, media_type="image/png")

    @app.get("/v1/jobs/{job_id}/result", tags=["jobs"], response_class=Response,
             responses=image_responses)
    async def job_result(
        job_id: str,
        download: Annotated[bool, Query(description="as an attachment")] = False,
    ) -> Response:
        """The painting, with the same headers as ``POST /v1/stylize``."""
        return image_response(find_job(job_id), download)

    @app.get("/v1/jobs/{job_id}/original", tags=["jobs"],
             responses={200: {"content": {"image/jpeg": {}}}})
    async def job_original(job_id: str) -> Response:
        """The photo as read (orientation and colours applied) at the painting's size, for
        a before/after comparison in any browser (HEIC included)."""
        job = find_job(job_id)
        if job.original_jpeg is None:
            raise HTTPException(409, f"not ready ({job.stage})")
        return Response(job.original_jpeg, media_type="image/jpeg")

    # -------------------------------------------------------------------- trainings

    def find_training(training_id: str) -> TrainingJob:
        try:
            return trainer.job(training_id)
        except UnknownTraining as error:
            raise HTTPException(404, str(error)) from None

    def training_refused(error: BrushworkError) -> HTTPException:
        if isinstance(error, TrainingOff):
            return HTTPException(403, str(error))
        if isinstance(error, TrainingBusy):
            return HTTPException(409, str(error), {"Retry-After": str(RETRY_AFTER)})
        return busy(error)  # shutting down

    def finished_training(training_id: str) -> TrainingJob:
        job = find_training(training_id)
        if job.state != "finished":
            why = job.error or job.stage
            raise HTTPException(409, f"training {job.id} has no model ({job.state}: {why})"
                                + (f"; poll /v1/trainings/{job.id}" if job.active else ""))
        return job

    @app.post("/v1/trainings", status_code=202, tags=["training"],
              responses={403: {"description": "this server does not train styles"},
                         409: {"description": "a style is already training: one at a time"},
                         413: {"description": "body or image over the limits"},
                         415: {"description": "not an image"}})
    async def start_training(
        file: Annotated[UploadFile, File(description="the painting (JPEG, PNG, WebP, TIFF, "
                                                     "BMP, HEIC with brushwork[heif], AVIF)")],
    ) -> dict[str, Any]:
        """Train a new style on your own painting, as ``brushwork train --style PAINTING``
        does; poll ``GET /v1/trainings/{id}``. When it has finished, its ``style`` is offered
        in ``GET /v1/styles`` and its model file can be downloaded.

        One training at a time: a second is refused with 409 while one runs.
        """
        try:  # before the painting is decoded: a refusal costs no more than the upload
            trainer.check_room()
        except BrushworkError as error:
            raise training_refused(error) from None
        painting = await _read_photo(file, max_pixels, decoders(), what="painting")
        try:
            job = trainer.start(painting, _safe_stem(file.filename or "painting"))
        except BrushworkError as error:  # another one started while this one was decoded
            raise training_refused(error) from None
        return job.to_dict()

    @app.get("/v1/trainings/{training_id}", tags=["training"])
    async def training_status(training_id: str) -> dict[str, Any]:
        """State (queued, running, finished, cancelled, failed), stage, iteration of
        iterations, seconds elapsed and left, the URLs of what is ready, the new style's id
        once finished, the quality report's means, messages and the error if any."""
        return find_training(training_id).to_dict()

    @app.delete("/v1/trainings/{training_id}", status_code=202, tags=["training"])
    async def cancel_training(training_id: str) -> dict[str, Any]:
        """Cancel a training: it stops after the iteration under way and writes no model
        (poll until its state is ``cancelled``). 409 if it has already ended."""
        try:
            return trainer.cancel(training_id).to_dict()
        except UnknownTraining as error:
            raise HTTPException(404, str(error)) from None
        except TrainingBusy as error:
            raise HTTPException(409, str(error)) from None

    @app.get("/v1/trainings/{training_id}/preview", tags=["training"],
             responses={200: {"content": {"image/jpeg": {}}}})
    async def training_preview(training_id: str) -> Response:
        """The latest preview: a strip of a photo and the style's three levels (JPEG)."""
        job = find_training(training_id)
        preview = job.preview_jpeg
        if preview is None:
            raise HTTPException(409, f"no preview yet ({job.stage})")
        return Response(preview, media_type="image/jpeg", headers={
            "Cache-Control": "no-store", "X-Brushwork-Iteration": str(job.preview_iteration)})

    @app.get("/v1/trainings/{training_id}/model", tags=["training"],
             responses={200: {"content": {"application/octet-stream": {}}}})
    async def training_model(training_id: str) -> FileResponse:
        """The trained model file (.safetensors, as ``brushwork train`` writes it; with the
        quality report in its metadata when the report ran)."""
        job = finished_training(training_id)
        return FileResponse(job.model, media_type="application/octet-stream",
                            filename=job.model.name)

    @app.get("/v1/trainings/{training_id}/report", tags=["training"],
             responses={200: {"content": {"image/jpeg": {}}}})
    async def training_report(training_id: str) -> FileResponse:
        """The quality report's contact sheet: held-back photos and the new style's
        paintings of them (the scores are in the training's ``report``)."""
        job = finished_training(training_id)
        if job.report is None or not job.sheet.is_file():
            raise HTTPException(409, "this training has no quality report (the server skips it: "
                                "ServerSettings.train_report)")
        return FileResponse(job.sheet, media_type="image/jpeg")

    app.include_router(video_router(settings, videos, worker.styles))

    # ------------------------------------------------------------- the documentation

    @app.get("/docs", include_in_schema=False)
    async def swagger_ui() -> HTMLResponse:
        page = get_swagger_ui_html(
            openapi_url="/openapi.json", title="Brushwork API",
            swagger_js_url=f"{DOCS_ASSETS}/swagger-ui-bundle.js",
            swagger_css_url=f"{DOCS_ASSETS}/swagger-ui.css",
            swagger_favicon_url="/static/favicon.svg",
            # no badge from the public validator: the page makes no request elsewhere
            swagger_ui_parameters={"validatorUrl": None})
        page.headers.update(NO_FRAMING)
        return page

    app.mount(DOCS_ASSETS, StaticFiles(directory=docs_assets), name="docs-assets")

    # --------------------------------------------------------------------- the page

    @app.get("/", include_in_schema=False)
    async def page() -> FileResponse:
        return FileResponse(STATIC_DIR / "index.html",
                            headers={"Cache-Control": "no-cache", **NO_FRAMING})

    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    return app
