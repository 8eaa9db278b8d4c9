"""The rotation function (functions/rotation) against moto server and the Genesys emulator.

The handler is called directly with the events Secrets Manager and EventBridge Scheduler send
(moto's own rotate_secret is unreliable, see the reference). Consumers are real OS processes
(tests/harness/traffic.py), each a `GenesysClient.from_env()` calling the API in a loop.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from genesys_auth import GenesysClient, Settings
from tests.conftest import LeakWatch
from tests.harness.aws import MotoServer, patched_environ, put_secret_string
from tests.harness.genesys_emulator import GenesysEmulator
from tests.harness.rotation import RotationWorld, load_rotation_app, make_rotation_world
from tests.harness.traffic import Fleet

STEPS = ("createSecret", "setSecret", "testSecret", "finishSecret")
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def app() -> ModuleType:
    return load_rotation_app()


@pytest.fixture
def world(moto: MotoServer, emulator: GenesysEmulator) -> Iterator[RotationWorld]:
    emulator.api_rate_limit = 1_000_000  # the per-token API limit is not under test here
    world = make_rotation_world(moto, emulator)
    with patched_environ(world.env()):
        yield world


def consumer(world: RotationWorld, **overrides: Any) -> GenesysClient:
    values: dict[str, Any] = {
        "secret_id": world.secret_id,
        "login_url": world.emulator.url,
        "api_url": world.emulator.url,
        "extension": "off",
    }
    values.update(overrides)
    return GenesysClient(Settings(**values))


def assert_rotated_once(world: RotationWorld, original: str, new_version: str) -> None:
    stages = world.stages()
    assert stages[new_version] == ["AWSCURRENT"]  # AWSPENDING removed
    assert stages[original] == ["AWSPREVIOUS"]
    assert world.version_with("AWSPENDING") is None
    current = world.value()
    assert current["client_id"] == world.b.client_id
    assert current["alternate_client_id"] == world.a.client_id
    assert current["client_secret"] == world.emulator.client(world.b.client_id).secret
    assert world.regenerations() == 1
    assert world.emulator.client(world.a.client_id).secret == world.a.secret  # the active client is untouched


# -- the full rotation --------------------------------------------------------------------------------


def test_scheduled_rotation_swaps_to_the_standby_client(app: ModuleType, world: RotationWorld) -> None:
    original = world.version_with("AWSCURRENT")
    assert original is not None
    client = consumer(world)
    assert client.get("/api/v2/organizations/me").status_code == 200

    result = app.handler(world.scheduled_event(), None)

    assert result["status"] == "rotated"
    assert result["client_id"] == world.b.client_id
    assert_rotated_once(world, original, result["version"])
    previous = world.value("AWSPREVIOUS")
    assert previous["client_id"] == world.a.client_id
    # A fresh consumer mints with B; tokens/me confirms it.
    me = consumer(world).get("/api/v2/tokens/me").json()
    assert me["OAuthClient"]["id"] == world.b.client_id
    # The lease is free again and remembers the rotation.
    item = world.moto.client("dynamodb").get_item(
        TableName=world.table, Key={"pk": {"S": f"rotation#{world.secret_id}"}}, ConsistentRead=True
    )["Item"]
    assert "owner" not in item
    assert item["rotations"]["N"] == "1"
    assert item["rotated_version"]["S"] == result["version"]
    assert int(item["ttl"]["N"]) > time.time()


@pytest.mark.parametrize("survive", [True, False], ids=["tokens-survive-regeneration", "tokens-die-on-regeneration"])
def test_rotations_under_traffic_from_10_processes_fail_no_call(
    app: ModuleType, world: RotationWorld, leaks: LeakWatch, survive: bool
) -> None:
    """10 consumer processes (secret cache 1 s, 4 s tokens) call the API throughout two rotations.

    1. A -> B, scheduled: the standby B is regenerated; A, which every process uses, is untouched.
    2. B -> A, forced once every process runs on B (what the guard allows after its interval).
    Either way the client being regenerated has no token in use, so whether Genesys lets issued
    tokens survive a regeneration makes no difference: zero failed calls in both emulator modes.
    """
    world.emulator.tokens_survive_regeneration = survive
    for record in (world.a, world.b):
        world.emulator.client(record.client_id).lifetime = 4
    fleet = Fleet(10, world.consumer_env(GENESYS_SECRET_MAX_AGE="1"), pace=0.02, feed=leaks.feed)
    try:
        fleet.wait_ready()
        assert set(fleet.client_of.values()) == {world.a.client_id}

        first = app.handler(world.scheduled_event(), None)
        assert first["status"] == "rotated"
        fleet.wait_all_on(world.b.client_id)

        second = app.handler(world.scheduled_event(force=True), None)
        assert second["status"] == "rotated"
        assert second["client_id"] == world.a.client_id
        fleet.wait_all_on(world.a.client_id)
    finally:
        reports = fleet.stop()
    counts = world.emulator.counts()
    ok = sum(r["ok"] for r in reports)
    failed = sum(r["failed"] for r in reports)
    print(
        f"\n10 processes, tokens survive={survive}: {ok} ok, {failed} failed calls, "
        f"{sum(r.get('replays', 0) for r in reports)} 401 replays, {counts['api']['status'].get('401', 0)} API 401s, "
        f"{counts['token']['errors'].get('invalid_client', 0)} invalid_client, {world.regenerations()} regenerations"
    )
    assert failed == 0, reports
    assert all(r["ok"] > 0 for r in reports)
    assert world.regenerations() == 2
    # Every process ran on A, then B, then A again: the traffic really followed both rotations.
    assert all(r["clients"] == [world.a.client_id, world.b.client_id, world.a.client_id] for r in reports), reports
    assert counts["api"]["status"].get("401", 0) == 0


def test_a_forced_early_rotation_is_ridden_out_by_the_library(app: ModuleType, world: RotationWorld) -> None:
    """What the guard prevents: regenerating a client whose tokens are still in use.

    A consumer keeps its token of A across rotation 1 (A -> B); rotation 2 is forced at once and
    regenerates A, killing that token (emulator mode: tokens die). Our library still recovers:
    401 -> one replay -> invalid_client with the cached secret -> re-read -> the new secret.
    Consumers that do not re-read on invalid_client would fail here, hence the guard.
    """
    world.emulator.tokens_survive_regeneration = False
    client = consumer(world)  # secret cache 300 s, 24 h tokens
    assert client.get("/api/v2/organizations/me").status_code == 200
    assert app.handler(world.scheduled_event(), None)["status"] == "rotated"
    assert client.get("/api/v2/organizations/me").status_code == 200  # A untouched by rotation 1
    assert app.handler(world.scheduled_event(), None)["status"] == "refused"
    assert app.handler(world.scheduled_event(force=True), None)["status"] == "rotated"

    assert client.get("/api/v2/organizations/me").status_code == 200
    assert client.replays == 1
    assert world.emulator.counts()["token"]["errors"].get("invalid_client", 0) == 1
    assert client.get("/api/v2/tokens/me").json()["OAuthClient"]["id"] == world.a.client_id


# -- crash and resume ------------------------------------------------------------------------------


@pytest.mark.parametrize("crashed_after", STEPS)
def test_a_crash_after_any_step_is_completed_by_the_next_delivery(
    app: ModuleType, world: RotationWorld, crashed_after: str
) -> None:
    """Steps 1..k run (as Secrets Manager would send them), then the invocation dies; the next
    scheduled delivery resumes that version instead of starting another: one regeneration."""
    original = world.version_with("AWSCURRENT")
    assert original is not None
    version_id = str(uuid.uuid4())
    for step in STEPS[: STEPS.index(crashed_after) + 1]:
        app.handler(world.step_event(step, version_id), None)
    assert world.regenerations() == 1
    if crashed_after != "finishSecret":
        assert world.version_with("AWSCURRENT") == original  # nothing promoted before finishSecret
        assert world.version_with("AWSPENDING") == version_id

    result = app.handler(world.scheduled_event(), None)

    if crashed_after == "finishSecret":
        # Already complete: the rerun starts nothing (the guard: A was active moments ago).
        assert result["status"] == "refused"
    else:
        assert result == {**result, "status": "resumed", "version": version_id, "client_id": world.b.client_id}
    assert_rotated_once(world, original, version_id)
    assert consumer(world).get("/api/v2/tokens/me").json()["OAuthClient"]["id"] == world.b.client_id


def test_every_step_is_idempotent_on_its_token(app: ModuleType, world: RotationWorld) -> None:
    original = world.version_with("AWSCURRENT")
    assert original is not None
    version_id = str(uuid.uuid4())
    for step in STEPS:
        for _ in range(2):
            app.handler(world.step_event(step, version_id), None)
    for step in STEPS:  # a late redelivery of any step after completion is a no-op
        assert app.handler(world.step_event(step, version_id), None)["result"] == "current"
    assert_rotated_once(world, original, version_id)


def test_a_holder_that_died_with_the_lease_is_taken_over_after_it_expires(
    app: ModuleType, world: RotationWorld
) -> None:
    ddb = world.moto.client("dynamodb")
    key = {"pk": {"S": f"rotation#{world.secret_id}"}}
    # An invocation took the lease, staged AWSPENDING, and was killed (its lease ends in the future).
    version_id = str(uuid.uuid4())
    app.handler(world.step_event("createSecret", version_id), None)
    ddb.put_item(
        TableName=world.table,
        Item={**key, "owner": {"S": "dead-invocation"}, "lease_until": {"N": str(time.time() + 300)}},
    )
    assert app.handler(world.scheduled_event(), None)["status"] == "skipped"
    assert world.version_with("AWSPENDING") == version_id
    # Once its lease has expired, the next delivery takes over and finishes the same version.
    ddb.update_item(
        TableName=world.table,
        Key=key,
        UpdateExpression="SET lease_until = :past",
        ExpressionAttributeValues={":past": {"N": str(time.time() - 1)}},
    )
    result = app.handler(world.scheduled_event(), None)
    assert (result["status"], result["version"]) == ("resumed", version_id)
    assert world.regenerations() == 1


# -- concurrency ------------------------------------------------------------------------------------


def test_two_deliveries_at_once_make_one_rotation(app: ModuleType, world: RotationWorld) -> None:
    original = world.version_with("AWSCURRENT")
    assert original is not None
    world.emulator.set_latency(0.2, endpoint="api")  # keep the winner busy while the other arrives
    barrier = threading.Barrier(2)
    results: list[dict[str, Any]] = []
    errors: list[BaseException] = []

    def deliver() -> None:
        barrier.wait()
        try:
            results.append(app.handler(world.scheduled_event(), None))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=deliver) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    statuses = sorted(r["status"] for r in results)
    assert statuses in (["rotated", "skipped"], ["refused", "rotated"])
    winner = next(r for r in results if r["status"] == "rotated")
    assert_rotated_once(world, original, winner["version"])
    assert len(world.stages()) == 2  # exactly one new version


# -- failures ----------------------------------------------------------------------------------------


def test_wrong_admin_credentials_fail_clearly_and_leave_awscurrent(
    app: ModuleType, moto: MotoServer, emulator: GenesysEmulator
) -> None:
    world = make_rotation_world(
        moto,
        emulator,
        admin_secret_value=lambda admin: json.dumps({"client_id": admin.client_id, "client_secret": "wrong-secret"}),
    )
    before = (world.version_with("AWSCURRENT"), world.value())
    with patched_environ(world.env()):
        with pytest.raises(Exception, match=r"rotation|admin") as info:
            app.handler(world.scheduled_event(), None)
        message = str(info.value)
        assert "admin client cannot authenticate" in message
        assert world.admin_secret_id in message
        assert (world.version_with("AWSCURRENT"), world.value()) == before
        assert world.version_with("AWSPENDING") is None
        assert world.regenerations() == 0
        # The lease was released: fixing the admin secret lets the next delivery rotate at once.
        moto.client("secretsmanager").put_secret_value(
            SecretId=world.admin_secret_id,
            SecretString=json.dumps({"client_id": world.admin.client_id, "client_secret": world.admin.secret}),
        )
        assert app.handler(world.scheduled_event(), None)["status"] == "rotated"


def test_an_admin_without_oauth_client_edit_is_refused_by_genesys(
    app: ModuleType, moto: MotoServer, emulator: GenesysEmulator
) -> None:
    world = make_rotation_world(moto, emulator, admin_permissions=("oauth:client:view",))
    with patched_environ(world.env()), pytest.raises(Exception, match=r"lacks the permission oauth:client:edit"):
        app.handler(world.scheduled_event(), None)
    assert world.version_with("AWSPENDING") is None
    assert world.regenerations() == 0


def test_a_pending_version_genesys_rejects_is_abandoned_then_redone(app: ModuleType, world: RotationWorld) -> None:
    original = world.version_with("AWSCURRENT")
    version_id = str(uuid.uuid4())
    app.handler(world.step_event("createSecret", version_id), None)
    world.emulator.regenerate_secret(world.b.client_id)  # someone regenerates B by hand in between
    with pytest.raises(Exception, match=r"refuses the AWSPENDING credentials"):
        app.handler(world.scheduled_event(), None)
    assert world.version_with("AWSCURRENT") == original
    assert world.version_with("AWSPENDING") is None  # abandoned, so the retry starts afresh
    result = app.handler(world.scheduled_event(), None)
    assert result["status"] == "rotated" and result["version"] != version_id
    assert world.value()["client_id"] == world.b.client_id
    assert consumer(world).get("/api/v2/tokens/me").json()["OAuthClient"]["id"] == world.b.client_id


def test_step_events_keep_the_protocol_guards(app: ModuleType, world: RotationWorld) -> None:
    # A secret this function does not own (GENESYS_SECRET_ID) needs native rotation enabled.
    with (
        patched_environ({"GENESYS_SECRET_ID": "genesys/some-other-secret"}),
        pytest.raises(Exception, match=r"rotation is not enabled"),
    ):
        app.handler(world.step_event("createSecret", str(uuid.uuid4())), None)
    # Later steps need a version that createSecret made.
    with pytest.raises(Exception, match=r"does not exist in the secret; run createSecret first"):
        app.handler(world.step_event("testSecret", str(uuid.uuid4())), None)
    original = world.version_with("AWSCURRENT")
    version_id = str(uuid.uuid4())
    app.handler(world.step_event("createSecret", version_id), None)
    # While a rotation is pending, createSecret with another version id does not start a second one.
    with pytest.raises(Exception, match=r"another rotation is in progress"):
        app.handler(world.step_event("createSecret", str(uuid.uuid4())), None)
    for step in STEPS[1:]:
        app.handler(world.step_event(step, version_id), None)
    # A version that is neither AWSPENDING nor AWSCURRENT cannot be rotated to.
    with pytest.raises(Exception, match=r"not staged AWSPENDING"):
        app.handler(world.step_event("finishSecret", str(original)), None)
    with pytest.raises(Exception, match=r"unsupported event"):
        app.handler({"hello": "world"}, None)
    assert world.regenerations() == 1


# -- the guard ---------------------------------------------------------------------------------------


def test_a_second_rotation_right_after_the_first_is_refused_unless_forced(
    app: ModuleType, world: RotationWorld
) -> None:
    assert app.handler(world.scheduled_event(), None)["status"] == "rotated"
    refused = app.handler(world.scheduled_event(), None)
    assert refused["status"] == "refused"
    # token lifetime (86400, or the longest Genesys issued) + secret cache (300) + margin (900)
    assert refused["next_allowed_at"] >= time.time() + 86400 + 300 + 900 - 60
    assert "or pass force" in refused["reason"]
    with pytest.raises(Exception, match=r"rotation refused"):  # a native createSecret is refused too
        app.handler(world.step_event("createSecret", str(uuid.uuid4())), None)
    assert world.regenerations() == 1 and world.value()["client_id"] == world.b.client_id
    assert world.version_with("AWSPENDING") is None

    forced = app.handler(world.scheduled_event(force=True), None)
    assert (forced["status"], forced["client_id"]) == ("rotated", world.a.client_id)
    assert world.regenerations() == 2


def test_the_guard_learns_a_longer_token_lifetime_from_genesys(
    app: ModuleType, moto: MotoServer, emulator: GenesysEmulator
) -> None:
    world = make_rotation_world(moto, emulator, lifetime=172800)
    with patched_environ(world.env(GENESYS_TOKEN_LIFETIME="3600", GENESYS_ROTATION_MARGIN="0")):
        assert app.handler(world.scheduled_event(), None)["status"] == "rotated"
        refused = app.handler(world.scheduled_event(), None)
    assert refused["status"] == "refused"
    assert refused["next_allowed_at"] >= time.time() + 172800 - 60


# -- a secret regenerated by hand --------------------------------------------------------------------


def test_a_secret_regenerated_by_hand_is_recovered_by_the_library(app: ModuleType, world: RotationWorld) -> None:
    """An admin regenerates the active client's secret in Genesys, then updates Secrets Manager.

    A warm consumer (secret cached for 300 s, its token killed) recovers on its next call, and
    the next scheduled rotation starts from the updated secret.
    """
    world.emulator.tokens_survive_regeneration = False
    client = consumer(world)
    assert client.get("/api/v2/organizations/me").status_code == 200
    new_secret = world.emulator.regenerate_secret(world.a.client_id)
    put_secret_string(
        world.moto,
        world.secret_id,
        json.dumps(
            {"client_id": world.a.client_id, "client_secret": new_secret, "alternate_client_id": world.b.client_id}
        ),
    )
    assert client.get("/api/v2/organizations/me").status_code == 200
    assert client.replays == 1
    assert (
        world.emulator.counts()["token"]["errors"].get("invalid_client", 0) == 1
    )  # stale cached secret, bypassed once
    result = app.handler(world.scheduled_event(), None)
    assert (result["status"], result["client_id"]) == ("rotated", world.b.client_id)
    assert world.value("AWSPREVIOUS")["client_secret"] == new_secret


def test_a_failure_is_counted_as_an_emf_metric(
    app: ModuleType, world: RotationWorld, capsys: pytest.CaptureFixture[str]
) -> None:
    before = world.version_with("AWSCURRENT")
    with (
        patched_environ({"GENESYS_ADMIN_SECRET_ID": "genesys/no-such-admin-secret", "GENESYS_METRICS": "true"}),
        pytest.raises(Exception, match=r"admin secret genesys/no-such-admin-secret .* is unusable"),
    ):
        app.handler(world.scheduled_event(), None)
    emf = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
    assert any("RotationFailed" in entry for entry in emf), emf
    assert world.version_with("AWSCURRENT") == before and world.regenerations() == 0


# -- make invoke ----------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def library_layer(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The library layer as `make build` makes it, holding this checkout's genesys_auth.

    build/layers (from an earlier `make build`) is reused for its dependencies when present, which
    keeps this fast; its genesys_auth may predate the working tree, so that one is replaced."""
    layers = tmp_path_factory.mktemp("layers")
    built = ROOT / "build" / "layers" / "genesys-auth"
    if (built / "python").is_dir():
        shutil.copytree(built, layers / "genesys-auth", ignore=shutil.ignore_patterns("__pycache__"))
        shutil.rmtree(layers / "genesys-auth" / "python" / "genesys_auth")
        shutil.copytree(
            ROOT / "layer" / "genesys_auth",
            layers / "genesys-auth" / "python" / "genesys_auth",
            ignore=shutil.ignore_patterns("__pycache__"),
        )
        return layers
    sys.path.insert(0, str(ROOT / "extension"))
    try:
        import build_layers
    finally:
        sys.path.remove(str(ROOT / "extension"))
    build_layers.build(layers, only="genesys-auth")
    return layers


