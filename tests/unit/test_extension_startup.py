"""The genesys-token extension before its token service exists: it answers, and token requests wait.

The server is bound and registered before genesys_auth is imported, so requests can arrive while the
service is still being built. They wait for it, bounded by X-Genesys-Timeout-Ms, instead of failing.
The service here is a stand-in with a fixed token (pure HTTP logic, no AWS or Genesys behaviour).
"""

from __future__ import annotations

import http.client
import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from genesys_auth import Settings, Token, TokenState
from genesys_auth.deadline import Deadline
from genesys_auth.extension_client import TIMEOUT_HEADER, TOKEN_HEADER
from genesys_auth.fingerprint import token_hash

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "extension"))
try:
    from genesys_token import server as server_module
    from genesys_token.server import TokenServer
    from genesys_token.startup import StartupConfig
finally:
    sys.path.remove(str(ROOT / "extension"))

SESSION = "session-token-for-the-guard"
TOKEN = Token(
    access_token="a-made-up-access-token-for-this-test",
    token_type="bearer",
    expires_at=time.time() + 3600,
    lifetime=3600,
)


class FixedService:
    """What the server asks of a TokenService, with one fixed token."""

    pool_max = 8

    def state(self) -> TokenState:
        return TokenState.FRESH

    def token(self, deadline: Deadline, slot: int = 0) -> Token:
        return TOKEN

    def invalidate(self, digest: str, deadline: Deadline, slot: int = 0) -> Token:
        return TOKEN

    def describe(self, token: Token, slot: int) -> dict[str, Any]:
        return {**token.to_dict(), "slot": slot, "slots": 1, "pool_mode": "per-token", "opened": False}


class ObservedServer(TokenServer):
    """Tells the test when a request has started waiting for the service (no sleeping to find out)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.waiting = threading.Event()
        super().__init__(*args, **kwargs)

    def wait_for_service(self, seconds: float) -> Any:
        self.waiting.set()
        return super().wait_for_service(seconds)


@pytest.fixture
def server() -> Iterator[ObservedServer]:
    srv = ObservedServer(0, SESSION, max_wait=30.0)
    srv.start()
    yield srv
    srv.stop()


def _request(srv: TokenServer, path: str, headers: dict[str, str], out: dict[str, Any]) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", srv.server_address[1], timeout=20)
    started = time.monotonic()
    try:
        conn.request("GET", path, headers=headers)
        response = conn.getresponse()
        raw = response.read()
        out.update(status=response.status, body=json.loads(raw) if raw else None)
    finally:
        out["seconds"] = time.monotonic() - started
        conn.close()


def test_health_answers_before_the_token_service_exists(server: ObservedServer) -> None:
    out: dict[str, Any] = {}
    _request(server, "/health", {}, out)
    assert out["status"] == 200
    assert out["body"] == {"ready": True, "token": "starting"}
    assert not server.waiting.is_set()  # /health never waits


def test_a_token_request_before_the_service_waits_for_it_then_gets_the_token(server: ObservedServer) -> None:
    out: dict[str, Any] = {}
    caller = threading.Thread(target=_request, args=(server, "/token", {TOKEN_HEADER: SESSION}, out))
    caller.start()
    assert server.waiting.wait(10), "the request never reached the wait"
    assert "status" not in out  # still waiting: nothing answered it yet
    server.attach(FixedService())  # type: ignore[arg-type]  # the parts of TokenService the server uses
    caller.join(20)
    assert out["status"] == 200
    assert out["body"]["fingerprint"] == TOKEN.fingerprint


def test_the_wait_is_bounded_by_the_callers_timeout_header(server: ObservedServer) -> None:
    out: dict[str, Any] = {}
    _request(server, "/token", {TOKEN_HEADER: SESSION, TIMEOUT_HEADER: "300"}, out)
    assert out["status"] == 503
    assert out["body"]["error"] == "unavailable"
    assert "still starting" in out["body"]["message"]
    assert 0.29 <= out["seconds"] < 10.0  # waited its 300 ms, and not the 30 s max wait


def test_a_service_that_cannot_be_built_fails_the_waiting_request_with_its_error(server: ObservedServer) -> None:
    out: dict[str, Any] = {}
    caller = threading.Thread(target=_request, args=(server, "/token", {TOKEN_HEADER: SESSION}, out))
    caller.start()
    assert server.waiting.wait(10)
    server.fail("configuration", "GENESYS_SECRET_ID is not set")
    caller.join(20)
    assert out["status"] == 502
    assert out["body"] == {"error": "configuration", "message": "GENESYS_SECRET_ID is not set"}
    assert out["seconds"] < 10.0


def test_the_guard_applies_while_starting(server: ObservedServer) -> None:
    out: dict[str, Any] = {}
    _request(server, "/token", {}, out)
    assert out["status"] == 403
    assert not server.waiting.is_set()


def test_the_servers_copies_of_library_rules_agree_with_the_library() -> None:
    assert (server_module.TOKEN_HEADER, server_module.TIMEOUT_HEADER) == (TOKEN_HEADER, TIMEOUT_HEADER)
    assert server_module._digest(json.dumps({"token": "some-token"}).encode()) == token_hash("some-token")
    for env in ({}, {"GENESYS_TOKEN_EXTENSION_PORT": "2999", "GENESYS_MAX_WAIT_SECONDS": "4.5"}):
        settings = Settings.from_env({"GENESYS_SECRET_ID": "s", **env})
        startup = StartupConfig.from_env(env)
        assert (startup.port, startup.max_wait) == (settings.extension_port, settings.max_wait)
    with pytest.raises(ValueError, match="GENESYS_MAX_WAIT_SECONDS must be a number"):
        StartupConfig.from_env({"GENESYS_MAX_WAIT_SECONDS": "soon"})
    with pytest.raises(ValueError, match="GENESYS_TOKEN_EXTENSION_PORT must be a TCP port number"):
        StartupConfig.from_env({"GENESYS_TOKEN_EXTENSION_PORT": "70000"})


def test_the_server_and_registration_need_nothing_but_the_standard_library() -> None:
    probe = (
        "import sys; import genesys_token.__main__, genesys_token.server; "
        "print(sorted(m for m in ('genesys_auth', 'requests', 'urllib3', 'boto3', 'botocore') if m in sys.modules))"
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "extension"), str(ROOT / "layer")])}
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, env=env, timeout=60, check=True
    )
    assert done.stdout.strip() == "[]"
