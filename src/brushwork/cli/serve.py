"""``brushwork serve``: the web app and HTTP API (``brushwork.server``)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from ..api import PRECISIONS
from ..devices import DEVICES
from ..errors import BrushworkError
from ..server.settings import ServerSettings
from .arguments import MAX_PIXELS_TEXT, memory, pixels, port, positive_int, seconds


def _serve(args: argparse.Namespace) -> int:
    try:
        import uvicorn

        from ..server import ServerSettings, create_app
        from ..server.connections import uvicorn_options
        from ..server.guard import is_loopback
    except ImportError as error:
        raise BrushworkError(f"brushwork serve needs the server extra ({error.name} is "
                             "missing): pip install 'brushwork[server]'") from None
    settings = ServerSettings(
        models=[Path(m) for m in args.model], max_size=args.max_size,
        max_upload=args.max_upload, queue=args.queue, device=args.device,
        precision=args.precision, max_memory=args.max_memory, max_pixels=args.max_pixels,
        request_timeout=args.timeout, host=args.host, allowed_hosts=tuple(args.allowed_host),
        header_timeout=args.header_timeout, idle_timeout=args.idle_timeout,
        training=not args.no_training, train_minutes=args.train_minutes,
        video=not args.no_video, video_max_upload=args.video_max_upload,
        video_max_seconds=args.video_max_seconds, video_max_pixels=args.video_max_pixels,
    )
    app = create_app(settings)  # checks the --model files before the port is taken
    if not is_loopback(args.host):
        print(f"brushwork: warning: serving on {args.host}: anyone who can reach it can use "
              "this machine's CPU/GPU, and there is no authentication", file=sys.stderr)
    shown = f"[{args.host}]" if ":" in args.host else args.host
    print(f"brushwork: serving on http://{shown}:{args.port}/ (Ctrl-C to stop)",
          file=sys.stderr)
    # SIGTERM / Ctrl-C: uvicorn stops accepting, lets the requests in flight finish (a
    # painting included) for up to one request timeout, then the worker stops.
    # Stalled clients are cut off (request heads, bodies, idle keep-alive: server.connections).
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning",
                timeout_graceful_shutdown=int(args.timeout) + 5,
                **uvicorn_options(args.header_timeout, args.idle_timeout))
    return 0


def add_parser(commands: Any) -> None:
    sv = commands.add_parser(
        "serve", help="the web app and HTTP API (needs brushwork[server])",
        description="Serve the Brushwork web page and HTTP API (/v1/styles, /v1/stylize, "
                    "/v1/health; OpenAPI at /docs). Binds to loopback unless --host says "
                    "otherwise: the API has no authentication. Requests must name this "
                    "server in their Host header (--allowed-host adds names), and other web "
                    "sites' pages may not use it.",
    )
    served = ServerSettings()
    sv.add_argument("--host", default=served.host, help=f"address to bind (default {served.host})")
    sv.add_argument("--port", type=port, default=8000, help="port (default 8000; 0: any)")
    sv.add_argument("--model", action="append", default=[], metavar="FILE",
                    help="also offer this model file (repeatable)")
    sv.add_argument("--max-size", type=positive_int, default=served.max_size,
                    help="largest output long side a request may ask for "
                         f"(default {served.max_size})")
    sv.add_argument("--max-upload", type=memory, default=served.max_upload, metavar="BYTES",
                    help=f"largest request body, e.g. {served.max_upload // 1024**2}MB "
                         "(default)")
    sv.add_argument("--queue", type=positive_int, default=served.queue,
                    help="jobs waiting at most; more get 503 with Retry-After "
                         f"(default {served.queue})")
    sv.add_argument("--max-pixels", type=pixels, metavar="N",
                    help="largest photo accepted, width x height, e.g. 40M (default: "
                         f"$BRUSHWORK_MAX_PIXELS or {MAX_PIXELS_TEXT}); bigger ones get 413, "
                         "unread")
    sv.add_argument("--timeout", type=seconds, default=served.request_timeout,
                    metavar="SECONDS",
                    help="longest a request may take, queueing included; then 503 "
                         f"(default {served.request_timeout:g})")
    sv.add_argument("--header-timeout", type=seconds, default=served.header_timeout,
                    metavar="SECONDS",
                    help="longest a client may take to send a request's headers; then the "
                         f"connection is closed (default {served.header_timeout:g})")
    sv.add_argument("--idle-timeout", type=seconds, default=served.idle_timeout,
                    metavar="SECONDS",
                    help="longest an upload may stall without a byte; then the connection "
                         f"is closed (default {served.idle_timeout:g})")
    sv.add_argument("--allowed-host", action="append", default=[], metavar="NAME",
                    help="also answer to this Host name, e.g. a proxy's (repeatable; '*': "
                         "any). By default only the --host address (and localhost for a "
                         "loopback one) is answered, against DNS rebinding")
    sv.add_argument("--no-training", action="store_true",
                    help="refuse training a style on an uploaded painting (POST /v1/trainings)")
    sv.add_argument("--train-minutes", type=float, metavar="MINUTES",
                    help="time budget of a training from the page or the API (default: "
                         "brushwork train's)")
    sv.add_argument("--no-video", action="store_true",
                    help="refuse painting uploaded clips (POST /v1/videos)")
    sv.add_argument("--video-max-upload", type=memory, default=served.video_max_upload,
                    metavar="BYTES",
                    help=f"largest clip upload, e.g. 200MB (default "
                         f"{served.video_max_upload // 1024**2}MB)")
    sv.add_argument("--video-max-seconds", type=seconds, default=served.video_max_seconds,
                    metavar="SECONDS",
                    help=f"longest clip, from its header (default {served.video_max_seconds:g}; "
                         f"at most {served.video_max_fps:g} frames a second of it)")
    sv.add_argument("--video-max-pixels", type=pixels, default=served.video_max_pixels,
                    metavar="N", help="largest clip frame, width x height (default 1920x1080's)")
    sv.add_argument("--device", default=served.device, choices=DEVICES)
    sv.add_argument("--precision", default=served.precision, choices=PRECISIONS)
    sv.add_argument("--max-memory", type=memory, metavar="BYTES",
                    help="memory for tensors per job (default: as for stylize)")
    sv.set_defaults(run=_serve)