def test_make_invoke_runs_a_full_scheduled_rotation_against_the_emulators(
    library_layer: Path, leaks: LeakWatch
) -> None:
    """`make invoke FN=RotationFunction EVENT=events/rotation-scheduled.json` without the build step."""
    command = [sys.executable, "-m", "tests.harness.invoke", "RotationFunction", "events/rotation-scheduled.json"]
    done = subprocess.run(
        [*command, "--layers", str(library_layer)], cwd=ROOT, capture_output=True, text=True, timeout=150, check=False
    )
    leaks.feed(done.stdout + done.stderr)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    # The last thing printed is the function's answer; before it, the secrets as moto holds them after the run.
    answer = json.loads(done.stdout[done.stdout.rindex("\n{\n") :])
    state = re.search(
        r"^secret genesys/genesys-credentials: AWSCURRENT client (\S+) \((\w+)\), AWSPREVIOUS client (\S+) \((\w+)\);",
        done.stdout,
        re.MULTILINE,
    )
    assert state is not None, done.stdout[-3000:]
    current, current_role, previous, previous_role = state.groups()
    assert (current_role, previous_role) == ("standby", "active")  # AWSCURRENT names the standby client now
    assert answer == {**answer, "status": "rotated", "secret": "genesys/genesys-credentials", "client_id": current}
    assert previous != current
