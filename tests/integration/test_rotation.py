"""The rotation function (functions/rotation) against moto server and the Genesys emulator.

The handler is called directly with the events Secrets Manager and EventBridge Scheduler send
(moto's own rotate_secret is unreliable, see the reference). Consumers are real OS processes
(tests/harness/traffic.py), each a `GenesysClient.from_env()` calling the API in a loop.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
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
