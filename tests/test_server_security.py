"""The local server against a hostile web page and hostile files.

``brushwork serve`` binds to 127.0.0.1, but the user's browser is on the same machine and any
page it shows can send requests there. Probing the server as such a page would found five
things; each is a row of ``PROBES`` (HTTP through TestClient, or the command line)
or of ``stall_table`` (real sockets against uvicorn, in
tests/integration/test_server_connections.py), and each failed before the fix:

1. no Host or Origin check: any site could paint, store models and push uploads out, and read
   the answers after a DNS rebinding (now 403);
2. a 168-byte model file allocated ~1 GB (now refused from its header: tests/test_model_files
   has the 25-file hostile suite; here the HTTP upload, with the server's memory measured);
3. a deeply nested JSON header was a 500, and the broken upload stayed listed (now 422, never
   listed);
4. stalled connections were never closed (now 408 and closed: ``server.connections``);
5. a 1,000,000-character value echoed whole, an unknown style refused only after the photo was
   decoded, /docs from a CDN, a warning for ``--host 127.0.0.2`` (all fixed).

``experiments/reliability_report.py`` runs ``run_probes`` and ``stall_table`` for the tables
in docs/reliability.md.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from unittest import mock

import pytest
import torch

pytest.importorskip("fastapi", reason="the server extra is not installed (pip install -e "
                                      "'.[dev]')")
from fastapi.testclient import TestClient
from safetensors.torch import save as save_safetensors_bytes

from brushwork.cli import main
from brushwork.server import ServerSettings, create_app
from tests.helpers import HOSTILE_RSS_BOUND, make_photo, peak_growth, tiny_model

#: What a cross-site page sends with a form or fetch (Chromium's headers).
CROSS_SITE = {"Origin": "http://evil.example", "Sec-Fetch-Site": "cross-site",
              "Sec-Fetch-Mode": "no-cors"}
#: What the server's own page sends with its uploads (served at http://localhost).
OWN_PAGE = {"Origin": "http://localhost", "Sec-Fetch-Site": "same-origin",
            "Sec-Fetch-Mode": "cors"}
#: Longest answer a refusal that quotes a 1,000,000-character value may have.
SHORT_ANSWER = 2000


@dataclass
class Kit:
    """What the probes send: the tiny model (offered as the style ``tiny``) and a photo."""

    folder: Path
    model: Path
    photo: bytes

    def model_bytes(self) -> bytes:
        return self.model.read_bytes()


def make_kit(folder: Path) -> Kit:
    folder.mkdir(parents=True, exist_ok=True)
    buffer = io.BytesIO()
    make_photo().save(buffer, format="JPEG", quality=90)
    return Kit(folder, tiny_model(folder / "tiny.safetensors"), buffer.getvalue())


def make_client(kit: Kit, **settings) -> TestClient:
    """A TestClient asking for ``localhost`` (a name the server answers to)."""
    options = {"models": [kit.model], "device": "cpu", "precision": "float32", **settings}
    return TestClient(create_app(ServerSettings(**options)), base_url="http://localhost",
                      raise_server_exceptions=False)


class ProbeFailed(AssertionError):
    """A probe got something else than it expected (the message says what)."""


def answer(response, status: int, *fragments: str) -> str:
    """``"STATUS: detail"`` if ``response`` is ``status`` with a JSON detail holding every
    fragment; raises ProbeFailed otherwise."""
    text = response.text
    got = f"{response.status_code}: {text[:160]}"
    if response.status_code != status:
        raise ProbeFailed(f"expected {status}, got {got}")
    if status >= 400:
        try:
            detail = response.json()["detail"]
        except (ValueError, KeyError, TypeError):
            raise ProbeFailed(f"not a JSON error: {got}") from None
        missing = [f for f in fragments if f not in detail]
        if missing or "\n" in detail:
            raise ProbeFailed(f"detail lacks {missing} or spans lines: {detail[:200]}")
        return f"{status}: {detail}"
    return f"{status}"


def check(condition: bool, message: str) -> None:
    if not condition:
        raise ProbeFailed(message)


@dataclass
class Probe:
    finding: int
    name: str
    expected: str
    run: Callable[[TestClient, Kit], str]


PROBES: list[Probe] = []


def probe(finding: int, name: str, expected: str):
    """Register a probe: a function (client, kit) -> what happened, raising ProbeFailed."""
    def register(function: Callable[[TestClient, Kit], str]) -> Callable:
        PROBES.append(Probe(finding, name, expected, function))
        return function
    return register


def styles(client: TestClient) -> list[str]:
    return [s["id"] for s in client.get("/v1/styles").json()["styles"]]


def photo_files(kit: Kit) -> dict:
    return {"file": ("photo.jpg", kit.photo)}


# ------------------------------------------------------ 1. Host and Origin (DNS rebinding)


@probe(1, "GET /v1/styles with Host: evil.example (DNS rebinding)", "403")
def _styles_evil_host(client: TestClient, kit: Kit) -> str:
    return answer(client.get("/v1/styles", headers={"Host": "evil.example"}), 403,
                  "DNS rebinding", "--allowed-host")


@probe(1, "GET /v1/styles with Host: evil.example:8000", "403")
def _styles_evil_host_port(client: TestClient, kit: Kit) -> str:
    return answer(client.get("/v1/styles", headers={"Host": "evil.example:8000"}), 403,
                  "evil.example:8000")


@probe(1, "GET /v1/health with Host: 127.0.0.1.evil.example", "403")
def _health_lookalike(client: TestClient, kit: Kit) -> str:
    return answer(client.get("/v1/health", headers={"Host": "127.0.0.1.evil.example"}), 403)


@probe(1, "POST /v1/stylize with Host: evil.example", "403, nothing painted")
def _stylize_evil_host(client: TestClient, kit: Kit) -> str:
    result = answer(client.post("/v1/stylize", headers={"Host": "evil.example"},
                                data={"style": "tiny", "size": "32"}, files=photo_files(kit)),
                    403)
    check(client.app.state.worker.models.loads == 1, "a model was loaded")  # --model only
    return result


@probe(1, "POST /v1/models with Host: evil.example", "403, nothing stored")
def _models_evil_host(client: TestClient, kit: Kit) -> str:
    before = styles(client)
    result = answer(client.post("/v1/models", headers={"Host": "evil.example"},
                                files={"file": ("m.safetensors", kit.model_bytes())}), 403)
    check(styles(client) == before, "a style was stored")
    return result


@probe(1, "POST /v1/models (multipart) from a page on evil.example: Origin + Sec-Fetch-Site "
          "cross-site", "403, nothing stored")
def _models_cross_site(client: TestClient, kit: Kit) -> str:
    before = styles(client)
    result = answer(client.post("/v1/models", headers=CROSS_SITE,
                                files={"file": ("m.safetensors", kit.model_bytes())}),
                    403, "cross-site", "evil.example")
    check(styles(client) == before, "a style was stored")
    return result


@probe(1, "POST /v1/jobs with Origin: http://evil.example only (an older browser)", "403")
def _jobs_origin_only(client: TestClient, kit: Kit) -> str:
    return answer(client.post("/v1/jobs", headers={"Origin": "http://evil.example"},
                              data={"style": "tiny", "size": "32"}, files=photo_files(kit)),
                  403, "cross-site")


@probe(1, "POST /v1/stylize with Sec-Fetch-Site: cross-site only", "403")
def _stylize_fetch_site_only(client: TestClient, kit: Kit) -> str:
    return answer(client.post("/v1/stylize", headers={"Sec-Fetch-Site": "cross-site"},
                              data={"style": "tiny", "size": "32"}, files=photo_files(kit)),
                  403, "cross-site")


@probe(1, "POST /v1/models with Origin: null (a sandboxed frame, a file:// page)", "403")
def _models_null_origin(client: TestClient, kit: Kit) -> str:
    return answer(client.post("/v1/models", headers={"Origin": "null"},
                              files={"file": ("m.safetensors", kit.model_bytes())}), 403)


@probe(1, "POST /v1/models from another local site (Origin http://localhost:3000, "
          "same-site)", "403")
def _models_other_port(client: TestClient, kit: Kit) -> str:
    headers = {"Origin": "http://localhost:3000", "Sec-Fetch-Site": "same-site"}
    return answer(client.post("/v1/models", headers=headers,
                              files={"file": ("m.safetensors", kit.model_bytes())}), 403)


@probe(1, "GET a thumbnail embedded by another site (<img>: cross-site, no-cors)",
       "403, nothing painted")
def _thumbnail_embedded(client: TestClient, kit: Kit) -> str:
    result = answer(client.get("/v1/styles/tiny/thumbnail", headers=CROSS_SITE), 403)
    check(client.app.state.worker.models.loads == 1, "a model was loaded")
    return result


@probe(1, "GET / by following a link on another site (cross-site navigation)", "200")
def _page_from_a_link(client: TestClient, kit: Kit) -> str:
    headers = {"Sec-Fetch-Site": "cross-site", "Sec-Fetch-Mode": "navigate"}
    return answer(client.get("/", headers=headers), 200)


@probe(1, "GET / in a frame on another site (clickjacking)", "403; the page forbids framing")
def _page_in_a_frame(client: TestClient, kit: Kit) -> str:
    headers = {"Sec-Fetch-Site": "cross-site", "Sec-Fetch-Mode": "navigate",
               "Sec-Fetch-Dest": "iframe"}
    result = answer(client.get("/", headers=headers), 403)
    page = client.get("/")
    check(page.headers.get("x-frame-options") == "DENY", "no X-Frame-Options on the page")
    check("frame-ancestors 'none'" in page.headers.get("content-security-policy", ""),
          "no frame-ancestors on the page")
    return result


@probe(1, "the page's own upload (Origin http://localhost, same-origin)", "201")
def _own_page_upload(client: TestClient, kit: Kit) -> str:
    return answer(client.post("/v1/models", headers=OWN_PAGE,
                              files={"file": ("m.safetensors", kit.model_bytes())}), 201)


@probe(1, "Host: localhost:8000, 127.0.0.1:8000, [::1]:8000, none (scripts)", "200 each")
def _loopback_names(client: TestClient, kit: Kit) -> str:
    for host in ("localhost:8000", "127.0.0.1:8000", "[::1]:8000", "LOCALHOST"):
        answer(client.get("/v1/health", headers={"Host": host}), 200)
    return "200 each"


# ------------------------------------------------------- 2. and 3. hostile model uploads


def hostile_model(document: str) -> bytes:
    return save_safetensors_bytes({}, metadata={"brushwork": document})


ISSUE_MODEL = json.dumps({"format_version": 1, "architecture": "mtnet",
                          "network": {"style_rgb": [32, 64, 1536]}})
NESTED_MODEL = "[" * 100_000 + "]" * 100_000


@probe(2, "POST /v1/models: a 144-byte file asking for style_rgb [32, 64, 1536]",
       f"422, peak RSS growth < {HOSTILE_RSS_BOUND >> 20} MiB, not listed")
def _upload_the_issues_model(client: TestClient, kit: Kit) -> str:
    client.get("/v1/styles")  # warm up
    responses = []
    growth = peak_growth(lambda: responses.append(client.post(
        "/v1/models", files={"file": ("big.safetensors", hostile_model(ISSUE_MODEL))})))
    result = answer(responses[0], 422, "1536", "outside the range")
    check(growth < HOSTILE_RSS_BOUND, f"peak RSS rose by {growth / 2**20:.0f} MiB")
    check(not any(s.startswith("upload-") for s in styles(client)), "the upload is listed")
    return f"{result} (peak RSS +{max(growth, 0) / 2**20:.0f} MiB)"


@probe(3, "POST /v1/models: metadata nested 100,000 deep; then the style it would have been",
       "422, not listed; then 404 / 422")
def _upload_nested(client: TestClient, kit: Kit) -> str:
    data = hostile_model(NESTED_MODEL)
    style_id = f"upload-{hashlib.sha256(data).hexdigest()[:16]}"
    result = answer(client.post("/v1/models", files={"file": ("deep.safetensors", data)}),
                    422, "nested")
    check(style_id not in styles(client), "the refused upload is listed")
    answer(client.get(f"/v1/styles/{style_id}/thumbnail"), 404, "unknown style")
    answer(client.post("/v1/stylize", data={"style": style_id, "size": "32"},
                       files=photo_files(kit)), 422, "unknown style")
    return result


@probe(3, "POST /v1/stylize with a nested model in its 'model' field", "422")
def _stylize_nested_model(client: TestClient, kit: Kit) -> str:
    files = {**photo_files(kit), "model": ("deep.safetensors", hostile_model(NESTED_MODEL))}
    return answer(client.post("/v1/stylize", data={"size": "32"}, files=files), 422, "nested")


# ------------------------------------------------------------------------- 5. the rest


@probe(5, "POST /v1/stylize with a 1,000,000-character style", f"422, < {SHORT_ANSWER} bytes")
def _long_style(client: TestClient, kit: Kit) -> str:
    response = client.post("/v1/stylize", data={"style": "x" * 1_000_000, "size": "32"},
                           files=photo_files(kit))
    result = answer(response, 422, "unknown style", "1,000,000 characters")
    check(len(response.content) < SHORT_ANSWER, f"{len(response.content):,}-byte answer")
    return f"{result[:120]} ({len(response.content)} bytes)"


@probe(5, "POST /v1/stylize with a 1,000,000-character size", f"422, < {SHORT_ANSWER} bytes")
def _long_size(client: TestClient, kit: Kit) -> str:
    response = client.post("/v1/stylize", data={"style": "tiny", "size": "9" * 1_000_000},
                           files=photo_files(kit))
    result = answer(response, 422, "size")
    check(len(response.content) < SHORT_ANSWER, f"{len(response.content):,}-byte answer")
    return f"{result[:120]} ({len(response.content)} bytes)"


@probe(5, "POST /v1/stylize: unknown style, and a file that is not a photo", "422 (style), "
          "the photo never decoded")
def _unknown_style_first(client: TestClient, kit: Kit) -> str:
    with mock.patch("brushwork.server.app.read_image",
                    side_effect=AssertionError("the photo was decoded")) as read:
        response = client.post("/v1/stylize", data={"style": "no-such-style", "size": "32"},
                               files={"file": ("notes.jpg", b"not a photo" * 100)})
    check(read.call_count == 0, "the photo was decoded")
    return answer(response, 422, "unknown style", "no-such-style")


def _page_assets(html: str) -> list[str]:
    return re.findall(r'(?:src|href)="([^"]+)"', html)


@probe(5, "GET /docs (Swagger UI): every asset from this server; /redoc (CDN) off",
       "200, no external URL; 404")
def _docs_offline(client: TestClient, kit: Kit) -> str:
    response = client.get("/docs")
    answer(response, 200)
    html = response.text
    check("http://" not in html and "https://" not in html, "/docs names a URL elsewhere")
    assets = _page_assets(html)
    check(len(assets) >= 3, f"/docs loads {assets}")
    for asset in assets:
        answer(client.get(asset), 200)
    answer(client.get("/openapi.json"), 200)
    answer(client.get("/redoc"), 404)
    return f"200; assets: {', '.join(sorted(assets))}"


def _serve_warning(kit: Kit, host: str) -> str:
    stderr = io.StringIO()
    with mock.patch("uvicorn.run"), contextlib.redirect_stderr(stderr):
        code = main(["serve", "--host", host, "--model", str(kit.model), "--device", "cpu"])
    check(code == 0, f"exit {code}: {stderr.getvalue()}")
    return stderr.getvalue()


@probe(5, "brushwork serve --host 127.0.0.2 (loopback)", "no warning")
def _loopback_host_no_warning(client: TestClient, kit: Kit) -> str:
    err = _serve_warning(kit, "127.0.0.2")
    check("warning" not in err, err)
    return err.strip().splitlines()[-1]


@probe(5, "brushwork serve --host 0.0.0.0", "a warning")
def _wildcard_warns(client: TestClient, kit: Kit) -> str:
    err = _serve_warning(kit, "0.0.0.0")
    check("warning: serving on 0.0.0.0" in err, err)
    return err.strip().splitlines()[0][:100]


@dataclass
class Outcome:
    probe: Probe
    got: str
    ok: bool
    seconds: float


def run_probes(folder: Path, probes: list[Probe] | None = None) -> list[Outcome]:
    """Every probe on a fresh server (for the report and the tests)."""
    kit = make_kit(folder)
    outcomes = []
    for item in probes or PROBES:
        began = time.monotonic()
        with torch.random.fork_rng(devices=[]), make_client(kit) as client:
            try:
                got, ok = item.run(client, kit), True
            except ProbeFailed as failure:
                got, ok = str(failure), False
        outcomes.append(Outcome(item, " ".join(got.split()), ok, time.monotonic() - began))
    return outcomes


@pytest.mark.parametrize("item", PROBES, ids=lambda p: f"{p.finding}-{p.name[:50]}")
def test_probe(tmp_path, item):
    outcome = run_probes(tmp_path, [item])[0]
    assert outcome.ok, outcome.got


def test_every_finding_has_probes():
    assert {p.finding for p in PROBES} | {4} == {1, 2, 3, 4, 5}  # 4: stall_table below


# ------------------------------------------------------------ settings beyond the default


def test_allowed_host_lets_a_proxy_name_in(tmp_path):
    kit = make_kit(tmp_path)
    with torch.random.fork_rng(devices=[]), make_client(
            kit, allowed_hosts=("brushwork.example",)) as client:
        assert client.get("/v1/health", headers={"Host": "brushwork.example"}).status_code == 200
        assert client.get("/v1/health", headers={"Host": "evil.example"}).status_code == 403
        # behind a proxy that rewrites Host, the page's Origin is the proxy's name
        headers = {"Host": "127.0.0.1:8000", "Origin": "https://brushwork.example",
                   "Sec-Fetch-Site": "same-origin"}
        response = client.post("/v1/models", headers=headers,
                               files={"file": ("m.safetensors", kit.model_bytes())})
        assert response.status_code == 201, response.text


def test_a_wildcard_bind_answers_addresses_not_names(tmp_path):
    kit = make_kit(tmp_path)
    with torch.random.fork_rng(devices=[]), make_client(kit, host="0.0.0.0") as client:
        for host in ("192.168.1.5:8000", "[fe80::1]:8000", "localhost:8000"):
            assert client.get("/v1/health", headers={"Host": host}).status_code == 200, host
        assert client.get("/v1/health", headers={"Host": "evil.example"}).status_code == 403


def test_allowed_host_star_turns_the_host_check_off(tmp_path):
    kit = make_kit(tmp_path)
    with torch.random.fork_rng(devices=[]), make_client(kit, allowed_hosts=("*",)) as client:
        assert client.get("/v1/health", headers={"Host": "anything.example"}).status_code == 200


@pytest.mark.parametrize(("value", "expected"), [
    ("localhost:8000", ("localhost", "8000")), ("[::1]:8000", ("::1", "8000")),
    ("127.0.0.1", ("127.0.0.1", "")), ("Example.COM.", ("example.com", "")),
    ("evil.example:80x", ("", "")), ("a b", ("", "")), ("", ("", "")),
])
def test_split_host(value, expected):
    from brushwork.server.guard import split_host

    assert split_host(value) == expected


@pytest.mark.parametrize(("host", "loopback"), [
    ("127.0.0.1", True), ("127.0.0.2", True), ("127.255.0.9", True), ("::1", True),
    ("[::1]", True), ("localhost", True), ("0.0.0.0", False), ("::", False),
    ("192.168.1.5", False), ("example.com", False),
])
def test_is_loopback(host, loopback):
    from brushwork.server.guard import is_loopback

    assert is_loopback(host) is loopback


def test_a_model_that_fails_to_load_for_any_reason_is_never_listed(tmp_path, monkeypatch):
    """An upload whose loading raises something unexpected is not offered: it used to stay
    listed, every request naming it a 500 until it was evicted. A bug is still a 500."""
    import brushwork.api

    kit = make_kit(tmp_path)
    with torch.random.fork_rng(devices=[]), make_client(kit) as client:
        monkeypatch.setattr(brushwork.api, "load_model",
                            mock.Mock(side_effect=RuntimeError("a bug")))
        response = client.post("/v1/models", files={"file": ("m.safetensors", b"{}" * 10)})
        assert response.status_code == 500
        assert not any(s.startswith("upload-") for s in styles(client))
        assert not list(Path(client.app.state.worker.styles.upload_dir).iterdir())


# ------------------------------------------------------------- 4. stalled connections
# (on real sockets: tests/integration/test_server_connections.py)


def test_serve_passes_its_connection_settings_to_uvicorn(builtin_styles, monkeypatch):
    import uvicorn

    seen = {}
    monkeypatch.setattr(uvicorn, "run", lambda app, **kw: seen.update(kw))
    assert main(["serve", "--device", "cpu", "--header-timeout", "4", "--idle-timeout",
                 "7"]) == 0
    protocol = seen["http"]
    assert (protocol.header_timeout, protocol.idle_timeout) == (4.0, 7.0)
    assert seen["timeout_keep_alive"] == 5
    assert main(["serve", "--device", "cpu"]) == 0
    assert (seen["http"].header_timeout, seen["http"].idle_timeout) == (10.0, 30.0)


@pytest.mark.parametrize("flag", ["--header-timeout", "--idle-timeout"])
def test_timeouts_must_be_positive(builtin_styles, capsys, flag):
    with pytest.raises(SystemExit):
        main(["serve", "--device", "cpu", flag, "0"])
    assert flag in capsys.readouterr().err
