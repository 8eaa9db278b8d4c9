"""Tests of the Genesys Cloud emulator itself, over real HTTP with ``requests``."""

from __future__ import annotations

import base64
import contextlib
import json
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import botocore.config
import botocore.exceptions
import pytest
import requests

from genesys_auth.fingerprint import fingerprint as fp
from tests.harness.blackhole import BlackHole
from tests.harness.genesys_emulator import ORG_ID, ORG_NAME, Canned, GenesysEmulator

REPO_ROOT = Path(__file__).resolve().parents[2]
FORM = {"Content-Type": "application/x-www-form-urlencoded"}
AUTH_FAILED = {
    "error": "invalid_client",
    "description": "authentication failed",
    "error_description": "authentication failed",
}
CLIENT_NOT_FOUND = {
    "error": "invalid_client",
    "description": "client not found",
    "error_description": "client not found",
}
RATE_LIMITED = {
    "error": "invalid_request",
    "description": "rate limit exceeded; retry later",
    "error_description": "rate limit exceeded; retry later",
}
UNAUTHORIZED_CLIENT = {
    "error": "unauthorized_client",
    "description": "client is not authorized to use the client_credential grant type",
    "error_description": "client is not authorized to use the client_credential grant type",
}


@pytest.fixture
def emulator_local() -> Iterator[GenesysEmulator]:
    """A fresh emulator per test, with a small API limit so 429s are cheap."""
    with GenesysEmulator(api_rate_limit=3) as emu:
        yield emu


def mint(
    emu: GenesysEmulator,
    client_id: str,
    secret: str,
    grant_type: str | None = "client_credentials",
) -> requests.Response:
    data = {} if grant_type is None else {"grant_type": grant_type}
    return requests.post(
        f"{emu.url}/oauth/token",
        auth=(client_id, secret),
        data=data,
        headers=FORM,
        timeout=5,
    )


def token_for(emu: GenesysEmulator, client_id: str, secret: str) -> str:
    response = mint(emu, client_id, secret)
    assert response.status_code == 200, response.text
    token: str = response.json()["access_token"]
    return token


def api(
    emu: GenesysEmulator,
    path: str,
    token: str | None,
    method: str = "GET",
    **kwargs: Any,
) -> requests.Response:
    headers = {} if token is None else {"Authorization": f"Bearer {token}"}
    return requests.request(method, f"{emu.url}{path}", headers=headers, timeout=5, **kwargs)


def control(emu: GenesysEmulator, op: str, **kwargs: Any) -> requests.Response:
    return requests.post(f"{emu.url}/__emulator/control", json={"op": op, **kwargs}, timeout=5)


def assert_platform_error(
    response: requests.Response, status: int, code: str, message: str | None = None
) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    assert body["status"] == status
    assert body["code"] == code
    if message is not None:
        assert body["message"] == message
    assert body["details"] == []
    assert body["errors"] == []
    assert body["contextId"] == response.headers["ININ-Correlation-Id"]
    return body


# ---------------------------------------------------------------- token endpoint
def test_successful_mint_shape(emulator_local: GenesysEmulator) -> None:
    client = emulator_local.add_client()
    assert len(client.secret) >= 43
    response = mint(emulator_local, client.client_id, client.secret)
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"access_token", "token_type", "expires_in"}
    assert body["token_type"] == "bearer"
    assert body["expires_in"] == 86399
    assert re.fullmatch(r"[A-Za-z0-9_-]{70,100}", body["access_token"])
    assert emulator_local.issued_tokens(client.client_id) == [body["access_token"]]
    assert emulator_local.mints(client.client_id) == 1


@pytest.mark.parametrize(("lifetime", "expires_in"), [(1, 1), (2, 1), (300, 299)])
def test_expires_in_is_lifetime_minus_one(emulator_local: GenesysEmulator, lifetime: int, expires_in: int) -> None:
    client = emulator_local.add_client("short", "s3cret", lifetime=lifetime)
    assert mint(emulator_local, "short", client.secret).json()["expires_in"] == expires_in


def test_token_endpoint_rejects_bad_credentials(
    emulator_local: GenesysEmulator,
) -> None:
    emulator_local.add_client("cid", "right")
    wrong = mint(emulator_local, "cid", "wrong")
    assert (wrong.status_code, wrong.json()) == (401, AUTH_FAILED)
    unknown = mint(emulator_local, "nobody", "right")
    assert (unknown.status_code, unknown.json()) == (401, CLIENT_NOT_FOUND)

    url = f"{emulator_local.url}/oauth/token"
    body = "grant_type=client_credentials"
    missing = requests.post(url, data=body, headers=FORM, timeout=5)
    assert (missing.status_code, missing.json()) == (401, AUTH_FAILED)
    garbled = requests.post(
        url,
        data=body,
        headers={**FORM, "Authorization": "Basic !!notbase64"},
        timeout=5,
    )
    assert (garbled.status_code, garbled.json()) == (401, AUTH_FAILED)
    no_colon = base64.b64encode(b"cid-right").decode()
    odd = requests.post(
        url,
        data=body,
        headers={**FORM, "Authorization": f"Basic {no_colon}"},
        timeout=5,
    )
    assert (odd.status_code, odd.json()) == (401, AUTH_FAILED)
    assert emulator_local.mints() == 0
    assert emulator_local.counts()["token"]["errors"] == {"invalid_client": 5}


