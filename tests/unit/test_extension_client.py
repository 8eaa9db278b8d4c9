"""ExtensionSource against a scripted localhost server: when it trusts the extension, when it falls back."""

from __future__ import annotations

import http.server
import json
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from genesys_auth import Settings, Token, UnavailableError
from genesys_auth.deadline import Deadline
from genesys_auth.extension_client import TOKEN_HEADER, ExtensionSource, extension_wanted
from genesys_auth.metrics import Metrics

SESSION = "session-token-for-the-guard"


class FakeFallback:
    name = "fake"

    def __init__(self) -> None:
        self.fetches = 0
        self.invalidated: list[str] = []

    def fetch(self, current: Token | None, deadline: Deadline, *, slot: int = 0) -> Token:
        self.fetches += 1
        return Token("in-process-token-value", "bearer", time.time() + 3600, 3600)

    def invalidate(self, token_hash: str, *, slot: int = 0) -> None:
        self.invalidated.append(token_hash)


class Scripted(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.answer: tuple[int, bytes] = (200, b"{}")
        self.requests: list[dict[str, Any]] = []


class _Handler(http.server.BaseHTTPRequestHandler):
    server: Scripted

    def log_message(self, format: str, *args: Any) -> None:
        return

    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        self.server.requests.append({"path": self.path, "guard": self.headers.get(TOKEN_HEADER), "body": body})
        status, data = self.server.answer
        self.send_response(status)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = _answer
    do_POST = _answer


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch) -> Iterator[Scripted]:
    monkeypatch.setenv("AWS_SESSION_TOKEN", SESSION)
    srv = Scripted()
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    yield srv
    srv.shutdown()
    srv.server_close()


def _source(port: int) -> tuple[ExtensionSource, FakeFallback]:
    fallback = FakeFallback()
    settings = Settings(secret_id="s", region="mypurecloud.ie", extension="on", extension_port=port)
    return ExtensionSource(settings, fallback=fallback, metrics=Metrics(enabled=False)), fallback


def _token_body(**overrides: Any) -> bytes:
    body = {"access_token": "from-the-extension", "token_type": "bearer", "expires_at": time.time() + 600}
    body.update(lifetime=900, version=3, api_url="https://api.mypurecloud.ie")
    body.update(overrides)
    return json.dumps(body).encode()


def test_extension_wanted_follows_the_setting_and_lambda(monkeypatch: pytest.MonkeyPatch) -> None:
    def settings(mode: str) -> Settings:
        return Settings(secret_id="s", extension=mode)

    monkeypatch.delenv("AWS_LAMBDA_RUNTIME_API", raising=False)
    assert [extension_wanted(settings(m)) for m in ("auto", "on", "off")] == [False, True, False]
    monkeypatch.setenv("AWS_LAMBDA_RUNTIME_API", "127.0.0.1:9001")
    assert [extension_wanted(settings(m)) for m in ("auto", "on", "off")] == [True, True, False]


def test_token_from_the_extension_carries_the_guard_header(server: Scripted) -> None:
    server.answer = (200, _token_body())
    source, fallback = _source(server.server_address[1])
    token = source.fetch(None, Deadline.after(5))
    assert token is not None and token.access_token == "from-the-extension"
    assert (token.version, token.api_url) == (3, "https://api.mypurecloud.ie")
    assert server.requests[0]["guard"] == SESSION
    assert fallback.fetches == 0


def test_dead_extension_costs_one_connect_per_down_window() -> None:
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    source, fallback = _source(port)
    for _ in range(3):
        assert source.fetch(None, Deadline.after(5)) is not None
    assert fallback.fetches == 3
    assert source.failures == 1
    assert source.metrics.counts == {"ExtensionUnavailable": 1}


@pytest.mark.parametrize(
    "answer",
    [(500, b"Internal Server Error"), (403, b""), (200, b"not json"), (200, _token_body(expires_at=1.0))],
    ids=["500-text", "403", "bad-json", "expired"],
)
def test_unusable_answers_fall_back_in_process(server: Scripted, answer: tuple[int, bytes]) -> None:
    server.answer = answer
    source, fallback = _source(server.server_address[1])
    token = source.fetch(None, Deadline.after(5))
    assert token is not None and token.access_token == "in-process-token-value"
    assert fallback.fetches == 1 and source.failures == 1


def test_reported_genesys_errors_are_raised_not_redone_in_process(server: Scripted) -> None:
    server.answer = (503, json.dumps({"error": "unavailable", "message": "Genesys answered 503"}).encode())
    source, fallback = _source(server.server_address[1])
    with pytest.raises(UnavailableError, match="Genesys answered 503"):
        source.fetch(None, Deadline.after(5))
    assert fallback.fetches == 0 and source.failures == 0


def test_invalidate_goes_to_the_extension_and_to_the_fallback_only_when_it_is_down(server: Scripted) -> None:
    server.answer = (200, _token_body())
    source, fallback = _source(server.server_address[1])
    source.invalidate("ab" * 32)
    assert json.loads(server.requests[0]["body"]) == {"token_hash": "ab" * 32, "slot": 0}
    assert fallback.invalidated == []
    server.answer = (500, b"")
    source.invalidate("cd" * 32)
    assert fallback.invalidated == ["cd" * 32]
