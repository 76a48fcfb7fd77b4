"""The HTTP routes for clips: upload one, follow it, cancel it, download the painted clip.

* ``POST /v1/videos``: multipart clip + style, size, strength, preserve_color, steady; answers
  202 with the job at once. Refused in the cheapest order: 403 where clips are off, 409
  while another clip is painted, 413 for a body over ``--video-max-upload`` (from its
  Content-Length, before it is read: ``limits.BodyLimit``), 422 for a bad size or style, 415
  for a file FFmpeg does not read as a clip, 413 for frames, a duration or a frame count over
  the limits as the header gives them (before any frame is painted). Nothing of a refused
  upload is kept.
* ``GET /v1/videos/{id}``: state, frames done and in all, frames per second, seconds left.
* ``DELETE /v1/videos/{id}``: cancel; the job stops before its next frame and keeps nothing.
* ``GET /v1/videos/{id}/result``: the painted clip (MP4, or Matroska for a sound track MP4
  cannot hold), with its sound; ``?download=true`` as an attachment. Range requests work
  (Starlette's ``FileResponse``), so a ``<video>`` element can seek in it.

The jobs themselves are ``video_jobs``; errors are raised as ``HTTPException``s, which the
app answers as JSON ``{"detail": ...}`` like every other error (``responses``).
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, File, Form, HTTPException, Query, UploadFile
from fastapi.responses import FileResponse
from starlette.concurrency import run_in_threadpool

from ..errors import BrushworkError
from .responses import cancel, find, finished, refused, safe_stem
from .settings import ServerSettings
from .styles import Styles, UnknownStyle
from .video_jobs import ClipTooLarge, VideoJob, VideoPainter, check_clip

VIDEOS_PATH = "/v1/videos"
#: The painted long side a request without one gets (ours: the size docs/video.md measures
#: at, and where its frames-per-second figures are).
DEFAULT_SIZE = 720


def _save(upload: UploadFile, path: Path) -> int:
    """The upload (already spooled by the multipart parser) copied into the job's folder."""
    upload.file.seek(0)
    with path.open("wb") as out:
        shutil.copyfileobj(upload.file, out, 1024 * 1024)
    return path.stat().st_size


def video_router(settings: ServerSettings, painter: VideoPainter, styles: Styles
                 ) -> APIRouter:
    """The clip routes over ``painter``; ``styles`` are the painting worker's (the same
    ids, mixes included)."""
    from ..video import is_video_path, probe_clip

    router = APIRouter(tags=["video"])
    max_size = min(settings.video_max_size, settings.max_size)

    @router.post(VIDEOS_PATH, status_code=202, responses={
        403: {"description": "this server does not paint clips"},
        409: {"description": "a clip is already being painted: one at a time"},
        413: {"description": "the upload, or the clip's frames, duration or frame count, "
                             "over the limits"},
        415: {"description": "not a clip FFmpeg reads"},
        422: {"description": "a bad parameter, an unknown style, or a clip whose header "
                             "gives no duration"}})
    async def start_video(
        file: Annotated[UploadFile, File(description="the clip (MP4, MOV, MKV, WebM, MPEG, "
                                                     "AVI...)")],
        style: Annotated[str | None, Form(description="a style id from GET /v1/styles, or "
                                                      "a mix (default: the default style)"
                                          )] = None,
        size: Annotated[int, Form(ge=1, description="long side of the painted frames, "
                                                    "pixels")] = DEFAULT_SIZE,
        preserve_color: Annotated[bool, Form(description="keep the clip's colours")] = False,
        strength: Annotated[float, Form(ge=0.0, le=1.0, description="1: the full painting, "
                                                                    "0: the clip")] = 1.0,
        steady: Annotated[bool, Form(description="carry strokes along the motion so that "
                                                 "they do not flicker (as brushwork "
                                                 "stylize's --steady)")] = True,
    ) -> dict[str, Any]:
        """Paint a clip as ``brushwork stylize clip.mp4 -o painted.mp4`` does (sound copied,
        frame times kept, steady brushwork, a sideways phone clip painted upright); poll
        ``GET /v1/videos/{id}``, then download ``/result``. One clip at a time."""
        try:  # before the upload is looked at: a refusal costs no more than sending it
            painter.check_room()
        except BrushworkError as error:
            raise refused(error) from None
        if size > max_size:
            raise HTTPException(422, f"size {size} is over this server's limit of {max_size} "
                                     "px for clips")
        try:
            chosen = styles.get(style or styles.default() or "")
        except UnknownStyle as error:
            raise HTTPException(422, str(error)) from None
        name = safe_stem(file.filename, "clip")
        suffix = Path(file.filename or "").suffix.lower()
        folder = painter.new_folder()
        started = False
        try:
            path = folder / ("input" + (suffix if is_video_path(f"x{suffix}") else ""))
            if not await run_in_threadpool(_save, file, path):
                raise HTTPException(422, f"{name}: the file is empty; send a clip in the "
                                         "'file' field")
            try:
                info = await run_in_threadpool(probe_clip, path)
            except BrushworkError as error:
                message = str(error).replace(str(path), name)
                raise HTTPException(415, f"{message} (send a clip: MP4, MOV, MKV, WebM, "
                                         "MPEG, AVI...)") from None
            try:
                check_clip(info, settings, name)
            except ClipTooLarge as error:
                raise HTTPException(413, str(error)) from None
            except BrushworkError as error:
                raise HTTPException(422, str(error)) from None
            job = VideoJob(name=name, folder=folder, input=path, style=chosen, size=size,
                           strength=strength, preserve_color=preserve_color, steady=steady,
                           info=info, frames_total=info.frames)
            try:  # another clip may have started while this one was examined
                painter.start(job)
            except BrushworkError as error:
                raise refused(error) from None
            started = True
        finally:
            if not started:
                shutil.rmtree(folder, ignore_errors=True)
        return job.to_dict()

    @router.get(VIDEOS_PATH + "/{video_id}")
    async def video_status(video_id: str) -> dict[str, Any]:
        """State (queued, running, finished, cancelled, failed), stage, frames done of
        frames in all, frames per second, seconds elapsed and left, the painted clip's URL
        once finished, the error if any."""
        return find(painter, video_id).to_dict()

    @router.delete(VIDEOS_PATH + "/{video_id}", status_code=202)
    async def cancel_video(video_id: str) -> dict[str, Any]:
        """Cancel a clip: it stops before its next frame and keeps no painted clip (poll
        until its state is ``cancelled``). 409 if it has already ended."""
        return cancel(painter, video_id).to_dict()

    @router.get(VIDEOS_PATH + "/{video_id}/result", response_class=FileResponse,
                responses={200: {"content": {"video/mp4": {}, "video/x-matroska": {}}}})
    async def video_result(
        video_id: str,
        download: Annotated[bool, Query(description="as an attachment")] = False,
    ) -> FileResponse:
        """The painted clip with the input's sound (MP4; Matroska when the sound track does
        not fit in MP4). Range requests are answered, so players can seek."""
        job = finished(painter, video_id, "painted clip")
        if not job.output.is_file():  # forgotten between the two lines above
            raise HTTPException(404, f"video {job.id}'s painted clip is gone")
        return FileResponse(job.output, media_type=job.media_type, filename=job.output.name,
                            content_disposition_type="attachment" if download else "inline",
                            headers={"Cache-Control": "no-store"})

    return router
