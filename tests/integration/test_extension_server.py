"""The genesys-token extension's localhost API under bad requests and a burst of callers.

Runs the extension's real TokenServer in this process (port 0) over a real provider: moto and the
Genesys emulator behind it.
"""

from __future__ import annotations

import http.client
import json
import socket
import threading
import time
from collections.abc import Iterator

import pytest

from genesys_auth import build_provider
from genesys_auth.extension_client import TIMEOUT_HEADER, TOKEN_HEADER
from genesys_token.server import MAX_BODY_BYTES, TokenServer
from genesys_token.service import TokenService
from tests.conftest import App

SESSION = "session-token-of-this-sandbox"


@pytest.fixture
def server(app: App) -> Iterator[TokenServer]:
    service = TokenService(build_provider(app.settings(), use_extension=False))
    srv = TokenServer(0, SESSION, max_wait=5.0)
    srv.attach(service)
    srv.start()
    yield srv
    srv.stop()


def _request(
    srv: TokenServer, method: str, path: str, headers: dict[str, str] | None = None, body: bytes | None = None
) -> tuple[int, dict[str, str], bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", srv.server_address[1], timeout=10)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        response = conn.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        conn.close()


@pytest.mark.parametrize("method", ["GET", "HEAD", "PUT", "DELETE", "POST", "PATCH"])
def test_every_method_without_the_guard_header_is_403_with_an_empty_body(server: TokenServer, method: str) -> None:
    status, headers, body = _request(server, method, "/token")
    assert status == 403
    assert body == b""
    assert "html" not in headers.get("Content-Type", "")


def test_guard_is_checked_before_the_body_is_read(server: TokenServer) -> None:
    """A request announcing a huge body it never sends gets its 403 at once."""
    with socket.create_connection(("127.0.0.1", server.server_address[1]), timeout=5) as sock:
        sock.sendall(b"POST /token/invalidate HTTP/1.1\r\nHost: x\r\nContent-Length: 100000000\r\n\r\n")
        started = time.monotonic()
        answer = sock.recv(4096)
    assert answer.startswith(b"HTTP/1.1 403")
    assert time.monotonic() - started < 2


def test_bad_content_length_is_400(server: TokenServer) -> None:
    with socket.create_connection(("127.0.0.1", server.server_address[1]), timeout=5) as sock:
        sock.sendall(
            f"POST /token/invalidate HTTP/1.1\r\nHost: x\r\n{TOKEN_HEADER}: {SESSION}\r\nContent-Length: abc\r\n\r\n".encode()
        )
        answer = sock.recv(4096)
    assert answer.startswith(b"HTTP/1.1 400")
    assert b"Content-Length" in answer


def test_bad_timeout_header_is_400(server: TokenServer) -> None:
    for value in ("abc", "-5", "1.5", str(10**12)):
        status, _, body = _request(server, "GET", "/token", {TOKEN_HEADER: SESSION, TIMEOUT_HEADER: value})
        assert status == 400, value
        assert json.loads(body)["error"] == "bad_request"


def test_oversized_body_is_413(server: TokenServer) -> None:
    status, _, body = _request(
        server, "POST", "/token/invalidate", {TOKEN_HEADER: SESSION}, b"x" * (MAX_BODY_BYTES + 1)
    )
    assert status == 413
    assert json.loads(body)["error"] == "bad_request"


def test_malformed_invalidation_bodies_are_400(server: TokenServer) -> None:
    for body in (b"[" * 3000, b"not json", b'{"token_hash": "zz"}', b'{"token_hash": 5}', b"[]"):
        status, _, answer = _request(server, "POST", "/token/invalidate", {TOKEN_HEADER: SESSION}, body)
        assert status == 400, body[:20]
        assert json.loads(answer)["error"] == "bad_request"


def test_unknown_path_with_the_header_is_a_json_404(server: TokenServer) -> None:
    status, headers, _ = _request(server, "DELETE", "/token", {TOKEN_HEADER: SESSION})
    assert status == 404
    assert headers["Content-Type"] == "application/json"


def test_two_hundred_concurrent_callers_are_all_served(server: TokenServer) -> None:
    assert _request(server, "GET", "/token", {TOKEN_HEADER: SESSION})[0] == 200  # token in memory
    results: list[int] = []
    lock = threading.Lock()
    go = threading.Event()

    def call() -> None:
        go.wait()
        try:
            status = _request(server, "GET", "/token", {TOKEN_HEADER: SESSION})[0]
        except OSError:
            status = -1
        with lock:
            results.append(status)

    threads = [threading.Thread(target=call) for _ in range(200)]
    for thread in threads:
        thread.start()
    go.set()
    for thread in threads:
        thread.join(30)
    assert results.count(200) == 200, {s: results.count(s) for s in set(results)}