@pytest.mark.parametrize("state", ["disabled", "inactive"])
def test_disabled_and_inactive_clients_cannot_mint(emulator_local: GenesysEmulator, state: str) -> None:
    emulator_local.add_client("cid", "sec", state=state)
    response = mint(emulator_local, "cid", "sec")
    assert (response.status_code, response.json()) == (401, AUTH_FAILED)


def test_grant_type_errors(emulator_local: GenesysEmulator) -> None:
    emulator_local.add_client("cc", "sec")
    emulator_local.add_client("code-only", "sec", grant_type="code")
    not_enabled = mint(emulator_local, "code-only", "sec")
    assert (not_enabled.status_code, not_enabled.json()) == (400, UNAUTHORIZED_CLIENT)
    other_grant = mint(emulator_local, "cc", "sec", grant_type="password")
    assert (other_grant.status_code, other_grant.json()) == (400, UNAUTHORIZED_CLIENT)
    missing = mint(emulator_local, "cc", "sec", grant_type=None)
    assert missing.status_code == 400
    assert missing.json()["error"] == "invalid_request"
    errors = emulator_local.counts()["token"]["errors"]
    assert errors == {"unauthorized_client": 2, "invalid_request": 1}


def test_token_rate_limit_is_400_invalid_request(
    emulator_local: GenesysEmulator,
) -> None:
    emulator_local.token_rate_limit = 2
    emulator_local.add_client("a", "sec")
    emulator_local.add_client("b", "sec")
    assert [mint(emulator_local, "a", "sec").status_code for _ in range(2)] == [
        200,
        200,
    ]
    limited = mint(emulator_local, "a", "sec")
    assert (limited.status_code, limited.json()) == (400, RATE_LIMITED)
    assert "Retry-After" not in limited.headers
    assert mint(emulator_local, "b", "sec").status_code == 200  # limit is per client
    assert emulator_local.mints("a") == 2
    assert emulator_local.counts()["token"]["errors"] == {"rate_limited": 1}


def test_rate_limit_next_on_token_endpoint(emulator_local: GenesysEmulator) -> None:
    emulator_local.add_client("a", "sec")
    emulator_local.rate_limit_next(2)
    first, second, third = (mint(emulator_local, "a", "sec") for _ in range(3))
    assert (first.status_code, first.json()) == (400, RATE_LIMITED)
    assert "Retry-After" not in first.headers
    assert second.status_code == 400
    assert third.status_code == 200

    emulator_local.token_rate_limit_retry_after = 7  # the optional switch
    emulator_local.rate_limit_next(1)
    assert mint(emulator_local, "a", "sec").headers["Retry-After"] == "7"


def test_fail_next_on_both_endpoints(emulator_local: GenesysEmulator) -> None:
    emulator_local.add_client("a", "sec")
    emulator_local.fail_next(1, status=502)
    assert_platform_error(mint(emulator_local, "a", "sec"), 502, "bad.gateway")
    token = token_for(emulator_local, "a", "sec")
    emulator_local.fail_next(2, endpoint="api")
    for _ in range(2):
        assert_platform_error(
            api(emulator_local, "/api/v2/organizations/me", token),
            503,
            "service.unavailable",
            "Service Unavailable",
        )
    assert api(emulator_local, "/api/v2/organizations/me", token).status_code == 200


def test_latency_is_per_endpoint_group(emulator_local: GenesysEmulator) -> None:
    emulator_local.add_client("a", "sec")
    token = token_for(emulator_local, "a", "sec")
    emulator_local.set_latency(0.3, "token")
    started = time.monotonic()
    assert mint(emulator_local, "a", "sec").status_code == 200
    assert time.monotonic() - started >= 0.3
    started = time.monotonic()
    assert api(emulator_local, "/api/v2/organizations/me", token).status_code == 200
    assert time.monotonic() - started < 0.3


