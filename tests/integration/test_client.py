"""GenesysClient against moto server (Secrets Manager) and the Genesys emulator."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from genesys_auth import (
    AuthenticationError,
    GenesysAuth,
    GenesysClient,
    RateLimitedError,
    SecretError,
    UnavailableError,
)
from tests.conftest import App
from tests.harness.aws import MotoServer, create_credentials_secret, patched_environ, put_secret_string
from tests.harness.genesys_emulator import GenesysEmulator


def test_from_env_does_no_network_io() -> None:
    with patched_environ(
        {
            "GENESYS_SECRET_ID": "genesys/none",
            "AWS_ENDPOINT_URL": "http://127.0.0.1:9",
            "GENESYS_REGION": "mypurecloud.ie",
        }
    ):
        client = GenesysClient.from_env()
    assert client.secrets.reads == 0
    assert client.minter.mints == 0
    assert "genesys/none" in repr(client)


def test_token_exchange_and_first_call(app: App) -> None:
    client = app.client()
    org = client.get("/api/v2/organizations/me").json()
    assert org["id"]
    me = client.get("/api/v2/tokens/me").json()
    assert me["OAuthClient"]["id"] == app.oauth.client_id
    counts = app.emulator.counts()
    assert counts["token"]["mints"] == 1
    assert client.secrets.reads == 1


def test_64_cold_threads_cause_one_mint(app: App) -> None:
    app.emulator.set_latency(0.3, endpoint="token")
    client = app.client()
    barrier = threading.Barrier(64)

    def cold_call() -> str:
        barrier.wait()
        return client.token()

    with ThreadPoolExecutor(64) as pool:
        tokens = set(pool.map(lambda _: cold_call(), range(64)))
    assert len(tokens) == 1
    assert app.emulator.mints() == 1
    assert client.secrets.reads == 1


def test_warm_calls_reuse_the_token(app: App) -> None:
    client = app.client()
    for _ in range(20):
        assert client.get("/api/v2/organizations/me").status_code == 200
    assert app.emulator.mints() == 1
    assert client.secrets.reads == 1  # the secret is read only when a token must be minted


def test_revoked_token_is_replayed_once_and_succeeds(app: App) -> None:
    client = app.client()
    first = client.token()
    app.emulator.revoke_token(first)
    response = client.get("/api/v2/organizations/me")
    assert response.status_code == 200
    assert client.replays == 1
    assert [r.status_code for r in response.history] == [401]
    assert client.token() != first
    assert app.emulator.mints() == 2
    assert app.emulator.counts()["api"]["status"] == {"401": 1, "200": 1}


def test_concurrent_401s_mint_once(app: App) -> None:
    client = app.client()
    app.emulator.revoke_token(client.token())
    with ThreadPoolExecutor(16) as pool:
        statuses = list(pool.map(lambda _: client.get("/api/v2/organizations/me").status_code, range(16)))
    assert statuses == [200] * 16
    assert app.emulator.mints() == 2


def test_permanent_401_raises_after_one_replay(app: App) -> None:
    client = app.client()
    client.token()
    app.emulator.fail_next(5, status=401, endpoint="api")
    with pytest.raises(AuthenticationError) as err:
        client.get("/api/v2/organizations/me")
    assert "401" in str(err.value)
    assert app.emulator.counts()["api"]["requests"] == 2  # the call and exactly one replay
    assert client.replays == 1


def test_rate_limited_token_endpoint_succeeds_after_backoff(app: App) -> None:
    app.emulator.rate_limit_next(3, endpoint="token")
    client = app.client()
    assert client.get("/api/v2/organizations/me").status_code == 200
    counts = app.emulator.counts()["token"]
    assert counts["requests"] == 4
    assert counts["mints"] == 1


def test_token_rate_limit_gives_up_at_the_deadline(app: App) -> None:
    app.emulator.rate_limit_next(1000, endpoint="token")
    client = app.client()
    client.secrets.current()  # boto3's first import is not what this test measures
    started = time.monotonic()
    with pytest.raises(RateLimitedError):
        client.token(deadline=1.0)
    # Unbounded, the loop would go on for as long as the limit lasts (1000 answers).
    assert time.monotonic() - started < 2.5
    assert app.emulator.counts()["token"]["requests"] < 30


def test_token_endpoint_5xx_is_retried(app: App) -> None:
    app.emulator.fail_next(2, status=503, endpoint="token")
    assert app.client().token()
    assert app.emulator.counts()["token"]["requests"] == 3


def test_token_endpoint_timeout_is_unavailable_within_the_deadline(app: App) -> None:
    app.emulator.set_latency(5.0, endpoint="token")
    client = app.client()
    client.secrets.current()
    started = time.monotonic()
    with pytest.raises(UnavailableError):
        client.token(deadline=0.6)
    assert time.monotonic() - started < 3.0  # the answer would take 5 s


def test_api_429_is_waited_out_and_retried(app: App) -> None:
    client = app.client()
    client.token()
    app.emulator.rate_limit_next(1, endpoint="api", retry_after=1)
    started = time.monotonic()
    response = client.get("/api/v2/routing/queues")
    assert response.status_code == 200
    assert time.monotonic() - started >= 0.9  # honoured Retry-After: 1
    assert app.emulator.counts()["api"]["status"]["429"] == 1


def test_api_429_past_the_deadline_raises_without_waiting(app: App) -> None:
    client = app.client()
    client.token()
    app.emulator.rate_limit_next(1, endpoint="api", retry_after=30)
    started = time.monotonic()
    with pytest.raises(RateLimitedError) as err:
        client.get("/api/v2/organizations/me", deadline=2)
    assert err.value.retry_after == 30
    assert time.monotonic() - started < 5.0  # it did not wait the 30 s out


def test_per_token_rate_limit_is_reported(moto: MotoServer) -> None:
    with GenesysEmulator(api_rate_limit=3) as emulator:
        oauth = emulator.add_client()
        secret_id = create_credentials_secret(moto, oauth.client_id, oauth.secret)
        # One token (pool max 1): with the pool, the fourth call would go out on a second token.
        client = GenesysClient(App(emulator, moto, oauth, secret_id).settings(pool_max=1))
        for _ in range(3):
            client.get("/api/v2/organizations/me")
        with pytest.raises(RateLimitedError) as err:
            client.get("/api/v2/organizations/me", deadline=2)
        assert err.value.retry_after is not None and err.value.retry_after > 2


def test_wrong_secret_is_an_authentication_error_not_a_loop(moto: MotoServer, emulator: GenesysEmulator) -> None:
    oauth = emulator.add_client()
    secret_id = create_credentials_secret(moto, oauth.client_id, "definitely-not-the-secret-value")
    client = GenesysClient(App(emulator, moto, oauth, secret_id).settings())
    with pytest.raises(AuthenticationError) as err:
        client.token()
    assert err.value.error == "invalid_client"
    assert "definitely-not-the-secret-value" not in str(err.value)
    assert emulator.counts()["token"]["requests"] == 1  # re-read found nothing new to try


def test_unauthorized_client_is_an_authentication_error(moto: MotoServer, emulator: GenesysEmulator) -> None:
    oauth = emulator.add_client(grant_type="authorization_code")
    secret_id = create_credentials_secret(moto, oauth.client_id, oauth.secret)
    with pytest.raises(AuthenticationError, match="Client Credentials grant") as err:
        GenesysClient(App(emulator, moto, oauth, secret_id).settings()).token()
    assert err.value.error == "unauthorized_client"
    assert emulator.counts()["token"]["requests"] == 1


def test_bad_secret_json_is_a_clear_secret_error(moto: MotoServer, emulator: GenesysEmulator) -> None:
    oauth = emulator.add_client()
    secret_id = create_credentials_secret(moto, oauth.client_id, oauth.secret)
    put_secret_string(moto, secret_id, "{'client_id': 'x', 'client_secret': '" + oauth.secret + "'")
    with pytest.raises(SecretError, match="not valid JSON") as err:
        GenesysClient(App(emulator, moto, oauth, secret_id).settings()).token()
    assert oauth.secret not in str(err.value)
    assert emulator.counts()["token"]["requests"] == 0


def test_secret_missing_field_names_it(moto: MotoServer, emulator: GenesysEmulator) -> None:
    oauth = emulator.add_client()
    secret_id = create_credentials_secret(moto, oauth.client_id, oauth.secret)
    put_secret_string(moto, secret_id, json.dumps({"client_id": oauth.client_id}))
    with pytest.raises(SecretError, match="'client_secret'"):
        GenesysClient(App(emulator, moto, oauth, secret_id).settings()).token()


def test_missing_secret_is_a_secret_error(app: App) -> None:
    client = GenesysClient(app.settings(secret_id="genesys/does-not-exist"))
    with pytest.raises(SecretError, match="does not exist"):
        client.token()


def regenerate_by_hand(app: App) -> None:
    """What an admin does: regenerate the client's secret in Genesys, then store it in the secret."""
    new_secret = app.emulator.regenerate_secret(app.oauth.client_id)
    put_secret_string(
        app.moto, app.secret_id, json.dumps({"client_id": app.oauth.client_id, "client_secret": new_secret})
    )


