"""Hostile and malformed input: no token sent elsewhere, no secret in an error, no raw exception,
no retry storm, no wait past the deadline, no stuck cache.

Genesys answers are scripted on the emulator (``Canned``: raw status/headers/body, a reset
mid-body, a slow drip); AWS is moto; secrets and items are written as a careless or hostile
operator might.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import pytest

from genesys_auth import (
    AuthenticationError,
    ConfigurationError,
    GenesysAuthError,
    GenesysClient,
    RateLimitedError,
    SecretError,
    Settings,
    UnavailableError,
)
from genesys_auth.tokens import MAX_LIFETIME
from tests.conftest import App
from tests.harness.aws import create_credentials_secret
from tests.harness.genesys_emulator import Canned, GenesysEmulator

ME = "/api/v2/organizations/me"


@pytest.fixture
def other() -> Iterator[GenesysEmulator]:
    """Another origin (a host a redirect could point at)."""
    with GenesysEmulator() as emulator:
        yield emulator


def _no_value_in(err: BaseException, *values: str) -> None:
    texts = [str(err), repr(err), repr(err.args)]
    for value in values:
        assert all(value not in text for text in texts), "a secret or token is in the error"


# -- 1. the token only ever goes to the configured origins ----------------------------------------


def test_cross_origin_redirect_is_not_followed(app: App, other: GenesysEmulator) -> None:
    client = app.client()
    client.token()
    app.emulator.script_next("api", Canned(status=302, headers={"Location": other.url + ME}))
    response = client.get(ME)
    assert response.status_code == 302  # handed back as it is
    assert other.received() == []


def test_followed_redirect_never_carries_or_replays_the_token(app: App, other: GenesysEmulator) -> None:
    client = app.client()
    token = client.token()
    app.emulator.script_next("api", Canned(status=307, headers={"Location": other.url + ME}))
    with pytest.raises(AuthenticationError):
        client.get(ME, allow_redirects=True)  # the other host answers 401: nothing to replay there
    seen = other.received()
    assert len(seen) == 1, "exactly one request reached the other origin: no replay there"
    assert seen[0]["authorization"] is None
    assert client.replays == 0
    assert token == client.token()  # our token was not invalidated by another host's 401


def test_absolute_url_on_another_origin_is_refused_before_sending(app: App, other: GenesysEmulator) -> None:
    client = app.client()
    with pytest.raises(ConfigurationError, match="another origin"):
        client.send("GET", other.url + ME)
    assert other.received() == []


def test_token_endpoint_redirect_is_not_followed(app: App, other: GenesysEmulator) -> None:
    app.emulator.script_next("token", Canned(status=307, headers={"Location": other.url + "/oauth/token"}))
    with pytest.raises(GenesysAuthError) as err:
        app.client().token()
    assert other.received() == []
    _no_value_in(err.value, app.oauth.secret)


# -- 2. no secret or token in an exception's str, repr or args -----------------------------------


@pytest.mark.parametrize("bad", ["’", "€", "\n", " "])
def test_non_ascii_secret_is_a_secret_error_naming_field_and_position(app: App, bad: str) -> None:
    secret = "s3cr3t-value-" + bad + "-rest-of-it"
    secret_id = create_credentials_secret(app.moto, app.oauth.client_id, secret)
    with pytest.raises(SecretError) as err:
        GenesysClient(app.settings(secret_id=secret_id)).token()
    assert "client_secret" in str(err.value) and "position 14" in str(err.value)
    _no_value_in(err.value, secret, "s3cr3t-value")


def test_token_with_cr_lf_is_never_put_in_a_header(app: App) -> None:
    evil = "abcdefghijklmnop\r\nX-Injected: 1"
    bad = Canned(body={"access_token": evil, "token_type": "bearer", "expires_in": 3600})
    app.emulator.script_next("token", *([bad] * 10))
    with pytest.raises(UnavailableError) as err:
        app.client().token(deadline=2)
    assert "header" in str(err.value)
    _no_value_in(err.value, evil, "abcdefghijklmnop")


# -- 3./4. every failure is classified ----------------------------------------------------------


@pytest.mark.parametrize(
    "answer",
    [
        Canned(action="reset", body=b"x" * 2000),
        Canned(headers={"Content-Encoding": "gzip"}, body=b"this is not gzip at all"),
        Canned(headers={"Content-Length": "5000"}, body=b"short"),
    ],
    ids=["reset-mid-body", "bad-gzip", "short-body"],
)
def test_broken_api_answers_are_unavailable_errors(app: App, answer: Canned) -> None:
    client = app.client()
    client.token()
    app.emulator.script_next("api", *([answer] * 10))
    with pytest.raises(UnavailableError):
        client.get(ME, deadline=3)


@pytest.mark.parametrize("value", ["abc", "-5", "1.5", "0", "Wed, 21 Oct 2015 07:28:00 GMT"])
def test_odd_retry_after_values_never_escape_raw(app: App, value: str) -> None:
    client = app.client()
    client.token()
    app.emulator.script_next("api", Canned(status=429, headers={"Retry-After": value}, body={"code": "too.many"}))
    assert client.get(ME, deadline=5).status_code == 200  # retried after a bounded wait


def test_429_without_retry_after_says_so_plainly(app: App) -> None:
    client = app.client()
    client.token()
    app.emulator.script_next("api", *([Canned(status=429, body={"code": "too.many.requests"})] * 20))
    with pytest.raises(RateLimitedError) as err:
        client.get(ME, deadline=1)
    assert "None" not in str(err.value)
    assert err.value.retry_after is None


def test_broken_login_url_is_a_configuration_error_at_from_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for value in ("https://login.example.com:99999", "https://", "ftp://login.example.com", "https://a b.com"):
        monkeypatch.setenv("GENESYS_SECRET_ID", "genesys/app")
        monkeypatch.setenv("GENESYS_LOGIN_URL", value)
        with pytest.raises(ConfigurationError, match="GENESYS_LOGIN_URL"):
            Settings.from_env()


# -- 5.-7. no storms, no overruns ---------------------------------------------------------------


@pytest.mark.parametrize(
    "status,body", [(429, {}), (400, {"error": "invalid_request", "error_description": "rate limit exceeded; retry"})]
)
def test_token_endpoint_retry_after_zero_is_no_storm(app: App, status: int, body: dict[str, str]) -> None:
    answer = Canned(status=status, headers={"Retry-After": "0"}, body=body)
    client = app.client()
    client.secrets.current()  # the secret read is not what this test measures
    app.emulator.script_next("token", *([answer] * 2000))
    with pytest.raises(RateLimitedError):
        client.token(deadline=1.2)
    assert app.emulator.counts()["token"]["requests"] <= 5  # the policy's attempts, not ~1,450


def test_slow_drip_is_cut_at_the_deadline(app: App) -> None:
    client = app.client()
    client.token()
    drip = Canned(action="drip", body=b"{" + b" " * 200 + b"}", drip_interval=0.2)
    app.emulator.script_next("api", *([drip] * 5))
    started = time.monotonic()
    with pytest.raises(UnavailableError, match="deadline"):
        client.get(ME, deadline=1.0)
    assert time.monotonic() - started < 1.6


@pytest.mark.parametrize("value", ["0", "Wed, 21 Oct 2015 07:28:00 GMT"])
def test_api_429_with_zero_or_past_retry_after_respects_the_deadline(app: App, value: str) -> None:
    client = app.client()
    client.token()
    answer = Canned(status=429, headers={"Retry-After": value}, body={"code": "too.many.requests"})
    app.emulator.script_next("api", *([answer] * 50))
    started = time.monotonic()
    with pytest.raises(RateLimitedError):
        client.get(ME, deadline=1.0)
    assert time.monotonic() - started < 1.5


# -- 8. absurd lifetimes ------------------------------------------------------------------------


def test_huge_expires_in_is_clamped_to_the_longest_genesys_lifetime(app: App) -> None:
    app.emulator.script_next("token", Canned(body={"access_token": "a" * 40, "expires_in": 10**12}))
    info = app.client().token_info()
    assert info.lifetime == MAX_LIFETIME


@pytest.mark.parametrize("raw", [b"NaN", b"Infinity", b"1e400", b"1" + b"0" * 400, b'"3600"', b"-1"])
def test_unusable_expires_in_is_an_unavailable_error(app: App, raw: bytes) -> None:
    body = b'{"access_token": "' + b"a" * 40 + b'", "expires_in": ' + raw + b"}"
    app.emulator.script_next("token", *([Canned(body=body)] * 10))
    if raw == b"1" + b"0" * 400:  # an exact integer: larger than any lifetime, so clamped
        assert app.client().token_info().lifetime == MAX_LIFETIME
        return
    with pytest.raises(UnavailableError, match="answered 200"):
        app.client().token(deadline=2)


# -- 9. environment values ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "name,value",
    [
        ("GENESYS_MAX_WAIT_SECONDS", "1e10"),
        ("GENESYS_MAX_WAIT_SECONDS", "inf"),
        ("GENESYS_MAX_WAIT_SECONDS", "nan"),
        ("GENESYS_SECRET_MAX_AGE", "inf"),
        ("GENESYS_SECRET_MAX_AGE", "nan"),
        ("GENESYS_TOKEN_EXTENSION_PORT", "0"),
        ("GENESYS_TOKEN_EXTENSION_PORT", "70000"),
        ("GENESYS_TOKEN_EXTENSION_PORT", "80.5"),
        ("GENESYS_API_URL", "https://api.example.com:0"),
    ],
)
def test_bad_environment_values_name_the_variable(name: str, value: str) -> None:
    with pytest.raises(ConfigurationError, match=name):
        Settings.from_env({"GENESYS_SECRET_ID": "genesys/app", name: value})


def test_secret_json_bombs_are_secret_errors(app: App) -> None:
    for text in ("[" * 100_000, json.dumps({"client_id": 5, "client_secret": "x"})):
        app.moto.client("secretsmanager").put_secret_value(SecretId=app.secret_id, SecretString=text)
        with pytest.raises(SecretError):
            GenesysClient(app.settings()).token()