def test_concurrent_mints_are_all_counted(emulator_local: GenesysEmulator) -> None:
    emulator_local.add_client("a", "sec")
    statuses: list[int] = []
    lock = threading.Lock()

    def worker() -> None:
        code = mint(emulator_local, "a", "sec").status_code
        with lock:
            statuses.append(code)

    threads = [threading.Thread(target=worker) for _ in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert statuses == [200] * 16
    assert emulator_local.mints("a") == 16
    assert len(set(emulator_local.issued_tokens("a"))) == 16


# ---------------------------------------------------------------- platform API
def test_api_401_codes(emulator_local: GenesysEmulator) -> None:
    emulator_local.add_client("a", "sec")
    path = "/api/v2/organizations/me"
    assert_platform_error(
        api(emulator_local, path, None),
        401,
        "authentication.required",
        "No authentication bearer token specified in authorization header.",
    )
    basic = requests.get(
        f"{emulator_local.url}{path}", auth=("a", "sec"), timeout=5
    )  # a non-bearer scheme is no bearer token
    assert_platform_error(basic, 401, "authentication.required")
    assert_platform_error(
        api(emulator_local, path, "not-a-token"),
        401,
        "bad.credentials",
        "Invalid login credentials.",
    )
    expired = token_for(emulator_local, "a", "sec")
    assert emulator_local.expire_tokens("a") == 1
    assert_platform_error(api(emulator_local, path, expired), 401, "bad.credentials")

    live = token_for(emulator_local, "a", "sec")
    assert api(emulator_local, path, live).status_code == 200
    emulator_local.set_client_state("a", "disabled")
    assert_platform_error(api(emulator_local, path, live), 401, "bad.credentials")


def test_short_lifetime_expires_by_wall_clock(emulator_local: GenesysEmulator, monkeypatch: pytest.MonkeyPatch) -> None:
    emulator_local.add_client("a", "sec", lifetime=1)
    token = token_for(emulator_local, "a", "sec")
    now = time.time()
    monkeypatch.setattr(time, "time", lambda: now + 1.5)
    assert_platform_error(api(emulator_local, "/api/v2/tokens/me", token), 401, "bad.credentials")


def test_api_429_after_rate_limit(emulator_local: GenesysEmulator) -> None:
    emulator_local.add_client("a", "sec")
    token = token_for(emulator_local, "a", "sec")
    other = token_for(emulator_local, "a", "sec")
    path = "/api/v2/organizations/me"
    ok = [api(emulator_local, path, token) for _ in range(3)]
    assert [r.status_code for r in ok] == [200, 200, 200]
    assert [r.headers["inin-ratelimit-count"] for r in ok] == ["1", "2", "3"]
    assert ok[0].headers["inin-ratelimit-allowed"] == "3"
    assert int(ok[0].headers["inin-ratelimit-reset"]) > 0

    limited = api(emulator_local, path, token)
    retry_after = int(limited.headers["Retry-After"])
    assert 1 <= retry_after <= 60
    assert_platform_error(
        limited,
        429,
        "too.many.requests.retry.after",
        f"Rate limit exceeded the maximum. Retry the request in [{retry_after}] seconds",
    )
    assert api(emulator_local, path, other).status_code == 200  # limit is per token
    assert emulator_local.counts()["api"]["status"] == {"200": 4, "429": 1}


def test_rate_limit_next_on_api(emulator_local: GenesysEmulator) -> None:
    emulator_local.add_client("a", "sec")
    token = token_for(emulator_local, "a", "sec")
    emulator_local.rate_limit_next(1, endpoint="api", retry_after=4)
    limited = api(emulator_local, "/api/v2/tokens/me", token)
    assert limited.headers["Retry-After"] == "4"
    assert_platform_error(
        limited,
        429,
        "too.many.requests.retry.after",
        "Rate limit exceeded the maximum. Retry the request in [4] seconds",
    )
    assert api(emulator_local, "/api/v2/tokens/me", token).status_code == 200


def test_organization_and_token_info(emulator_local: GenesysEmulator) -> None:
    client = emulator_local.add_client("a", "sec", name="My client")
    token = token_for(emulator_local, "a", "sec")
    org = api(emulator_local, "/api/v2/organizations/me", token).json()
    assert (org["id"], org["name"]) == (ORG_ID, ORG_NAME)

    info = api(emulator_local, "/api/v2/tokens/me", token).json()
    assert info["organization"]["id"] == ORG_ID
    assert info["organization"]["name"] == ORG_NAME
    assert info["homeOrganization"]["id"] == ORG_ID
    assert info["authorizedScope"] == []
    oauth_client = info["OAuthClient"]
    assert oauth_client["id"] == client.client_id
    assert oauth_client["name"] == "My client"
    assert oauth_client["authorizedGrantType"] == "CLIENT_CREDENTIALS"
    assert oauth_client["state"] == "active"
    assert oauth_client["organization"] == {"id": ORG_ID}
    assert "secret" not in oauth_client


def test_head_and_delete_tokens_me(emulator_local: GenesysEmulator) -> None:
    emulator_local.add_client("a", "sec")
    token = token_for(emulator_local, "a", "sec")
    head = api(emulator_local, "/api/v2/tokens/me", token, method="HEAD")
    assert (head.status_code, head.content) == (200, b"")
    bad_head = api(emulator_local, "/api/v2/tokens/me", "nope", method="HEAD")
    assert (bad_head.status_code, bad_head.content) == (401, b"")

    deleted = api(emulator_local, "/api/v2/tokens/me", token, method="DELETE")
    assert (deleted.status_code, deleted.content) == (204, b"")
    assert_platform_error(api(emulator_local, "/api/v2/tokens/me", token), 401, "bad.credentials")


def test_revocation(emulator_local: GenesysEmulator) -> None:
    emulator_local.add_client("a", "sec")
    emulator_local.add_client("b", "sec")
    a1, a2 = (token_for(emulator_local, "a", "sec") for _ in range(2))
    b1 = token_for(emulator_local, "b", "sec")
    assert emulator_local.revoke_client_tokens("a") == 2
    assert emulator_local.revoke_client_tokens("a") == 0
    for token in (a1, a2):
        assert_platform_error(api(emulator_local, "/api/v2/tokens/me", token), 401, "bad.credentials")
    assert api(emulator_local, "/api/v2/tokens/me", b1).status_code == 200
    emulator_local.revoke_token(b1)
    assert api(emulator_local, "/api/v2/tokens/me", b1).status_code == 401
    # A revoked client can still mint new tokens.
    fresh = token_for(emulator_local, "a", "sec")
    assert api(emulator_local, "/api/v2/tokens/me", fresh).status_code == 200


@pytest.mark.parametrize("survive", [True, False])
def test_regenerate_secret(emulator_local: GenesysEmulator, survive: bool) -> None:
    emulator_local.tokens_survive_regeneration = survive
    client = emulator_local.add_client("a", "old-secret")
    token = token_for(emulator_local, "a", "old-secret")
    new_secret = emulator_local.regenerate_secret("a")
    assert new_secret != "old-secret"
    assert len(new_secret) >= 43
    assert client.secret == new_secret

    old = mint(emulator_local, "a", "old-secret")
    assert (old.status_code, old.json()) == (401, AUTH_FAILED)
    assert mint(emulator_local, "a", new_secret).status_code == 200
    old_token = api(emulator_local, "/api/v2/tokens/me", token)
    assert old_token.status_code == (200 if survive else 401)
    assert emulator_local.counts()["regenerations"] == 1


def test_oauth_client_api(emulator_local: GenesysEmulator) -> None:
    emulator_local.add_client("admin", "sec", permissions={"oauth:client:edit"})
    emulator_local.add_client("app", "app-secret", lifetime=600)
    admin = token_for(emulator_local, "admin", "sec")
    app = token_for(emulator_local, "app", "app-secret")

    got = api(emulator_local, "/api/v2/oauth/clients/app", admin)
    assert got.status_code == 200
    body = got.json()
    assert body["id"] == "app"
    assert body["accessTokenValiditySeconds"] == 600
    assert "secret" not in body

    forbidden = api(emulator_local, "/api/v2/oauth/clients/app/secret", app, method="POST")
    assert_platform_error(forbidden, 403, "missing.permissions")
    assert_platform_error(
        api(emulator_local, "/api/v2/oauth/clients/app", app),
        403,
        "missing.permissions",
    )
    missing = api(emulator_local, "/api/v2/oauth/clients/ghost/secret", admin, method="POST")
    assert_platform_error(missing, 404, "not.found")

    regenerated = api(emulator_local, "/api/v2/oauth/clients/app/secret", admin, method="POST")
    assert regenerated.status_code == 200
    new_secret = regenerated.json()["secret"]
    assert new_secret == emulator_local.client("app").secret != "app-secret"
    assert mint(emulator_local, "app", "app-secret").status_code == 401
    assert mint(emulator_local, "app", new_secret).status_code == 200
    assert api(emulator_local, "/api/v2/tokens/me", app).status_code == 200  # survives
    assert emulator_local.counts()["regenerations"] == 1


def test_queue_paging(emulator_local: GenesysEmulator) -> None:
    emulator_local.add_client("a", "sec")
    emulator_local.api_rate_limit = 100
    token = token_for(emulator_local, "a", "sec")
    pages = [api(emulator_local, f"/api/v2/routing/queues?pageNumber={n}", token).json() for n in (1, 2, 3)]
    assert [len(p["entities"]) for p in pages] == [25, 25, 7]
    assert {(p["pageSize"], p["total"], p["pageCount"]) for p in pages} == {(25, 57, 3)}
    assert [p["pageNumber"] for p in pages] == [1, 2, 3]
    ids = [q["id"] for p in pages for q in p["entities"]]
    assert len(set(ids)) == 57
    assert all(set(q) >= {"id", "name"} for p in pages for q in p["entities"])

    everything = api(emulator_local, "/api/v2/routing/queues", token, params={"pageSize": 500})
    assert [q["id"] for q in everything.json()["entities"]] == ids
    beyond = api(emulator_local, "/api/v2/routing/queues?pageNumber=9", token).json()
    assert beyond["entities"] == []
    for bad in ("pageSize=501", "pageSize=0", "pageNumber=0", "pageSize=abc"):
        response = api(emulator_local, f"/api/v2/routing/queues?{bad}", token)
        assert_platform_error(response, 400, "bad.request")


def test_unknown_path_is_404(emulator_local: GenesysEmulator) -> None:
    emulator_local.add_client("a", "sec")
    token = token_for(emulator_local, "a", "sec")
    assert_platform_error(api(emulator_local, "/api/v2/nothing/here", token), 404, "not.found")
    assert_platform_error(
        api(emulator_local, "/api/v2/organizations/me", token, method="POST"),
        404,
        "not.found",
    )


# ---------------------------------------------------------------- counters and control plane
def test_counters(emulator_local: GenesysEmulator) -> None:
    emulator_local.add_client("a", "sec")
    token = token_for(emulator_local, "a", "sec")
    mint(emulator_local, "a", "bad")
    api(emulator_local, "/api/v2/organizations/me", token)
    api(emulator_local, "/api/v2/tokens/me", None)
    emulator_local.regenerate_secret("a")

    counts = emulator_local.counts()
    assert counts["token"]["requests"] == 2
    assert counts["token"]["mints"] == 1
    assert counts["token"]["errors"] == {"invalid_client": 1}
    assert counts["token"]["by_client"] == {"a": {"mints": 1, "requests": 2}}
    assert counts["api"]["requests"] == 2
    assert counts["api"]["by_path"] == {
        "/api/v2/organizations/me": 1,
        "/api/v2/tokens/me": 1,
    }
    assert counts["api"]["status"] == {"200": 1, "401": 1}
    assert counts["regenerations"] == 1
    assert emulator_local.mints() == 1 and emulator_local.mints("nobody") == 0

    emulator_local.reset_counters()
    assert emulator_local.counts()["token"]["requests"] == 0
    assert emulator_local.mints() == 0
    # Tokens survive a counter reset.
    assert api(emulator_local, "/api/v2/organizations/me", token).status_code == 200


def test_control_plane_over_http(emulator_local: GenesysEmulator) -> None:
    added = control(emulator_local, "add_client", client_id="ctl", lifetime=900)
    assert added.status_code == 200
    secret = added.json()["secret"]
    assert added.json()["client_id"] == "ctl"
    token = token_for(emulator_local, "ctl", secret)

    assert control(emulator_local, "set_tokens_survive_regeneration", value=False).ok
    assert emulator_local.tokens_survive_regeneration is False
    regenerated = control(emulator_local, "regenerate_secret", client_id="ctl").json()
    assert regenerated["secret"] == emulator_local.client("ctl").secret != secret
    assert api(emulator_local, "/api/v2/tokens/me", token).status_code == 401

    token = token_for(emulator_local, "ctl", regenerated["secret"])
    revoked = control(emulator_local, "revoke_client_tokens", client_id="ctl").json()
    assert revoked["revoked"] == 1

    assert control(emulator_local, "fail_next", n=1, status=500, endpoint="token").ok
    assert mint(emulator_local, "ctl", regenerated["secret"]).status_code == 500
    assert control(emulator_local, "rate_limit_next", n=1, endpoint="api", retry_after=2).ok
    assert api(emulator_local, "/api/v2/tokens/me", None).headers["Retry-After"] == "2"
    assert control(emulator_local, "set_latency", seconds=0.0, endpoint=None).ok

    counts = requests.get(f"{emulator_local.url}/__emulator/counts", timeout=5).json()
    assert counts == emulator_local.counts()
    assert counts["token"]["requests"] == 3  # control requests are not counted
    assert counts["api"]["requests"] == 2
    assert control(emulator_local, "reset_counters").ok
    assert emulator_local.counts()["token"]["requests"] == 0

    assert control(emulator_local, "no_such_op").status_code == 400
    assert control(emulator_local, "regenerate_secret", client_id="ghost").status_code == 404
    assert control(emulator_local, "set_latency", bogus=1).status_code == 400


def test_standalone_process() -> None:
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tests.harness.genesys_emulator",
            "--client",
            "proc-id:proc-secret:600",
            "--token-rate-limit",
            "1",
        ],
        cwd=REPO_ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline().strip()
        match = re.fullmatch(r"GENESYS_EMULATOR_URL=(http://127\.0\.0\.1:\d+)", line)
        assert match, line
        url = match.group(1)
        auth = ("proc-id", "proc-secret")
        data = {"grant_type": "client_credentials"}
        first = requests.post(f"{url}/oauth/token", auth=auth, data=data, timeout=5)
        assert first.json()["expires_in"] == 599
        second = requests.post(f"{url}/oauth/token", auth=auth, data=data, timeout=5)
        assert (second.status_code, second.json()) == (400, RATE_LIMITED)
        counts = requests.get(f"{url}/__emulator/counts", timeout=5).json()
        assert counts["token"]["mints"] == 1
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=5) == 0