def test_secret_regenerated_and_updated_is_picked_up(app: App) -> None:
    client = app.client()
    first = client.token()
    regenerate_by_hand(app)
    client.invalidate(first)
    assert client.token() != first  # invalid_client -> re-read bypassing the 300 s cache -> success


def test_invalidate_keeps_a_newer_token(app: App) -> None:
    client = app.client()
    old = client.token()
    client.invalidate(old)
    new = client.token()
    assert client.invalidate(old) is False
    assert client.token() == new


def test_genesys_auth_works_with_a_plain_session(app: App) -> None:
    client = app.client()
    session = requests.Session()
    session.auth = GenesysAuth(client.provider)
    app.emulator.revoke_client_tokens(app.oauth.client_id)
    first = session.get(f"{app.emulator.url}/api/v2/organizations/me", timeout=5)
    assert first.status_code == 200
    assert len(first.history) == 0
    app.emulator.revoke_client_tokens(app.oauth.client_id)
    replayed = session.get(f"{app.emulator.url}/api/v2/organizations/me", timeout=5)
    assert replayed.status_code == 200
    assert [r.status_code for r in replayed.history] == [401]


def test_replay_resends_the_body(app: App) -> None:
    client = app.client()
    admin = app.emulator.add_client(permissions=["oauth:client:edit"])
    admin_secret = create_credentials_secret(app.moto, admin.client_id, admin.secret)
    admin_client = GenesysClient(app.settings(secret_id=admin_secret))
    app.emulator.revoke_client_tokens(admin.client_id)
    admin_client.token()
    app.emulator.revoke_client_tokens(admin.client_id)
    response = admin_client.post(f"/api/v2/oauth/clients/{app.oauth.client_id}/secret", json={})
    assert response.status_code == 200
    assert admin_client.replays == 1
    assert client  # the app's own client untouched


