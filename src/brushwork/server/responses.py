"""What the route modules share: JSON errors, the answers they all give (busy; a single job's
refusals, lookups and cancels) and the names of uploads.

Every error is JSON, ``{"detail": "a message a person can act on"}``: the app's handlers turn
each ``HTTPException`` a route raises into ``error_response``, as the middleware in ``limits``
does directly. Messages quote what a client sent cut short (``errors.quoted``); ``MAX_DETAIL``
is the backstop for a message that quotes something else long.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

from fastapi import HTTPException, UploadFile
from fastapi.responses import JSONResponse
from PIL import Image

from ..errors import BrushworkError
from .single_job import JobBusy, JobsOff, SingleJob, SingleJobRunner, UnknownJobId

#: Seconds a client told "busy" should wait before trying again (ours).
RETRY_AFTER = 5
#: Longest error message answered, characters (ours).
MAX_DETAIL = 1000
_SAFE_NAME = re.compile(r"[^A-Za-z0-9._-]+")

J = TypeVar("J", bound=SingleJob)
#: What the app hands its routes to decode an uploaded image, ``(file, what)``: its limits
#: (pixels, decoders at once) are the app's; ``what`` ("photo", "painting") names it in messages.
ReadPhoto = Callable[[UploadFile, str], Awaitable[Image.Image]]


def error_response(status: int, message: str, headers: dict[str, str] | None = None,
                   **extra: Any) -> JSONResponse:
    """``{"detail": message, **extra}`` with ``status``, the message cut at ``MAX_DETAIL``."""
    if len(message) > MAX_DETAIL:
        message = message[: MAX_DETAIL - 1] + "…"
    return JSONResponse({"detail": message, **extra}, status_code=status, headers=headers)


def clipped(value: Any) -> Any:
    """A validation error's details with every string cut short: pydantic puts the whole
    input in them (docs/reliability.md, "A hostile web page": a 1,000,000-character field
    came back whole)."""
    if isinstance(value, str):
        return value if len(value) <= 80 else value[:79] + "…"
    if isinstance(value, dict):
        return {k: clipped(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [clipped(v) for v in value]
    if isinstance(value, (int, float, bool)) or value is None:
        return value
    return clipped(str(value))


def busy(error: BrushworkError) -> HTTPException:
    """503 with Retry-After: the queue is full or the server is shutting down."""
    return HTTPException(503, str(error), {"Retry-After": str(RETRY_AFTER)})


def safe_stem(filename: str | None, default: str) -> str:
    """An upload's file name without its suffix, fit to name what is made from it."""
    stem = _SAFE_NAME.sub("-", Path(filename or default).stem).strip("-.")[:60]
    return stem or default


def safe_name(filename: str | None, default: str) -> str:
    """An upload's file name, suffix kept, fit to quote in a message."""
    return _SAFE_NAME.sub("-", Path(filename or default).name)[:80] or default


# ------------------------------------------------------------------ single jobs' routes


def refused(error: BrushworkError) -> HTTPException:
    """Why a single job (a training, a clip) cannot start: 403 where the server does not run
    them, 409 while another runs, 503 while the server shuts down."""
    if isinstance(error, JobsOff):
        return HTTPException(403, str(error))
    if isinstance(error, JobBusy):
        return HTTPException(409, str(error), {"Retry-After": str(RETRY_AFTER)})
    return busy(error)


def find(runner: SingleJobRunner[J], job_id: str) -> J:
    """The job with this id, or 404."""
    try:
        return runner.job(job_id)
    except UnknownJobId as error:
        raise HTTPException(404, str(error)) from None


def cancel(runner: SingleJobRunner[J], job_id: str) -> J:
    """Ask the job to stop: 404 for an unknown id, 409 for a job that has already ended."""
    try:
        return runner.cancel(job_id)
    except UnknownJobId as error:
        raise HTTPException(404, str(error)) from None
    except JobBusy as error:
        raise HTTPException(409, str(error)) from None


def finished(runner: SingleJobRunner[J], job_id: str, what: str) -> J:
    """The job if it has finished, else 409 naming ``what`` it has not made yet."""
    job = find(runner, job_id)
    if job.state != "finished":
        why = job.error or job.stage
        raise HTTPException(409, f"{runner.noun} {job.id} has no {what} ({job.state}: {why})"
                                 + (f"; poll {runner.url}/{job.id}" if job.active else ""))
    return job