# ---------------------------------------------------------------- configurable API rate limit
def test_api_rate_window_is_configurable_and_sliding(monkeypatch: pytest.MonkeyPatch) -> None:
    with GenesysEmulator(api_rate_limit=2, api_rate_window=1.0) as emu:
        emu.add_client("a", "sec")
        token = token_for(emu, "a", "sec")
        path = "/api/v2/organizations/me"
        first = api(emu, path, token)
        assert first.headers["inin-ratelimit-reset"] == "1"
        assert api(emu, path, token).status_code == 200
        limited = api(emu, path, token)
        assert_platform_error(limited, 429, "too.many.requests.retry.after")
        assert limited.headers["Retry-After"] == "1"
        assert (limited.headers["inin-ratelimit-count"], limited.headers["inin-ratelimit-allowed"]) == ("2", "2")
        assert emu.api_rate_limited() == 1
        # The window slides: once the accepted requests are older than 1 s their slots are free.
        later = time.time() + 1.5
        monkeypatch.setattr(time, "time", lambda: later)
        again = api(emu, path, token)
        assert (again.status_code, again.headers["inin-ratelimit-count"]) == (200, "1")


def test_rate_limit_scope_client_shares_one_count_between_tokens() -> None:
    with GenesysEmulator(api_rate_limit=3, rate_limit_scope="client") as emu:
        emu.add_client("a", "sec")
        emu.add_client("b", "sec")
        first, second = token_for(emu, "a", "sec"), token_for(emu, "a", "sec")
        path = "/api/v2/organizations/me"
        counts = [api(emu, path, t).headers["inin-ratelimit-count"] for t in (first, second, first)]
        assert counts == ["1", "2", "3"]  # a new token reports the client's count, not a fresh one
        assert_platform_error(api(emu, path, second), 429, "too.many.requests.retry.after")
        other_client = api(emu, path, token_for(emu, "b", "sec"))
        assert (other_client.status_code, other_client.headers["inin-ratelimit-count"]) == (200, "1")
        assert emu.api_rate_limited() == 1