def test_paged_queues(app: App) -> None:
    client = app.client()
    names: list[str] = []
    page = 1
    while True:
        body = client.get("/api/v2/routing/queues", params={"pageSize": 25, "pageNumber": page}).json()
        names += [queue["name"] for queue in body["entities"]]
        if page >= body["pageCount"]:
            break
        page += 1
    assert len(names) == body["total"]
    assert app.emulator.mints() == 1


def test_deadline_scope_from_lambda_context(app: App) -> None:
    class Context:
        def get_remaining_time_in_millis(self) -> int:
            return 900

    app.emulator.rate_limit_next(1000, endpoint="token")
    client = app.client()
    client.secrets.current()
    started = time.monotonic()
    with client.deadline(Context()), pytest.raises(RateLimitedError):
        client.get("/api/v2/organizations/me")
    assert time.monotonic() - started < 3.0  # bounded by the 0.9 s context, not the endless limit


def test_path_must_be_relative(app: App) -> None:
    from genesys_auth import ConfigurationError

    with pytest.raises(ConfigurationError, match="path must start"):
        app.client().get("https://evil.example/api")


@pytest.fixture
def metrics_app(make_app: Callable[..., App]) -> App:
    return make_app()


def test_metrics_are_emf_lines(metrics_app: App, capsys: pytest.CaptureFixture[str]) -> None:
    client = metrics_app.client(metrics=True, metrics_namespace="GenesysAuthTest")
    client.token()
    out = capsys.readouterr().out
    line = next(json.loads(x) for x in out.splitlines() if x.startswith("{") and "TokenMinted" in x)
    assert line["_aws"]["CloudWatchMetrics"][0]["Namespace"] == "GenesysAuthTest"
    assert line["TokenMinted"] == [1.0] or line["TokenMinted"] == 1.0


def test_recovery_reads_only_the_secret_versions_it_needs(app: App) -> None:
    client = app.client()
    first = client.token()
    regenerate_by_hand(app)
    client.invalidate(first)
    reads_before = client.secrets.reads
    client.token()
    # The cached (old) value fails with invalid_client, the forced AWSCURRENT read works: one read.
    assert client.secrets.reads - reads_before == 1
