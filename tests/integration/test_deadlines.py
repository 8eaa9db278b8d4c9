"""Every wait is bounded by the deadline, AWS calls included; errors name the real cause.

The black-holed endpoints are loopback listeners that accept and never answer
(tests/harness/blackhole.py), standing in for DynamoDB or Secrets Manager in turn.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterator

import pytest

from genesys_auth import AuthenticationError, GenesysClient, UnavailableError, build_provider
from genesys_auth.deadline import Deadline
from tests.conftest import App
from tests.harness.aws import create_token_table, patched_environ, put_secret_string
from tests.harness.blackhole import BlackHole

DEADLINE = 2.5
SLACK = 0.5


@pytest.fixture
def hole() -> Iterator[BlackHole]:
    with BlackHole() as listener:
        yield listener


def _warm(app: App, table: str) -> None:
    """Load boto3 and the service models once, so the test measures waits, not imports."""
    warm = app.client(token_table=table)
    warm.token()
    warm.invalidate(warm.token())


def test_black_holed_table_costs_less_than_the_deadline_and_the_call_succeeds(app: App, hole: BlackHole) -> None:
    table = create_token_table(app.moto)
    _warm(app, table)
    with patched_environ({"AWS_ENDPOINT_URL_DYNAMODB": hole.url}):
        client = app.client(token_table=table)
        started = time.monotonic()
        response = client.get("/api/v2/organizations/me", deadline=DEADLINE)
        elapsed = time.monotonic() - started
    assert response.status_code == 200
    assert elapsed < DEADLINE + SLACK, f"took {elapsed:.2f}s against a {DEADLINE}s deadline"
    assert hole.accepted >= 1  # the table really was asked, and never answered
    assert client.minter.mints == 1  # degraded to a direct mint within the same call


def test_black_holed_secrets_manager_is_unavailable_within_the_deadline(app: App, hole: BlackHole) -> None:
    table = create_token_table(app.moto)
    _warm(app, table)
    with patched_environ({"AWS_ENDPOINT_URL_SECRETS_MANAGER": hole.url}):
        client = app.client()
        started = time.monotonic()
        with pytest.raises(UnavailableError, match="credentials secret") as err:
            client.get("/api/v2/organizations/me", deadline=DEADLINE)
        elapsed = time.monotonic() - started
    assert elapsed < DEADLINE + SLACK, f"took {elapsed:.2f}s against a {DEADLINE}s deadline"
    assert "Secrets Manager" in str(err.value) or "no time left" in str(err.value)


def test_extension_provider_is_bounded_by_the_deadline_too(app: App, hole: BlackHole) -> None:
    """The extension serves from build_provider(settings): the same bounded stack."""
    from genesys_token.service import TokenService

    table = create_token_table(app.moto)
    _warm(app, table)
    with patched_environ({"AWS_ENDPOINT_URL_DYNAMODB": hole.url}):
        service = TokenService(build_provider(app.settings(token_table=table), use_extension=False))
        started = time.monotonic()
        token = service.token(Deadline.after(DEADLINE))
        elapsed = time.monotonic() - started
    assert token.remaining() > 0
    assert elapsed < DEADLINE + SLACK


def test_client_deadline_none_means_max_wait_not_1970(app: App) -> None:
    """client.deadline(None) and deadline=<seconds> are seconds from now: a Retry-After of 1 s is
    waited out (an expired deadline would raise at once)."""
    client = app.client()
    client.token()
    app.emulator.rate_limit_next(1, endpoint="api", retry_after=1)
    with client.deadline(None) as bound:
        assert 29 < bound.remaining() <= 30
        assert client.get("/api/v2/organizations/me").status_code == 200
    app.emulator.rate_limit_next(1, endpoint="api", retry_after=1)
    assert client.get("/api/v2/organizations/me", deadline=30).status_code == 200


def test_malformed_fallback_version_does_not_hide_the_real_error(app: App, caplog: pytest.LogCaptureFixture) -> None:
    """AWSCURRENT holds a wrong secret, AWSPREVIOUS is malformed: the error is about the current
    credentials (invalid_client); the bad fallback is a log line naming its stage, not its value."""
    secrets = app.moto.client("secretsmanager")
    malformed = json.dumps({"client_id": app.oauth.client_id, "not_the_secret_field": "x" * 20})
    put_secret_string(app.moto, app.secret_id, malformed)  # becomes AWSPREVIOUS below
    wrong = json.dumps({"client_id": app.oauth.client_id, "client_secret": "wrong-secret-value-0001"})
    put_secret_string(app.moto, app.secret_id, wrong)
    current_version = secrets.get_secret_value(SecretId=app.secret_id, VersionStage="AWSCURRENT")["VersionId"]
    with caplog.at_level(logging.WARNING, logger="genesys_auth"), pytest.raises(AuthenticationError) as err:
        GenesysClient(app.settings()).token()
    assert err.value.error == "invalid_client"
    assert "invalid_client" in str(err.value)
    assert current_version in str(err.value)
    assert "AWSCURRENT" in str(err.value)
    skipped = [r.getMessage() for r in caplog.records if "skipping a version" in r.getMessage()]
    assert skipped and "AWSPREVIOUS" in skipped[0]
    assert all("wrong-secret-value" not in r.getMessage() and "x" * 20 not in r.getMessage() for r in caplog.records)