def test_set_api_rate_limit_at_runtime_and_over_the_control_plane(
    emulator_local: GenesysEmulator,
) -> None:
    emulator_local.add_client("a", "sec")
    one, two = token_for(emulator_local, "a", "sec"), token_for(emulator_local, "a", "sec")
    path = "/api/v2/organizations/me"
    emulator_local.set_api_rate_limit(1)
    assert api(emulator_local, path, one).status_code == 200
    assert api(emulator_local, path, one).status_code == 429
    assert api(emulator_local, path, two).status_code == 200  # scope still "token"

    emulator_local.set_api_rate_limit(5, scope="client")
    # Both tokens' accepted requests count in the client's window (2 so far).
    assert api(emulator_local, path, two).headers["inin-ratelimit-count"] == "3"
    assert (emulator_local.api_rate_limit, emulator_local.rate_limit_scope) == (5, "client")
    assert emulator_local.api_rate_window == 60.0

    answer = control(emulator_local, "set_api_rate_limit", limit=20, window=5, scope="token")
    assert answer.json() == {"ok": True, "op": "set_api_rate_limit", "limit": 20, "window": 5.0, "scope": "token"}
    fresh = api(emulator_local, path, two)
    assert fresh.headers["inin-ratelimit-allowed"] == "20"
    assert 1 <= int(fresh.headers["inin-ratelimit-reset"]) <= 5
    assert control(emulator_local, "set_api_rate_limit", limit=1, scope="org").status_code == 400
    for bad in ({"limit": -1}, {"limit": 1, "window": 0}, {"limit": 1, "window": float("nan")}):
        with pytest.raises(ValueError):
            emulator_local.set_api_rate_limit(**bad)
    with pytest.raises(ValueError):
        GenesysEmulator(rate_limit_scope="per-org")


