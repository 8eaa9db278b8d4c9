"""The shared token item in DynamoDB: one item per credentials secret, read and written with
conditional expressions only.

Item (partition key ``pk`` = ``token#<secret name>``)::

    pk            S  "token#genesys/app"
    version       N  grows by one on every publish and invalidation (the fencing counter)
    access_token  S  the token (the table is encrypted at rest; never logged)
    token_hash    S  SHA-256 of the token, for compare-and-invalidate without sending the token
    token_type    S  "bearer"
    expires_at    N  epoch seconds (checked in code: TTL deletes up to days late)
    lifetime      N  seconds the token was issued for (scales the refresh windows)
    api_url       S  region API base URL, so a shared hit needs no secret read
    client_id     S  which OAuth client minted it (for operators; not secret)
    owner         S  lease holder (one random id per acquisition), absent when free
    lease_until   N  epoch seconds the lease ends
    ttl           N  cleanup only: expires_at + 1 day

Why the key is the secret and not (login host, client id): a container must find the item before
it has read the secret, or a shared hit would cost a Secrets Manager call. The secret name is in
its configuration; the client id is inside the secret.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from .aws import AwsService, OutOfTime, error_code
from .credentials import secret_name
from .deadline import Deadline
from .tokens import Token, TokenFormatError

log = logging.getLogger(__name__)

TTL_MARGIN_SECONDS = 86400
#: A table call gets at most a third of the time left, and at most 2 s per try: DynamoDB answers in
#: milliseconds, and a table that does not must leave time for the direct mint it degrades to.
TABLE_SHARE = 1 / 3
TABLE_CALL_CAP = 2.0


class StoreUnavailable(Exception):
    """The table could not be used (throttled, missing, denied, unreachable)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class Record:
    """What the item held when read (or when a conditional write failed)."""

    version: int
    token: Token | None
    owner: str | None
    lease_until: float

    def lease_held(self, now: float) -> bool:
        return self.owner is not None and self.lease_until >= now


@dataclass(frozen=True)
class Lease:
    owner: str
    version: int
    until: float


class LeaseTaken(Exception):
    """The conditional acquire failed; ``record`` is the item as it stood."""

    def __init__(self, record: Record | None) -> None:
        super().__init__("lease held by another worker or the item moved on")
        self.record = record


