"""The shared DynamoDB tier: many containers (separate OS processes), one mint.

Containers are real processes (tests/harness/container.py) talking to moto server and the
Genesys emulator over loopback; the table's conditions are decided by moto.
"""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from collections.abc import Callable

import pytest

from genesys_auth import Deadline
from genesys_auth.dynamodb import DynamoTokenStore
from genesys_auth.shared import SharedSource
from tests.conftest import App
from tests.harness.aws import MotoServer, create_token_table
from tests.harness.container import Container, broadcast

ORG = "/api/v2/organizations/me"


@pytest.fixture
def table(moto: MotoServer) -> str:
    return create_token_table(moto)


def item(app: App, table: str) -> dict[str, object]:
    answer = app.moto.client("dynamodb").get_item(
        TableName=table, Key={"pk": {"S": f"token#{app.secret_id}"}}, ConsistentRead=True
    )
    return answer.get("Item", {})


def test_fifty_cold_containers_mint_once(app: App, table: str, fleet: Callable[..., list[Container]]) -> None:
    app.emulator.set_latency(0.3, endpoint="token")
    containers = fleet(app.env(GENESYS_TOKEN_TABLE=table), 50)
    results = broadcast(containers, op="token", deadline_s=20)
    assert all(r["ok"] for r in results), [r.get("message") for r in results if not r["ok"]]
    assert app.emulator.mints() == 1
    assert len({r["fp"] for r in results}) == 1
    assert sum(r["mints"] for r in results) == 1
    assert max(r["elapsed_ms"] for r in results) < 20_000  # nobody waited past its deadline
    # Only the lease holder read the secret; the 49 others never touched Secrets Manager.
    assert sum(r["secret_reads"] for r in results) == 1


def test_shared_hit_needs_no_secret(app: App, table: str, fleet: Callable[..., list[Container]]) -> None:
    env = app.env(GENESYS_TOKEN_TABLE=table)
    (first,) = fleet(env, 1)
    minted = first.call(op="token")
    assert minted["ok"]
    app.moto.client("secretsmanager").delete_secret(SecretId=app.secret_id, ForceDeleteWithoutRecovery=True)
    others = fleet(env, 5)
    results = broadcast(others, op="get", path=ORG)
    assert [r["status"] for r in results] == [200] * 5
    assert {r["fp"] for r in results} == {minted["fp"]}
    assert sum(r["secret_reads"] for r in results) == 0
    assert app.emulator.mints() == 1


def test_revoked_token_recovers_with_one_mint_in_total(
    app: App, table: str, fleet: Callable[..., list[Container]]
) -> None:
    containers = fleet(app.env(GENESYS_TOKEN_TABLE=table), 10)
    first = broadcast(containers, op="token")
    assert len({r["fp"] for r in first}) == 1
    app.emulator.revoke_client_tokens(app.oauth.client_id)
    results = broadcast(containers, op="get", path=ORG)
    assert [r.get("status") for r in results] == [200] * 10, results
    assert app.emulator.mints() == 2  # the first token and exactly one replacement
    assert len({r["fp"] for r in results}) == 1
    assert sum(r["replays"] for r in results) == 10


def test_lease_holder_killed_mid_mint_is_taken_over(
    app: App, table: str, fleet: Callable[..., list[Container]]
) -> None:
    app.emulator.set_latency(1.5, endpoint="token")
    holder, waiter = fleet(app.env(GENESYS_TOKEN_TABLE=table), 2)
    holder.send(op="token", deadline_s=4)  # lease = min(15, max(3, 4)) = 4 s
    # Wait until the holder's mint request is inside the emulator (it answers after 1.5 s).
    until = time.monotonic() + 10
    while not app.emulator.token_request_times():
        assert time.monotonic() < until, "holder never reached the token endpoint"
        time.sleep(0.01)
    lease = item(app, table)
    lease_until = float(lease["lease_until"]["N"])  # type: ignore[index]
    os.kill(holder.proc.pid, signal.SIGKILL)
    holder.proc.wait()
    app.emulator.set_latency(0.0, endpoint="token")
    answer = waiter.call(op="token", deadline_s=15)
    assert answer["ok"], answer
    assert answer["mints"] == 1  # the waiter minted itself, after taking the lease over
    times = app.emulator.token_request_times()
    assert len(times) == 2
    assert times[1] >= lease_until - 0.05  # the second mint only once the dead holder's lease lapsed


def test_late_write_back_does_not_overwrite_a_newer_token(app: App, table: str) -> None:
    client_a, client_b = app.client(token_table=table), app.client(token_table=table)
    store_a = DynamoTokenStore(table, app.secret_id)
    store_b = DynamoTokenStore(table, app.secret_id)
    lease_a = store_a.acquire("worker-a", None, lease_seconds=0.0)  # lapses at once
    token_a = client_a.minter.mint(Deadline.after(10))
    record = store_b.load()
    lease_b = store_b.acquire("worker-b", record, lease_seconds=10)  # takes the lapsed lease over
    token_b = client_b.minter.mint(Deadline.after(10))
    version_b = store_b.publish(lease_b, token_b, app.oauth.client_id)
    assert version_b is not None
    assert store_a.publish(lease_a, token_a, app.oauth.client_id) is None  # fenced out
    stored = store_a.load()
    assert stored is not None and stored.token is not None
    assert stored.token.hash == token_b.hash
    assert stored.version == version_b


