"""Connection timeouts: a client that stalls is cut off, not waited for forever.

uvicorn times out one thing only: a keep-alive connection idle after a response
(``timeout_keep_alive``, 5 s). A connection that sends half a request head, or half a body,
and then nothing, is kept open for ever (docs/reliability.md, "Stalled connections"); each
one holds a file descriptor and a slot, and enough of them starve the server ("slowloris").
``TimedH11Protocol`` is uvicorn's own HTTP/1.1 protocol with two deadlines added:

* ``header_timeout``: the whole request head (request line and headers) must arrive within
  this many seconds of the connection opening or of the previous response, however it is
  dribbled in (a byte every few seconds resets nothing);
* ``idle_timeout``: while a request body is arriving, no more than this many seconds may pass
  without a byte (a slow but steady upload is fine; one that stops is not).

A client cut off mid-request gets ``408 Request Timeout`` (JSON) when no answer has started,
then the connection is closed. Waiting for the server (a painting in the queue) is not the
client's stall and is bounded by ``--timeout`` instead (``limits.RequestTimeout``).
``uvicorn_options`` gives what ``uvicorn.run`` / ``uvicorn.Config`` need for all of this.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

#: uvicorn's keep-alive timeout, stated here so the documentation has one place to cite.
KEEP_ALIVE_TIMEOUT = 5


def _timeout_response(message: str) -> bytes:
    body = json.dumps({"detail": message}).encode()
    return (b"HTTP/1.1 408 Request Timeout\r\ncontent-type: application/json\r\n"
            b"connection: close\r\ncontent-length: " + str(len(body)).encode() + b"\r\n\r\n"
            + body)


class TimedH11Protocol(H11Protocol):
    """uvicorn's h11 protocol with a deadline on request heads and on stalled bodies."""

    header_timeout: float = 10.0
    idle_timeout: float = 30.0

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._head_began = self._last_byte = self.loop.time()
        self._timer: asyncio.TimerHandle | None = None
        self._watch()

    def data_received(self, data: bytes) -> None:
        self._last_byte = self.loop.time()
        super().data_received(data)

    def on_response_complete(self) -> None:
        self._head_began = self.loop.time()  # the next request's head is due from now
        super().on_response_complete()

    def connection_lost(self, exc: Exception | None) -> None:
        if self._timer is not None:
            self._timer.cancel()
        super().connection_lost(exc)

    def _deadline(self) -> float | None:
        """When the client must have sent more, or None while it owes nothing."""
        state = self.conn.their_state
        if state is h11.IDLE:
            return self._head_began + self.header_timeout
        if state is h11.SEND_BODY and not self.flow.read_paused:
            return self._last_byte + self.idle_timeout
        return None  # the server is working (or reading is paused by us): not a stall

    def _watch(self) -> None:
        """Check the deadline now, then again when it falls due (at least once a second
        while the server works, as the state changes without telling us)."""
        self._timer = None
        if self.transport.is_closing():
            return
        deadline, now = self._deadline(), self.loop.time()
        if deadline is not None and now >= deadline:
            self._expire()
            return
        wait = 1.0 if deadline is None else min(1.0, deadline - now) + 0.01
        self._timer = self.loop.call_later(wait, self._watch)

    def _expire(self) -> None:
        head = self.conn.their_state is h11.IDLE
        silent = head and not self.conn.trailing_data[0]  # not a byte of a new request
        answered = self.cycle is not None and self.cycle.response_started and not head
        if not silent and not answered:
            what = "the request head" if head else "the request body"
            limit = self.header_timeout if head else self.idle_timeout
            self.transport.write(_timeout_response(
                f"{what} did not arrive within this server's limit of {limit:g} s "
                "(brushwork serve --header-timeout / --idle-timeout)"))
        self.transport.close()


def uvicorn_options(header_timeout: float, idle_timeout: float) -> dict[str, Any]:
    """The uvicorn settings of ``brushwork serve``: the timed protocol and the keep-alive."""
    protocol = type("BrushworkH11Protocol", (TimedH11Protocol,),
                    {"header_timeout": header_timeout, "idle_timeout": idle_timeout})
    return {"http": protocol, "timeout_keep_alive": KEEP_ALIVE_TIMEOUT}