def test_token_request_counts_by_fingerprint(emulator_local: GenesysEmulator) -> None:
    emulator_local.add_client("a", "sec")
    emulator_local.add_client("b", "sec")
    busy, idle = token_for(emulator_local, "a", "sec"), token_for(emulator_local, "a", "sec")
    other = token_for(emulator_local, "b", "sec")
    path = "/api/v2/organizations/me"
    statuses = [api(emulator_local, path, busy).status_code for _ in range(4)]
    assert statuses == [200, 200, 200, 429]  # the 429 is not an accepted request
    api(emulator_local, path, other)

    assert emulator_local.token_request_counts("a") == {fp(busy): 3, fp(idle): 0}
    assert emulator_local.token_request_counts() == {fp(busy): 3, fp(idle): 0, fp(other): 1}
    emulator_local.reset_counters()
    assert emulator_local.token_request_counts("b") == {fp(other): 1}  # lifetime figures
    assert emulator_local.api_rate_limited() == 1
    emulator_local.rate_limit_next(1, endpoint="api")
    assert api(emulator_local, path, other).status_code == 429
    assert emulator_local.api_rate_limited() == 1  # injected 429s are not the token's limit


# ---------------------------------------------------------------- scripted (canned) answers
def test_canned_send_writes_exactly_what_it_is_given(emulator_local: GenesysEmulator) -> None:
    emulator_local.add_client("a", "sec")
    emulator_local.script_next(
        "api",
        Canned(307, {"Location": "http://elsewhere.test/api/v2/organizations/me"}),
        Canned(429, {"Retry-After": "abc"}, body={"code": "too.many.requests"}),
        Canned(200, body={"access_token": "bad\r\ntoken", "expires_in": float("nan")}),
    )
    token = token_for(emulator_local, "a", "sec")  # the token group is not scripted
    redirect = api(emulator_local, "/api/v2/organizations/me", token, allow_redirects=False)
    assert (redirect.status_code, redirect.headers["Location"]) == (
        307,
        "http://elsewhere.test/api/v2/organizations/me",
    )
    assert (redirect.headers["Content-Length"], redirect.content) == ("0", b"")
    limited = api(emulator_local, "/api/v2/users", token)
    assert (limited.status_code, limited.headers["Retry-After"]) == (429, "abc")
    assert limited.headers["Content-Type"] == "application/json"
    assert limited.json() == {"code": "too.many.requests"}
    odd = api(emulator_local, "/api/v2/organizations/me", token)
    assert odd.text == '{"access_token": "bad\\r\\ntoken", "expires_in": NaN}'
    assert json.loads(odd.text)["access_token"] == "bad\r\ntoken"
    assert api(emulator_local, "/api/v2/organizations/me", token).status_code == 200  # script used up

    counts = emulator_local.counts()["api"]
    assert counts["requests"] == 4
    assert counts["status"] == {"307": 1, "429": 1, "200": 2}
    assert counts["by_path"] == {"/api/v2/organizations/me": 3, "/api/v2/users": 1}
    assert emulator_local.api_rate_limited() == 0


