"""Stalled connections against uvicorn on a real socket: every kind of slow or silent client
is answered 408 and closed within the timeouts ``brushwork serve`` sets, while the server goes on
answering others. ``experiments/reliability_report.py`` runs ``stall_table`` for its table,
against uvicorn's defaults and against ``brushwork serve``'s settings."""

from __future__ import annotations

import contextlib
import select
import socket
import threading
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

pytest.importorskip("uvicorn", reason="the server extra is not installed")

from brushwork.server import ServerSettings, create_app


@contextlib.contextmanager
def serve_in_thread(settings: ServerSettings, options: dict) -> Iterator[int]:
    """The app under uvicorn with these options (``connections.uvicorn_options`` for what
    ``brushwork serve`` runs, {} for uvicorn's defaults); yields the port."""
    import uvicorn

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(create_app(settings), log_level="warning", **options)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.05)
    try:
        yield port
    finally:
        server.should_exit = True
        thread.join(timeout=30)
        sock.close()


#: Each stalled client: (what it sends at first, a byte to drip every 0.3 s or None).
STALLS: dict[str, tuple[bytes, bytes | None]] = {
    "connects and sends nothing": (b"", None),
    "half a request line": (b"GET /v1/health HT", None),
    "headers without the closing blank line": (
        b"GET /v1/health HTTP/1.1\r\nHost: 127.0.0.1\r\n", None),
    "slowloris: a header byte every 0.3 s": (
        b"GET /v1/health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ", b"a"),
    "half a body (Content-Length 10,000, 100 sent)": (
        b"POST /v1/models HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: multipart/form-data; "
        b"boundary=b\r\nContent-Length: 10000\r\n\r\n--b\r\nContent-Disposition: form-data"
        b"; name=\"file\"; filename=\"m.safetensors\"\r\n\r\n" + b"x" * 100, None),
    "idle after a complete request (keep-alive)": (
        b"GET /v1/health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", None),
}


@dataclass
class Stall:
    kind: str
    closed_after: float | None  # seconds, None: still open at the end
    reply: str  # the first line the server sent, if any


def stall_table(port: int, wait: float) -> tuple[list[Stall], int]:
    """Open every kind of stalled connection at once and time how long each stays open
    (at most ``wait`` seconds); returns them and the status of a normal request made
    meanwhile."""
    began = time.monotonic()
    sockets = {}
    for kind, (first, _) in STALLS.items():
        client = socket.create_connection(("127.0.0.1", port), timeout=5)
        if first:
            client.sendall(first)
        sockets[kind] = client
    replies = {kind: b"" for kind in STALLS}
    closed: dict[str, float] = {}
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/v1/health", timeout=10) as normal:
        status = normal.status
    drip_at = time.monotonic()
    while len(closed) < len(sockets) and time.monotonic() - began < wait:
        open_ones = [s for k, s in sockets.items() if k not in closed]
        readable, _, _ = select.select(open_ones, [], [], 0.1)
        for kind, client in sockets.items():
            if client in readable and kind not in closed:
                try:
                    data = client.recv(65536)
                except OSError:
                    data = b""
                replies[kind] += data
                if not data:
                    closed[kind] = time.monotonic() - began
        if time.monotonic() - drip_at >= 0.3:
            drip_at = time.monotonic()
            for kind, (_, drip) in STALLS.items():
                if drip and kind not in closed:
                    with contextlib.suppress(OSError):
                        sockets[kind].sendall(drip)
    for client in sockets.values():
        client.close()
    rows = []
    for kind in STALLS:
        lines = [line for line in replies[kind].decode("latin-1").split("\r\n") if line]
        # the keep-alive socket's first line is its 200; show the last answer's status
        statuses = [line for line in lines if line.startswith("HTTP/1.1")]
        rows.append(Stall(kind, closed.get(kind), statuses[-1] if statuses else "nothing"))
    return rows, status


def test_stalled_connections_are_answered_408_and_closed(builtin_styles):
    from brushwork.server.connections import uvicorn_options

    header_timeout, idle_timeout = 1.0, 2.0
    settings = ServerSettings(device="cpu", precision="float32")
    with serve_in_thread(settings, uvicorn_options(header_timeout, idle_timeout)) as port:
        rows, status = stall_table(port, wait=15)
        still = urllib.request.urlopen(f"http://127.0.0.1:{port}/v1/health", timeout=10)
        assert still.status == 200  # the server went on answering
    assert status == 200
    by_kind = {row.kind: row for row in rows}
    for row in rows:
        assert row.closed_after is not None, f"{row.kind}: still open after 15 s"
    for kind in ("half a request line", "headers without the closing blank line",
                 "slowloris: a header byte every 0.3 s"):
        assert by_kind[kind].closed_after < header_timeout + 2.5, by_kind[kind]
        assert by_kind[kind].reply == "HTTP/1.1 408 Request Timeout", by_kind[kind]
    assert by_kind["connects and sends nothing"].closed_after < header_timeout + 2.5
    body = by_kind["half a body (Content-Length 10,000, 100 sent)"]
    assert body.closed_after < idle_timeout + 2.5 and body.reply.startswith("HTTP/1.1 408")
    keep_alive = by_kind["idle after a complete request (keep-alive)"]
    assert keep_alive.reply == "HTTP/1.1 200 OK" and keep_alive.closed_after < 5 + 2.5
