"""ASGI middleware for limits of our own, which neither Starlette nor uvicorn sets: the size of a
request body (``BodyLimit``: ``--max-upload``, ``--video-max-upload``) and the time a request
may take before its answer starts (``RequestTimeout``: ``--timeout``). Stalled connections are
cut off earlier, by ``connections``; other web pages are kept out by ``guard``.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable

from fastapi.responses import JSONResponse

from ..tiling import format_memory
from .responses import RETRY_AFTER, error_response


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
        return error_response(413, f"request body is over this server's limit of "
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
            refusal = error_response(
                503, f"the request took longer than this server's limit of {self.seconds:g} s "
                     "(brushwork serve --timeout): try again later or ask for a smaller size",
                {"Retry-After": str(RETRY_AFTER)})
            await refusal(scope, receive, send)