def test_canned_token_answers_and_lying_headers(emulator_local: GenesysEmulator) -> None:
    emulator_local.add_client("a", "sec")
    emulator_local.script_next(
        "token",
        Canned(200, {"Content-Type": "application/json"}, body='{"access_token": "t", "expires_in": 1e400}'),
        Canned(200, {"Content-Encoding": "gzip"}, body=b"not gzip at all"),
        Canned(200, {"Content-Length": "100"}, body="short"),
    )
    huge = mint(emulator_local, "a", "sec")
    assert huge.text == '{"access_token": "t", "expires_in": 1e400}'
    with pytest.raises(requests.exceptions.ContentDecodingError):
        mint(emulator_local, "a", "sec")
    with pytest.raises(requests.exceptions.ChunkedEncodingError):
        mint(emulator_local, "a", "sec")  # announced 100 bytes, sent 5, closed
    assert mint(emulator_local, "a", "sec").status_code == 200
    counts = emulator_local.counts()["token"]
    assert (counts["requests"], counts["mints"], counts["status"]) == (4, 1, {"200": 4})
    assert counts["by_client"] == {"a": {"mints": 1, "requests": 4}}
    assert len(emulator_local.token_request_times()) == 4


def test_canned_reset_breaks_the_connection_mid_body(emulator_local: GenesysEmulator) -> None:
    body = b'{"entities": [' + b"0," * 100 + b"0]}"
    emulator_local.script_next("api", Canned(200, body=body, action="reset", partial_bytes=20))
    with socket.create_connection((emulator_local.host, emulator_local.port), timeout=5) as conn:
        conn.sendall(b"GET /api/v2/routing/queues HTTP/1.1\r\nHost: emulator\r\n\r\n")
        received = b""
        with pytest.raises(ConnectionResetError):
            while chunk := conn.recv(65536):
                received += chunk
    head, _, partial = received.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 ")
    assert f"Content-Length: {len(body)}".encode() in head
    assert partial == body[:20]

    emulator_local.script_next("api", Canned(200, body=body, action="reset"))
    with pytest.raises(requests.exceptions.ChunkedEncodingError, match="reset by peer"):
        api(emulator_local, "/api/v2/routing/queues", None)


def test_canned_drip_is_slow_in_total_but_quick_per_read(emulator_local: GenesysEmulator) -> None:
    emulator_local.script_next("api", Canned(200, body=b"0123456789", action="drip", drip_bytes=2, drip_interval=0.1))
    started = time.monotonic()
    # A 1 s read timeout never fires: each 2-byte chunk arrives 0.1 s after the last.
    response = requests.get(f"{emulator_local.url}/api/v2/organizations/me", timeout=(5, 1))
    elapsed = time.monotonic() - started
    assert (response.status_code, response.content) == (200, b"0123456789")
    assert elapsed >= 0.5  # five chunks, each after a 0.1 s pause


def test_canned_stall_holds_the_request_unanswered() -> None:
    emu = GenesysEmulator().start()
    emu.script_next("api", Canned(action="stall", stall_seconds=0.2), Canned(action="stall"))
    try:
        with pytest.raises(requests.exceptions.ConnectionError, match="without response"):
            requests.get(f"{emu.url}/api/v2/organizations/me", timeout=5)  # closed after 0.2 s
        with pytest.raises(requests.exceptions.ReadTimeout):
            requests.get(f"{emu.url}/api/v2/organizations/me", timeout=0.3)
        held = socket.create_connection((emu.host, emu.port), timeout=5)
        emu.script_next("api", Canned(action="stall"))
        held.sendall(b"GET /api/v2/organizations/me HTTP/1.1\r\nHost: emulator\r\n\r\n")
        # Wait until the emulator has read the held request (the count is taken when it is read).
        deadline = time.monotonic() + 5
        while emu.counts()["api"]["requests"] < 3:
            assert time.monotonic() < deadline, "the held request never arrived"
            time.sleep(0.01)
    finally:
        started = time.monotonic()
        emu.stop()
    assert time.monotonic() - started < 5  # a stalled answer never keeps the emulator alive
    assert held.recv(10) == b""  # stop() released the held connection, with no answer
    held.close()
    assert emu.counts()["api"]["status"] == {}  # a stall sends no status


def test_script_next_over_the_control_plane(emulator_local: GenesysEmulator) -> None:
    answers = [{"status": 302, "headers": {"Location": "http://127.0.0.1:9/"}}, {"status": 200, "body": {"x": 1}}]
    queued = control(emulator_local, "script_next", endpoint="api", answers=answers)
    assert queued.json() == {"ok": True, "op": "script_next", "queued": 2}
    first = api(emulator_local, "/api/v2/anything", None, allow_redirects=False)
    assert (first.status_code, first.headers["Location"]) == (302, "http://127.0.0.1:9/")
    assert api(emulator_local, "/api/v2/anything", None).json() == {"x": 1}
    bad = control(emulator_local, "script_next", endpoint="api", answers=[{"action": "explode"}])
    assert bad.status_code == 400
    assert control(emulator_local, "script_next", endpoint="login", answers=[]).status_code == 400
    assert control(emulator_local, "script_next", answers=[]).status_code == 400
    with pytest.raises(TypeError):
        emulator_local.script_next("api", {"status": 200})  # type: ignore[arg-type]
    emulator_local.script_next("api", Canned(500))
    emulator_local.reset_faults()
    assert api(emulator_local, "/api/v2/anything", None).status_code == 401  # script cleared


