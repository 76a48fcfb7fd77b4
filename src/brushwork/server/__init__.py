"""The local web app and HTTP API (``brushwork serve``; needs ``brushwork[server]``).

``app.create_app`` builds the FastAPI application from ``settings.ServerSettings``. The
work: ``work`` (the queue of photos for the one worker thread), ``styles`` (the styles on
offer and their loaded models), ``single_job`` (one long job at a time, in its own thread)
with ``trainer`` (training a style on the user's painting) and ``video_jobs`` (painting
clips). The HTTP side: ``photo_routes``, ``training_routes`` and ``video_routes`` (the
routes), ``responses`` (JSON errors and the answers routes share), ``limits`` (body size and
request time), ``guard`` (the Host and Origin checks that keep other web pages out),
``connections`` (the uvicorn protocol that cuts off stalled clients) and ``static/`` (the
page: no CDN, every asset is served from the package).
"""

from __future__ import annotations

from typing import Any

__all__ = ["ServerSettings", "create_app"]


def __getattr__(name: str) -> Any:
    """Imported on first use, so that ``ServerSettings`` (whose defaults the command line
    reads) loads without FastAPI, which only the HTTP side needs."""
    if name == "create_app":
        from .app import create_app

        return create_app
    if name == "ServerSettings":
        from .settings import ServerSettings

        return ServerSettings
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
