"""The HTTP routes for training a style on a user's own painting (``trainer``, one at a time).

* ``POST /v1/trainings``: multipart painting; answers 202 with the training at once. Refused
  in the cheapest order: 403 where training is off, 409 while another runs (both before the
  painting is decoded), then 413 or 415 for a painting the app cannot decode.
* ``GET /v1/trainings/{id}``: state, iteration, time left, messages, and once finished the
  new style's id (already offered in ``/v1/styles``); ``/preview`` (the latest preview strip,
  JPEG), ``/model`` (the .safetensors file), ``/report`` (the quality report's sheet).
* ``DELETE /v1/trainings/{id}``: cancel; the run stops within one iteration.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, File, HTTPException, UploadFile
from fastapi.responses import FileResponse, Response

from ..errors import BrushworkError
from .responses import ReadPhoto, cancel, find, finished, refused, safe_stem
from .trainer import Trainer


def training_router(trainer: Trainer, read_photo: ReadPhoto) -> APIRouter:
    """The training routes over ``trainer``; ``read_photo`` decodes the painting."""
    router = APIRouter()

    @router.post("/v1/trainings", status_code=202, tags=["training"],
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
            raise refused(error) from None
        painting = await read_photo(file, "painting")
        try:
            job = trainer.start(painting, safe_stem(file.filename, "painting"))
        except BrushworkError as error:  # another one started while this one was decoded
            raise refused(error) from None
        return job.to_dict()

    @router.get("/v1/trainings/{training_id}", tags=["training"])
    async def training_status(training_id: str) -> dict[str, Any]:
        """State (queued, running, finished, cancelled, failed), stage, iteration of
        iterations, seconds elapsed and left, the URLs of what is ready, the new style's id
        once finished, the quality report's means, messages and the error if any."""
        return find(trainer, training_id).to_dict()

    @router.delete("/v1/trainings/{training_id}", status_code=202, tags=["training"])
    async def cancel_training(training_id: str) -> dict[str, Any]:
        """Cancel a training: it stops after the iteration under way and writes no model
        (poll until its state is ``cancelled``). 409 if it has already ended."""
        return cancel(trainer, training_id).to_dict()

    @router.get("/v1/trainings/{training_id}/preview", tags=["training"],
                responses={200: {"content": {"image/jpeg": {}}}})
    async def training_preview(training_id: str) -> Response:
        """The latest preview: a strip of a photo and the style's three levels (JPEG)."""
        job = find(trainer, training_id)
        preview = job.preview_jpeg
        if preview is None:
            raise HTTPException(409, f"no preview yet ({job.stage})")
        return Response(preview, media_type="image/jpeg", headers={
            "Cache-Control": "no-store", "X-Brushwork-Iteration": str(job.preview_iteration)})

    @router.get("/v1/trainings/{training_id}/model", tags=["training"],
                responses={200: {"content": {"application/octet-stream": {}}}})
    async def training_model(training_id: str) -> FileResponse:
        """The trained model file (.safetensors, as ``brushwork train`` writes it; with the
        quality report in its metadata when the report ran)."""
        job = finished(trainer, training_id, "model")
        return FileResponse(job.model, media_type="application/octet-stream",
                            filename=job.model.name)

    @router.get("/v1/trainings/{training_id}/report", tags=["training"],
                responses={200: {"content": {"image/jpeg": {}}}})
    async def training_report(training_id: str) -> FileResponse:
        """The quality report's contact sheet: held-back photos and the new style's
        paintings of them (the scores are in the training's ``report``)."""
        job = finished(trainer, training_id, "model")
        if job.report is None or not job.sheet.is_file():
            raise HTTPException(409, "this training has no quality report (the server skips it: "
                                     "ServerSettings.train_report)")
        return FileResponse(job.sheet, media_type="image/jpeg")

    return router