# ---------------------------------------------------------------- request log
def test_received_records_credentials_and_host_per_request(emulator_local: GenesysEmulator) -> None:
    client = emulator_local.add_client("a", "sec")
    token = token_for(emulator_local, "a", "sec")
    emulator_local.script_next("api", Canned(302, {"Location": "/elsewhere"}))
    api(emulator_local, "/api/v2/organizations/me?expand=x", token, allow_redirects=False)
    requests.get(f"{emulator_local.url}/api/v2/tokens/me", headers={"Host": "api.other.test"}, timeout=5)
    requests.get(f"{emulator_local.url}/__emulator/counts", timeout=5)  # the control plane is not recorded

    basic = "Basic " + base64.b64encode(b"a:sec").decode()
    host = f"127.0.0.1:{emulator_local.port}"
    assert emulator_local.received("token") == [
        {
            "endpoint": "token",
            "method": "POST",
            "path": "/oauth/token",
            "query": "",
            "authorization": basic,
            "host": host,
        }
    ]
    assert emulator_local.received("api") == [
        {
            "endpoint": "api",
            "method": "GET",
            "path": "/api/v2/organizations/me",
            "query": "expand=x",
            "authorization": f"Bearer {token}",
            "host": host,
        },
        {
            "endpoint": "api",
            "method": "GET",
            "path": "/api/v2/tokens/me",
            "query": "",
            "authorization": None,
            "host": "api.other.test",
        },
    ]
    assert [entry["endpoint"] for entry in emulator_local.received()] == ["token", "api", "api"]
    assert {token, client.secret} <= set(emulator_local.sensitive_values())
    emulator_local.reset_counters()
    assert emulator_local.received() == []
    with pytest.raises(ValueError):
        emulator_local.received("control")


# ---------------------------------------------------------------- black hole (silent AWS endpoint)
def test_black_hole_accepts_and_never_answers() -> None:
    with BlackHole() as hole:
        assert hole.url == f"http://127.0.0.1:{hole.port}"
        started = time.monotonic()
        with pytest.raises(requests.exceptions.ReadTimeout):
            requests.post(hole.url, data=b"{}", timeout=(5, 0.3))
        assert time.monotonic() - started < 5  # connected at once; only the read timed out
        assert hole.accepted == 1


def test_black_hole_keeps_accepting_beyond_the_backlog() -> None:
    with BlackHole(backlog=4) as hole:
        clients = [socket.create_connection((hole.host, hole.port), timeout=5) for _ in range(64)]
        try:
            deadline = time.monotonic() + 10
            while hole.accepted < 64:
                assert time.monotonic() < deadline, f"only {hole.accepted} of 64 accepted"
                time.sleep(0.01)
            clients[0].sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            clients[0].settimeout(0.2)
            with pytest.raises(TimeoutError):
                clients[0].recv(1)  # held, never answered
        finally:
            hole.close()
        # close() drops the held connections: each client sees EOF or a reset, not silence.
        for client in clients:
            client.settimeout(5)
            with contextlib.suppress(ConnectionResetError):
                assert client.recv(1) == b""
            client.close()
    with pytest.raises(requests.exceptions.ConnectionError):
        requests.get(hole.url, timeout=2)  # nothing listens any more
    hole.close()  # idempotent


def test_black_hole_as_a_dynamodb_endpoint() -> None:
    with BlackHole() as hole:
        client = boto3.client(
            "dynamodb",
            endpoint_url=hole.url,
            region_name="us-east-1",
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
            config=botocore.config.Config(connect_timeout=5, read_timeout=0.3, retries={"total_max_attempts": 1}),
        )
        with pytest.raises(botocore.exceptions.ReadTimeoutError):
            client.describe_table(TableName="tokens")
        assert hole.accepted == 1


def test_standalone_process_rate_limit_flags() -> None:
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tests.harness.genesys_emulator",
            "--client",
            "proc-id:proc-secret",
            "--api-rate-limit",
            "1",
            "--api-rate-window",
            "5",
            "--rate-limit-scope",
            "client",
        ],
        cwd=REPO_ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline().strip()
        match = re.fullmatch(r"GENESYS_EMULATOR_URL=(http://127\.0\.0\.1:\d+)", line)
        assert match, line
        url = match.group(1)
        auth = ("proc-id", "proc-secret")
        data = {"grant_type": "client_credentials"}
        first, second = (
            requests.post(f"{url}/oauth/token", auth=auth, data=data, timeout=5).json()["access_token"]
            for _ in range(2)
        )
        ok = requests.get(f"{url}/api/v2/tokens/me", headers={"Authorization": f"Bearer {first}"}, timeout=5)
        assert (ok.status_code, ok.headers["inin-ratelimit-allowed"]) == (200, "1")
        assert 1 <= int(ok.headers["inin-ratelimit-reset"]) <= 5
        shared = requests.get(f"{url}/api/v2/tokens/me", headers={"Authorization": f"Bearer {second}"}, timeout=5)
        assert shared.status_code == 429  # one count for the whole client
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=5) == 0
