"""The HTTP API and the web page: ``create_app(settings)`` builds the FastAPI application.

Endpoints (OpenAPI at ``/openapi.json``; Swagger UI at ``/docs``, served from the copy in the
``fastapi-offline`` package, so it works without a network; FastAPI's ReDoc page is off, as
ReDoc fetches its logo from a CDN even from a local copy):

* ``GET /v1/health``: status, version, device, queue, limits (here).
* ``GET /v1/styles``: the styles on offer (built-in, ``--model`` files, uploads) with their
  cards; ``GET /v1/styles/{id}/thumbnail``: the style painted on a sample photo.
* ``POST /v1/models``: upload a model file (.safetensors made by ``brushwork train``); it is
  offered as a style from then on.
* ``POST /v1/stylize``: multipart photo + parameters; answers with the painting itself and
  its metadata in ``X-Brushwork-*`` headers. The simple, synchronous call for scripts.
* ``POST /v1/jobs`` and ``GET /v1/jobs/{id}[/preview|/result|/original]``: the same work as a
  job that reports its progress, with a 256-px preview from the first level before the full
  result. The web page uses these. These and the three above: ``photo_routes``.
* ``POST /v1/trainings``, ``GET``/``DELETE /v1/trainings/{id}``, ``/preview``, ``/model``,
  ``/report``: a style trained on the user's painting as ``brushwork train`` trains one, one
  at a time, with its progress, a cancel, the model file and its quality report
  (``training_routes``, ``trainer``).
* ``POST /v1/videos``, ``GET``/``DELETE /v1/videos/{id}``, ``/result``: a clip painted as
  ``brushwork stylize clip.mp4`` paints it, one at a time, with its progress, a cancel and
  the painted clip to play or download (``video_routes``, ``video_jobs``).

Every error is JSON, ``{"detail": "a message a person can act on"}`` (``responses``), with a
4xx status for anything the client can fix: 413 for a body or image over the limits, 415 for
a file that is not an image, 422 for a bad parameter or an unknown style, 404 for an unknown
job or style path, 409 for a result asked for before it exists or a second training while
one runs. 503 with ``Retry-After`` means "busy, try again": the queue is full, the request
took longer than ``--timeout``, or the server is shutting down. Any other 5xx is a bug.

Limits of our own, none of which Starlette or uvicorn sets: the request body (``--max-upload``,
``limits.BodyLimit``), the photo's pixels (``--max-pixels``, read from its header before
decoding, here), the photos decoded at once (``ServerSettings.decoders``, here), the jobs
waiting (``--queue``) and the time a request may take (``--timeout``,
``limits.RequestTimeout``); stalled connections are cut off by ``connections``
(``--header-timeout``, ``--idle-timeout``).

Other web pages are kept out (``guard``; docs/reliability.md, "A hostile web page"): a request
whose Host is not this server's, or a write from another site's page, gets 403.
"""

from __future__ import annotations

import asyncio
import json
import weakref
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import FastAPI, HTTPException, Request, UploadFile
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from PIL import Image
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
from .guard import NO_FRAMING, HostPolicy, LocalGuard
from .limits import BodyLimit, RequestTimeout
from .photo_routes import photo_router
from .responses import clipped, error_response, safe_name
from .settings import ServerSettings
from .trainer import Trainer, check_overrides
from .training_routes import training_router
from .video_jobs import VideoPainter
from .video_routes import VIDEOS_PATH, video_router
from .work import STATIC_DIR, Worker

#: Where the offline API documentation's assets are served.
DOCS_ASSETS = "/docs-assets"


def _docs_assets() -> Path:
    """The Swagger UI files that ``fastapi-offline`` ships (the server extra): MIT, Swagger UI
    5 under Apache-2.0; only its files are used, not its app factory."""
    try:
        import fastapi_offline
    except ImportError as error:
        raise BrushworkError("brushwork serve needs fastapi-offline for its offline API "
                             "documentation: pip install 'brushwork[server]'") from error
    return Path(fastapi_offline.__file__).parent / "static"


async def _read_photo(file: UploadFile, max_pixels: int, decoders: asyncio.Semaphore,
                      what: str) -> Image.Image:
    """Decode an uploaded image (``what``: "photo" or "painting", for the messages); its
    pixels are checked from the header first (413), anything unreadable is 415. Every route
    that takes an image gets this through ``read_photo`` in ``create_app``."""
    data = await file.read()
    name = safe_name(file.filename, "upload")
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


def create_app(settings: ServerSettings | None = None) -> FastAPI:
    """The web page and HTTP API over one worker (``work``), one trainer and one clip painter
    (``single_job``); models load on first use.

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

    async def read_photo(file: UploadFile, what: str) -> Image.Image:
        return await _read_photo(file, max_pixels, decoders(), what)

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
        details = json.loads(json.dumps(error.errors(), default=str))
        return error_response(422, "; ".join(problems) or "invalid request",
                              errors=clipped(details))

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_: Request, error: StarletteHTTPException) -> JSONResponse:
        return error_response(error.status_code, str(error.detail),
                              getattr(error, "headers", None))

    @app.exception_handler(Exception)
    async def unexpected(_: Request, error: Exception) -> JSONResponse:
        return error_response(500, f"internal error: {type(error).__name__}: "
                                   f"{str(error)[:300]} (please report it)")

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

    app.include_router(photo_router(settings, worker, read_photo))
    app.include_router(training_router(trainer, read_photo))
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
