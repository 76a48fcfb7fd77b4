"""Who may use the server: the Host and Origin checks that keep other web pages out.

Binding to 127.0.0.1 keeps other machines out, not other web sites: the user's own browser is
on this machine, and any page it shows can send requests to ``http://127.0.0.1:8000``. Two
attacks follow, and one check answers each:

* **DNS rebinding**: a page at ``http://evil.example:8000`` makes its own name resolve to
  127.0.0.1, and from then on its requests reach this server as same-origin requests whose
  replies it can read. They carry ``Host: evil.example:8000``, so a request whose Host does not
  name this server is refused (403). The names it answers to: the address it was started on,
  the loopback names for a loopback address (``localhost``, ``127.0.0.1``, ``::1``), any IP
  address and the machine's own name for a wildcard bind (``0.0.0.0``, ``::``; an address
  literal cannot be rebound), and what ``--allowed-host`` adds (a proxy's public name; ``*``
  turns the check off).
* **Cross-site requests**: any page can send a form or a ``fetch`` (without reading the reply)
  that makes the machine paint, store models, or push the user's own uploads out. Browsers say
  where such a request comes from: ``Sec-Fetch-Site`` (all current browsers) and ``Origin`` (on
  every POST). A write whose ``Sec-Fetch-Site`` is not ``same-origin``/``none``, or whose
  ``Origin`` is not this server's, is refused (403), and so is any other request a page from
  another site embeds (an ``<img>`` of a thumbnail paints one; a frame could overlay the page
  to make the user click in it). Following a link to the page from elsewhere still works (a
  navigation), and clients that send neither header (curl, scripts, the Python API) are not
  browsers under another site's control, so they pass.

Jupyter makes the same two checks (a local ``Host`` by default, an XSRF check on writes).
The probes that hold these checks: docs/reliability.md, "A hostile web page".
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from urllib.parse import urlsplit

from fastapi.responses import JSONResponse

from ..errors import quoted

#: The names of this machine's loopback interface that a browser may put in Host.
LOOPBACK_NAMES = ("localhost", "127.0.0.1", "::1")
#: Bind addresses that mean "every interface".
WILDCARD_BINDS = ("0.0.0.0", "::", "")
#: Methods that change nothing; the others are writes.
SAFE_METHODS = ("GET", "HEAD", "OPTIONS")
#: Sec-Fetch-Site values of a request the page itself makes, or the user typed.
OWN_SITES = ("same-origin", "none")
#: Sec-Fetch-Dest values of a navigation inside another page (which could overlay the page
#: to make the user click in it: clickjacking).
FRAMES = ("iframe", "frame", "embed", "object", "fencedframe")
#: Headers on the page and the documentation: no other site may frame them (older browsers
#: that send no Sec-Fetch-Dest honour these).
NO_FRAMING = {"X-Frame-Options": "DENY", "Content-Security-Policy": "frame-ancestors 'none'"}


def is_loopback(host: str) -> bool:
    """Whether ``host`` (a bind address or a name) is this machine's loopback interface:
    ``localhost`` or any address in 127.0.0.0/8 or ::1."""
    name = host.strip("[]").lower().rstrip(".")
    if name == "localhost" or name.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def _is_ip(name: str) -> bool:
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return False
    return True


def split_host(value: str) -> tuple[str, str]:
    """A Host header (or an Origin's netloc) -> (lower-case name, port or ""); "[::1]:8000"
    -> ("::1", "8000"). The name is "" when the value cannot be a host."""
    value = value.strip().lower()
    if value.startswith("["):
        name, _, rest = value[1:].partition("]")
        port = rest[1:] if rest.startswith(":") else ""
    elif value.count(":") == 1:
        name, _, port = value.partition(":")
    else:
        name, port = value, ""
    name = name.rstrip(".")
    valid = all(c.isalnum() or c in "-._:" for c in name) and (port.isdigit() or not port)
    return (name, port) if name and valid else ("", "")


@dataclass(frozen=True)
class HostPolicy:
    """The Host names a server answers to (see the module's docstring)."""

    names: frozenset[str]
    #: Names the user allowed with --allowed-host: also accepted as an Origin's host.
    extra: frozenset[str]
    any_ip: bool = False
    any_host: bool = False

    @classmethod
    def for_bind(cls, bind: str, allowed: Iterable[str] = ()) -> HostPolicy:
        extra = frozenset(split_host(a)[0] or a.lower() for a in allowed)
        names = set(extra) | {split_host(bind)[0] or bind.lower()}
        if is_loopback(bind) or bind in WILDCARD_BINDS:
            names |= set(LOOPBACK_NAMES)
        if bind in WILDCARD_BINDS:  # the machine's own name (no DNS query: it is local)
            names.add(socket.gethostname().lower())
        return cls(frozenset(names), extra, any_ip=bind in WILDCARD_BINDS,
                   any_host="*" in extra)

    def allows(self, name: str) -> bool:
        return bool(name) and (self.any_host or name in self.names
                               or (self.any_ip and _is_ip(name)))

    def shown(self) -> str:
        """The names, for a message."""
        listed = sorted(self.names - {"*"})
        return ", ".join(listed) + (" or any IP address" if self.any_ip else "")


def _header(scope: dict, name: bytes) -> str | None:
    for key, value in scope.get("headers", ()):
        if key == name:
            return value.decode("latin-1")
    return None


def refusal(scope: dict, policy: HostPolicy) -> str | None:
    """Why this request is refused, or None to let it through."""
    host = _header(scope, b"host")
    if host is not None and not policy.allows(split_host(host)[0]):
        return (f"this server answers to {policy.shown()}, not to Host {quoted(host)}: a web "
                "page that reached it under another name (DNS rebinding) is refused; to "
                "serve under that name (a proxy), start it with --allowed-host NAME")
    site = _header(scope, b"sec-fetch-site")
    origin = _header(scope, b"origin")
    if scope.get("method", "GET") in SAFE_METHODS:
        embedded = (_header(scope, b"sec-fetch-mode") != "navigate"
                    or _header(scope, b"sec-fetch-dest") in FRAMES)  # clickjacking
        if site is not None and site not in OWN_SITES and embedded:
            return (f"refused: a {site} page may not embed or frame this server's pages or "
                    "API (only its own page may)")
        return None
    if site is not None and site not in OWN_SITES:
        return (f"cross-site request refused: a page from {quoted(origin or 'another site')} "
                "may not use this server (only its own page may)")
    if origin is not None and not _same_origin(origin, host, policy):
        return (f"cross-site request refused: a page from {quoted(origin)} may not use this "
                "server (only its own page may)")
    return None


def _same_origin(origin: str, host: str | None, policy: HostPolicy) -> bool:
    """``origin`` is the page this server serves: the Host it was asked under (name and
    port), or a name given with --allowed-host (behind a proxy Host may differ)."""
    parts = urlsplit(origin)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return False  # "null" (a sandboxed frame, a file:// page) or nonsense
    name, port = split_host(parts.netloc)
    if host is not None:
        asked = split_host(host)
        default = "443" if parts.scheme == "https" else "80"
        if (name, port or default) == (asked[0], asked[1] or default) and name:
            return True
    return bool(name) and (name in policy.extra or policy.any_host)


class LocalGuard:
    """ASGI middleware: answers 403 JSON to what ``refusal`` refuses, before the body is
    read or anything else runs."""

    def __init__(self, app: Callable[..., Awaitable[None]], policy: HostPolicy) -> None:
        self.app, self.policy = app, policy

    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> None:
        if scope["type"] == "http":
            problem = refusal(scope, self.policy)
            if problem is not None:
                await JSONResponse({"detail": problem}, status_code=403)(scope, receive, send)
                return
        await self.app(scope, receive, send)
