"""The library's fenced item lease (genesys_auth/lease.py) against DynamoDB (moto in server mode).

Both of its users sit on it: the shared token cache (token#... items, tests/integration/test_shared_cache.py)
and the rotation (rotation#... items, tests/integration/test_rotation.py). Here: its own contract.
"""

from __future__ import annotations

import time
import uuid
from typing import Any

import pytest

from genesys_auth.aws import error_code
from genesys_auth.lease import ABSENT, ItemLease, LeaseBusy
from tests.harness.aws import MotoServer, create_token_table


class TableDown(Exception):
    pass


def failure(operation: str, code: str) -> TableDown:
    return TableDown(f"{operation}: {code}")


@pytest.fixture
def table(moto: MotoServer) -> str:
    return create_token_table(moto)


def lease_on(moto: MotoServer, table: str, **kwargs: Any) -> ItemLease:
    ddb = moto.client("dynamodb")
    return ItemLease(lambda: ddb, table, {"pk": {"S": f"test#{uuid.uuid4().hex}"}}, failure, **kwargs)


def test_one_owner_at_a_time_and_the_loser_sees_the_item(moto: MotoServer, table: str) -> None:
    item = lease_on(moto, table)
    first = item.acquire("a", 30, version=ABSENT)
    assert (first.owner, first.version) == ("a", 0)
    with pytest.raises(LeaseBusy) as busy:
        item.acquire("b", 30)
    assert ItemLease.state(busy.value.item).owner == "a"  # from the refused write itself
    assert ItemLease.state(item.read()).held(time.time())


def test_a_lapsed_lease_is_taken_over_and_its_holder_fenced_out(moto: MotoServer, table: str) -> None:
    item = lease_on(moto, table)
    old = item.acquire("a", 0.0)  # lapses at once
    new = item.acquire("b", 30)
    assert item.write(old, set_={"note": {"S": "from a"}}) is None  # a no longer holds it: nothing written
    assert item.write(new, set_={"note": {"S": "from b"}}) is not None
    assert (item.read() or {})["note"] == {"S": "from b"}
    assert item.release(old) is False
    assert item.release(new) is True
    assert ItemLease.state(item.read()).owner is None


def test_expecting_absence_is_refused_once_the_item_exists(moto: MotoServer, table: str) -> None:
    item = lease_on(moto, table)
    lease = item.acquire("a", 0.0, version=ABSENT)  # lapses at once, but the item now exists
    with pytest.raises(LeaseBusy) as busy:
        item.acquire("b", 30, version=ABSENT)
    assert ItemLease.state(busy.value.item).owner == "a"
    assert item.acquire("b", 30, version=lease.version).owner == "b"  # the version it holds


def test_bump_grows_the_version_and_release_in_the_same_write_frees_the_lease(moto: MotoServer, table: str) -> None:
    item = lease_on(moto, table)
    lease = item.acquire("a", 30, version=ABSENT)
    written = item.write(lease, set_={"ttl": {"N": "1"}, "owner_note": {"S": "x"}}, bump=True, release=True)
    assert written is not None and written["version"] == {"N": "1"}
    state = ItemLease.state(item.read())
    assert (state.owner, state.version) == (None, 1)
    # The item is now at version 1: a worker that read version 0 may not take the lease.
    with pytest.raises(LeaseBusy):
        item.acquire("b", 30, version=0)
    assert item.acquire("b", 30, version=1).version == 1


def test_an_item_without_a_version_is_leased_when_no_version_is_asked_for(moto: MotoServer, table: str) -> None:
    """A rotation item written by hand or by an older release: owner and lease_until only."""
    item = lease_on(moto, table)
    moto.client("dynamodb").put_item(
        TableName=table, Item={**item.key, "owner": {"S": "dead"}, "lease_until": {"N": str(time.time() - 1)}}
    )
    lease = item.acquire("alive", 30, set_={"ttl": {"N": "5"}}, remove=["rotating"])
    assert lease.version == 0
    assert (item.read() or {})["ttl"] == {"N": "5"}


def test_adds_counters_and_moves_the_end_of_the_lease_within_the_longest(moto: MotoServer, table: str) -> None:
    item = lease_on(moto, table, longest=60)
    lease = item.acquire("a", 3600)
    assert lease.until <= time.time() + 60  # never longer than the longest lease
    item.write(lease, add={"count": {"N": "1"}})
    item.write(lease, add={"count": {"N": "1"}}, until=time.time() + 3600)
    stored = item.read() or {}
    assert stored["count"] == {"N": "2"}
    assert float(stored["lease_until"]["N"]) <= time.time() + 60


def test_table_failures_become_the_callers_exception(moto: MotoServer) -> None:
    missing = lease_on(moto, "no-such-table")
    with pytest.raises(TableDown, match=r"^update_item: ResourceNotFoundException$"):
        missing.acquire("a", 30)
    with pytest.raises(TableDown, match=r"^get_item: ResourceNotFoundException$"):
        missing.read()
    import boto3
    from botocore.config import Config

    quick = Config(connect_timeout=0.2, read_timeout=0.2, retries={"max_attempts": 1, "mode": "standard"})
    dead = boto3.session.Session().client("dynamodb", endpoint_url="http://127.0.0.1:9", config=quick)
    with pytest.raises(TableDown, match=r"^update_item: EndpointConnectionError$"):
        ItemLease(lambda: dead, "any", {"pk": {"S": "x"}}, failure).acquire("a", 30)


def test_error_code_names_the_aws_code_or_the_exception_class() -> None:
    from botocore.exceptions import ClientError, EndpointConnectionError

    throttled = ClientError({"Error": {"Code": "ThrottlingException", "Message": "slow down"}}, "GetItem")
    assert error_code(throttled) == "ThrottlingException"
    assert error_code(EndpointConnectionError(endpoint_url="http://127.0.0.1:9")) == "EndpointConnectionError"
    assert error_code(ValueError("x")) == "ValueError"


def test_the_lease_attributes_are_not_the_callers_to_write(moto: MotoServer, table: str) -> None:
    item = lease_on(moto, table)
    lease = item.acquire("a", 30)
    with pytest.raises(ValueError, match="belongs to the lease"):
        item.write(lease, set_={"owner": {"S": "b"}})
    with pytest.raises(ValueError, match="belongs to the lease"):
        item.write(lease, add={"version": {"N": "1"}})
    with pytest.raises(ValueError, match="belongs to the lease"):
        item.acquire("b", 30, remove=["lease_until"])
    assert ItemLease.state(item.read()).owner == "a"
