"""The HTTP routes for photos: the styles on offer, model uploads, and painting a photo at once
(``POST /v1/stylize``) or as a job that reports its progress (``/v1/jobs``).

The work is ``work.Worker``'s (its queue, ``styles``'s models); an upload is decoded by the app
(``read_photo``: its pixel limit and its decoders at once). The cheap fields (size, style)
are checked before a photo is decoded, and a full queue is said before, not after.
"""

from __future__ import annotations

import asyncio
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, File, Form, HTTPException, Query, UploadFile
from fastapi.responses import Response

from .. import __version__
from ..errors import BrushworkError
from .responses import ReadPhoto, busy, safe_stem
from .settings import ServerSettings
from .styles import UnknownStyle
from .work import Job, OutOfMemory, QueueFull, UnknownJob, Worker
from .work import Request as JobRequest


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


def photo_router(settings: ServerSettings, worker: Worker, read_photo: ReadPhoto) -> APIRouter:
    """The photo, style and model routes over ``worker``."""
    router = APIRouter()

    async def wait(future: Any) -> Any:
        return await asyncio.wrap_future(future)

    async def queue(job: Job) -> None:
        try:
            worker.submit(job)
        except UnknownStyle as error:
            raise HTTPException(422, str(error)) from None
        except QueueFull as error:
            raise busy(error) from None

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
        photo = await read_photo(form.file, "photo")
        return Job(request=request, photo=photo, name=safe_stem(form.file.filename, "photo"),
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

    @router.get("/v1/styles", tags=["styles"])
    async def styles() -> dict[str, Any]:
        """Built-in styles, --model files and uploaded models, with their cards."""
        return {"default": worker.styles.default(),
                "styles": [s.to_dict() for s in worker.styles.all()]}

    @router.get("/v1/styles/{style_id}/thumbnail", tags=["styles"],
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

    @router.post("/v1/models", status_code=201, tags=["styles"])
    async def add_model(
        file: Annotated[UploadFile, File(description="a .safetensors model file")],
    ) -> dict[str, Any]:
        """Upload a model made by ``brushwork train``; it becomes a style (id in the answer).

        Files are checked as ``brushwork info`` checks them and never unpickled.
        """
        return await upload_model(file)

    @router.post("/v1/stylize", tags=["stylize"], response_class=Response,
                 responses=image_responses)
    async def stylize(form: Annotated[StylizeForm, Depends()]) -> Response:
        """Paint one photo and answer with the image (waits in the queue if need be)."""
        job = await job_from(form, preview=False)
        await queue(job)
        try:
            await wait(job.future)
        except OutOfMemory as error:
            raise busy(error) from None
        except BrushworkError as error:
            raise HTTPException(422, str(error)) from None
        return image_response(job)

    @router.post("/v1/jobs", status_code=202, tags=["jobs"])
    async def create_job(form: Annotated[StylizeForm, Depends()]) -> dict[str, Any]:
        """Start painting one photo; poll ``GET /v1/jobs/{id}`` for progress and results.

        A 256-px preview (the first level alone) comes first, then the full painting.
        """
        job = await job_from(form, preview=True)
        await queue(job)
        return job.to_dict(worker.position(job))

    @router.get("/v1/jobs/{job_id}", tags=["jobs"])
    async def job_status(job_id: str) -> dict[str, Any]:
        """State, stage, progress (0..1), queue position and the URLs of what is ready."""
        job = find_job(job_id)
        return job.to_dict(worker.position(job))

    @router.get("/v1/jobs/{job_id}/preview", tags=["jobs"],
                responses={200: {"content": {"image/png": {}}}})
    async def job_preview(job_id: str) -> Response:
        """The first level alone, 256 px on the long side (PNG)."""
        job = find_job(job_id)
        if job.preview_png is None:
            raise HTTPException(409, f"no preview yet ({job.stage})")
        return Response(job.preview_png, media_type="image/png")

    @router.get("/v1/jobs/{job_id}/result", tags=["jobs"], response_class=Response,
                responses=image_responses)
    async def job_result(
        job_id: str,
        download: Annotated[bool, Query(description="as an attachment")] = False,
    ) -> Response:
        """The painting, with the same headers as ``POST /v1/stylize``."""
        return image_response(find_job(job_id), download)

    @router.get("/v1/jobs/{job_id}/original", tags=["jobs"],
                responses={200: {"content": {"image/jpeg": {}}}})
    async def job_original(job_id: str) -> Response:
        """The photo as read (orientation and colours applied) at the painting's size, for
        a before/after comparison in any browser (HEIC included)."""
        job = find_job(job_id)
        if job.original_jpeg is None:
            raise HTTPException(409, f"not ready ({job.stage})")
        return Response(job.original_jpeg, media_type="image/jpeg")

    return router