def test_lost_lease_keeps_its_own_token_without_publishing(app: App, table: str) -> None:
    client = app.client(token_table=table)
    source = client.provider.source
    assert isinstance(source, SharedSource)
    store = DynamoTokenStore(table, app.secret_id)
    lease = store.acquire("worker-x", None, lease_seconds=0.0)
    intruder = store.acquire("worker-y", store.load(), lease_seconds=30)
    token = source._mint_and_publish(store, lease, Deadline.after(10))
    assert token.version == 0  # used locally, not published
    assert client.metrics.counts["LeaseLost"] == 1
    assert store.load().owner == intruder.owner  # type: ignore[union-attr]


def test_compare_and_invalidate_keeps_a_newer_token(app: App, table: str) -> None:
    client = app.client(token_table=table)
    old = client.token()
    store = DynamoTokenStore(table, app.secret_id)
    assert store.invalidate(client.token_info().hash) is True
    other = app.client(token_table=table)
    new = other.token()
    assert new != old
    # A container that still holds the old token reports its 401 late: the new one must survive.
    client.invalidate(old)
    stored = store.load()
    assert stored is not None and stored.token is not None and stored.token.access_token == new


def test_advisory_window_does_not_wait_for_another_containers_mint(app: App, table: str) -> None:
    # 10 s tokens: advisory window 3 s (+ jitter up to 0.5 s), mandatory 2 s.
    short = app.emulator.add_client(lifetime=10)
    from tests.harness.aws import create_credentials_secret

    secret_id = create_credentials_secret(app.moto, short.client_id, short.secret)
    settings = {"secret_id": secret_id, "token_table": table}
    a, b = app.client(**settings), app.client(**settings)
    first = a.token_info()
    b.token()
    store = DynamoTokenStore(table, secret_id)
    # Someone else holds the lease (mid-mint) while b's token enters the advisory window.
    store.acquire("someone-else", store.load(), lease_seconds=30)
    wait_until = first.expires_at - 3.0
    time.sleep(max(0.0, wait_until - time.time()))  # let the token age into STALE (real time passing)
    started = time.monotonic()
    assert b.token(deadline=20) == first.access_token  # still valid: served, not waited for
    # Waiting would last until the 30 s lease or the 20 s deadline; two table requests take far less.
    assert time.monotonic() - started < 5.0
    assert app.emulator.mints(short.client_id) == 1


def test_table_unreachable_degrades_to_direct_minting(app: App, caplog: pytest.LogCaptureFixture) -> None:
    client = app.client(token_table="no-such-table")
    assert client.get(ORG).status_code == 200
    assert client.get(ORG).status_code == 200
    assert client.metrics.counts["SharedCacheUnavailable"] == 1
    warnings = [r for r in caplog.records if "shared token cache unavailable" in r.getMessage()]
    assert len(warnings) == 1
    assert "ResourceNotFoundException" in warnings[0].getMessage()
    assert app.emulator.mints() == 1


def test_dynamodb_endpoint_down_still_serves_calls(app: App, table: str) -> None:
    env = app.env(GENESYS_TOKEN_TABLE=table, AWS_ENDPOINT_URL_DYNAMODB="http://127.0.0.1:9")
    container = Container(env)
    try:
        container.wait_ready()
        results = [container.call(op="get", path=ORG) for _ in range(3)]
        assert [r["status"] for r in results] == [200] * 3
        assert results[-1]["metrics"]["SharedCacheUnavailable"] == 1
        assert results[-1]["mints"] == 1
    finally:
        output = container.stop()
    assert "shared token cache unavailable" in output


def test_degraded_threads_still_single_flight(app: App) -> None:
    client = app.client(token_table="no-such-table")
    app.emulator.set_latency(0.2, endpoint="token")
    barrier = threading.Barrier(16)

    def call() -> str:
        barrier.wait()
        return client.token()

    threads_results: list[str] = []
    workers = [threading.Thread(target=lambda: threads_results.append(call())) for _ in range(16)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    assert len(set(threads_results)) == 1
    assert app.emulator.mints() == 1


def test_item_format(app: App, table: str) -> None:
    client = app.client(token_table=table)
    client.token()
    stored = item(app, table)
    assert set(stored) >= {
        "pk",
        "version",
        "access_token",
        "token_hash",
        "token_type",
        "expires_at",
        "lifetime",
        "api_url",
        "client_id",
        "ttl",
    }
    assert "owner" not in stored and "lease_until" not in stored  # released in the publishing write
    assert json.loads(json.dumps(stored["client_id"])) == {"S": app.oauth.client_id}
    assert int(stored["ttl"]["N"]) > float(stored["expires_at"]["N"])  # type: ignore[index]
