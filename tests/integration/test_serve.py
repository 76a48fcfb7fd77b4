"""The real ``brushwork serve`` command, started as a user starts it, answering on a socket."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request

import pytest


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_brushwork_serve_answers_on_loopback(tiny_model_file, tmp_path):
    """The real console command, as a user starts it (a subprocess, real sockets)."""
    port = _free_port()
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    process = subprocess.Popen(
        [sys.executable, "-m", "brushwork.cli", "serve", "--port", str(port), "--model",
         str(tiny_model_file), "--device", "cpu", "--header-timeout", "1"],
        cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/v1/health",
                                            timeout=5) as answer:
                    assert json.load(answer)["status"] == "ok"
                    break
            except OSError:
                assert process.poll() is None, process.communicate()
                assert time.monotonic() < deadline, "the server did not start"
                time.sleep(0.3)
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5) as answer:
            assert b"Brushwork" in answer.read()
        # On a real socket: another Host name is refused (DNS rebinding) ...
        rebound = urllib.request.Request(f"http://127.0.0.1:{port}/v1/styles",
                                         headers={"Host": f"evil.example:{port}"})
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(rebound, timeout=5)
        assert refused.value.code == 403
        assert "DNS rebinding" in json.load(refused.value)["detail"]
        # ... and a client that stalls in its headers is cut off (--header-timeout 1)
        with socket.create_connection(("127.0.0.1", port), timeout=10) as stalled:
            stalled.sendall(b"GET /v1/health HTTP/1.1\r\nHost: 127.0.0.1\r\n")
            began = time.monotonic()
            reply = stalled.recv(4096)
            assert reply.startswith(b"HTTP/1.1 408"), reply
            assert stalled.recv(4096) == b""  # closed
            assert time.monotonic() - began < 5
    finally:
        process.terminate()
        _, err = process.communicate(timeout=30)
    assert f"serving on http://127.0.0.1:{port}/" in err
    assert "Traceback" not in err