class DynamoTokenStore:
    """Reads and conditionally writes the shared token item of one credentials secret."""

    def __init__(self, table: str, secret_id: str, *, client: Any = None) -> None:
        self.table = table
        self.key = {"pk": {"S": f"token#{secret_name(secret_id)}"}}
        # One try per call: a table that fails degrades the source to direct minting anyway.
        self._aws = AwsService(
            "dynamodb", cap=TABLE_CALL_CAP, share=TABLE_SHARE, retries=False, on_client=self._watch, client=client
        )
        if client is not None:
            self._watch(client)
        #: DynamoDB requests actually sent by this process (a botocore hook counts them).
        self.requests = 0

    def _watch(self, client: Any) -> None:
        client.meta.events.register("before-call.dynamodb", self._count)

    def _count(self, **_: Any) -> None:
        self.requests += 1

    def load(self) -> Record | None:
        answer = self._call("get_item", TableName=self.table, Key=self.key, ConsistentRead=True)
        item = answer.get("Item")
        return _record(item) if item else None

    def acquire(self, owner: str, seen: Record | None, lease_seconds: float) -> Lease:
        """One conditional write: take the lease if it is free or expired and the item is still
        the version we read (or still absent). Raises :class:`LeaseTaken` with the current item."""
        now = time.time()
        until = now + lease_seconds
        try:
            answer = self._call(
                "update_item",
                TableName=self.table,
                Key=self.key,
                UpdateExpression="SET #owner = :me, lease_until = :until, #version = if_not_exists(#version, :zero)",
                ConditionExpression=(
                    "attribute_not_exists(pk) OR "
                    "((attribute_not_exists(#owner) OR lease_until < :now) AND #version = :seen)"
                ),
                ExpressionAttributeNames={"#owner": "owner", "#version": "version"},
                ExpressionAttributeValues={
                    ":me": {"S": owner},
                    ":until": _n(until),
                    ":now": _n(now),
                    ":zero": {"N": "0"},
                    ":seen": {"N": str(seen.version if seen else -1)},
                },
                ReturnValues="ALL_NEW",
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except _ConditionFailed as failed:
            raise LeaseTaken(_record(failed.item) if failed.item else self.load()) from None
        return Lease(owner=owner, version=int(answer["Attributes"]["version"]["N"]), until=until)

    def publish(self, lease: Lease, token: Token, client_id: str | None) -> int | None:
        """Write the new token if we still hold the lease (fenced); returns the new version, or
        None when the lease was lost (a newer writer must not be overwritten)."""
        values: dict[str, Any] = {
            ":me": {"S": lease.owner},
            ":one": {"N": "1"},
            ":token": {"S": token.access_token},
            ":hash": {"S": token.hash},
            ":type": {"S": token.token_type},
            ":exp": _n(token.expires_at),
            ":life": _n(token.lifetime),
            ":ttl": {"N": str(int(token.expires_at + TTL_MARGIN_SECONDS))},
        }
        sets = [
            "access_token = :token",
            "token_hash = :hash",
            "token_type = :type",
            "expires_at = :exp",
            "lifetime = :life",
            "#ttl = :ttl",
            "#version = #version + :one",
        ]
        if token.api_url:
            sets.append("api_url = :api")
            values[":api"] = {"S": token.api_url}
        if client_id:
            sets.append("client_id = :cid")
            values[":cid"] = {"S": client_id}
        try:
            answer = self._call(
                "update_item",
                TableName=self.table,
                Key=self.key,
                UpdateExpression="SET " + ", ".join(sets) + " REMOVE #owner, lease_until",
                ConditionExpression="#owner = :me",
                ExpressionAttributeNames={"#owner": "owner", "#version": "version", "#ttl": "ttl"},
                ExpressionAttributeValues=values,
                ReturnValues="UPDATED_NEW",
            )
        except _ConditionFailed:
            return None
        return int(answer["Attributes"]["version"]["N"])

    def release(self, lease: Lease) -> None:
        """Give the lease back after a failed mint so a waiter can try without waiting it out."""
        try:
            self._call(
                "update_item",
                TableName=self.table,
                Key=self.key,
                UpdateExpression="REMOVE #owner, lease_until",
                ConditionExpression="#owner = :me",
                ExpressionAttributeNames={"#owner": "owner"},
                ExpressionAttributeValues={":me": {"S": lease.owner}},
            )
        except _ConditionFailed:
            pass

    def invalidate(self, token_hash: str) -> bool:
        """Compare-and-delete: drop the stored token only if it is the one that failed."""
        try:
            self._call(
                "update_item",
                TableName=self.table,
                Key=self.key,
                UpdateExpression=("REMOVE access_token, token_hash, expires_at SET #version = #version + :one"),
                ConditionExpression="token_hash = :hash",
                ExpressionAttributeNames={"#version": "version"},
                ExpressionAttributeValues={":hash": {"S": token_hash}, ":one": {"N": "1"}},
            )
        except _ConditionFailed:
            return False
        return True

    def _call(self, operation: str, **kwargs: Any) -> Any:
        """One table call within the bound deadline (``genesys_auth.deadline.bound``)."""
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            return self._aws.call(operation, Deadline.of(None), **kwargs)
        except ClientError as exc:
            code = error_code(exc)
            if code == "ConditionalCheckFailedException":
                item = exc.response.get("Item")
                raise _ConditionFailed(item if isinstance(item, dict) else None) from None
            # Every other answer (throttled, missing table, denied...) means the same to the
            # caller: do without the shared tier for a while. The code goes into the log line.
            raise StoreUnavailable(f"DynamoDB {operation} on table {self.table}: {code}") from None
        except (BotoCoreError, OutOfTime) as exc:
            raise StoreUnavailable(f"DynamoDB {operation} on table {self.table}: {error_code(exc)}") from None


class _ConditionFailed(Exception):
    def __init__(self, item: dict[str, Any] | None) -> None:
        super().__init__("condition failed")
        self.item = item


def _n(value: float) -> dict[str, str]:
    return {"N": str(Decimal(repr(round(value, 3))))}


def _plain(item: dict[str, Any], name: str) -> Any:
    """An attribute's value as Python (N -> int/float, S -> str), or None when absent or of another type."""
    value = item.get(name)
    if not isinstance(value, dict):
        return None
    if isinstance(value.get("S"), str):
        return value["S"]
    number = value.get("N")
    if isinstance(number, str):
        try:
            parsed = Decimal(number)
        except ArithmeticError:
            return None
        if not parsed.is_finite():
            return None
        return int(parsed) if parsed == parsed.to_integral_value() else float(parsed)
    return None


def _record(item: dict[str, Any]) -> Record:
    """The item as read. A malformed token part (wrong types, bad token, absurd expiry) is treated
    as no token, never as an error: the cache can be corrupted, the call must still succeed."""
    version = _plain(item, "version")
    version = version if isinstance(version, int) and not isinstance(version, bool) and version >= 0 else 0
    token = None
    if "access_token" in item:
        fields = {
            name: _plain(item, name) for name in ("access_token", "token_type", "expires_at", "lifetime", "api_url")
        }
        fields["version"] = version
        if fields["token_type"] is None:
            fields["token_type"] = "bearer"  # noqa: S105 - the OAuth token type, not a secret
        try:
            token = Token.from_dict(fields)
        except TokenFormatError as exc:
            log.warning("shared token item ignored: %s", exc)
    owner = _plain(item, "owner")
    lease_until = _plain(item, "lease_until")
    return Record(
        version=version,
        token=token,
        owner=owner if isinstance(owner, str) else None,
        lease_until=float(lease_until) if isinstance(lease_until, (int, float)) else 0.0,
    )
