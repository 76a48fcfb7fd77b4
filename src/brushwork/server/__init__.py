"""The local web app and HTTP API (``brushwork serve``; needs ``brushwork[server]``).

``create_app`` builds the FastAPI application from ``ServerSettings``; ``work`` holds the
model cache and the job queue, ``trainer`` the training of a user's own painting (one run at
a time, in its own thread), ``video_jobs`` the painting of clips (likewise) and
``video_routes`` their HTTP routes, ``app`` the other routes, ``static/`` the page (no CDN:
every asset is served from the package), ``guard`` the Host and Origin checks that keep
other web pages out, and ``connections`` the uvicorn protocol that cuts off stalled clients
(issue 18).
"""

from __future__ import annotations

from typing import Any

__all__ = ["ServerSettings", "create_app"]


def __getattr__(name: str) -> Any:
    """Imported on first use, so that ``server.work`` (``ServerSettings``, whose defaults the
    command line reads) loads without FastAPI, which only ``app`` needs."""
    if name == "create_app":
        from .app import create_app

        return create_app
    if name == "ServerSettings":
        from .settings import ServerSettings

        return ServerSettings
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
