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

``owner``, ``lease_until`` and ``version`` are the item's lease (:mod:`genesys_auth.lease`).

Why the key is the secret and not (login host, client id): a container must find the item before
it has read the secret, or a shared hit would cost a Secrets Manager call. The secret name is in
its configuration; the client id is inside the secret.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from .aws import make_client
from .credentials import secret_name
from .lease import ABSENT, ConditionFailed, ItemLease, LeaseBusy, call, number
from .lease import Lease as Lease  # noqa: PLC0414 - re-exported: the shared tier takes it from here
from .tokens import Token

log = logging.getLogger(__name__)

TTL_MARGIN_SECONDS = 86400


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
        self._client = client
        self._lease = ItemLease(self._ddb, table, self.key, self._unavailable)
        #: DynamoDB requests actually sent by this process (a botocore hook counts them).
        self.requests = 0

    def _count(self, **_: Any) -> None:
        self.requests += 1

    def _ddb(self) -> Any:
        if self._client is None:
            self._client = make_client("dynamodb", connect_timeout=1, read_timeout=2, attempts=2)
            self._client.meta.events.register("before-call.dynamodb", self._count)
        return self._client

    def load(self) -> Record | None:
        answer = self._call("get_item", TableName=self.table, Key=self.key, ConsistentRead=True)
        item = answer.get("Item")
        return _record(item) if item else None

    def acquire(self, owner: str, seen: Record | None, lease_seconds: float) -> Lease:
        """One conditional write: take the lease if it is free or expired and the item is still
        the version we read (or still absent). Raises :class:`LeaseTaken` with the current item."""
        try:
            return self._lease.acquire(owner, lease_seconds, version=seen.version if seen else ABSENT)
        except LeaseBusy as busy:
            raise LeaseTaken(_record(busy.item) if busy.item else self.load()) from None

    def publish(self, lease: Lease, token: Token, client_id: str | None) -> int | None:
        """Write the new token if we still hold the lease (fenced); returns the new version, or
        None when the lease was lost (a newer writer must not be overwritten)."""
        fields: dict[str, dict[str, str]] = {
            "access_token": {"S": token.access_token},
            "token_hash": {"S": token.hash},
            "token_type": {"S": token.token_type},
            "expires_at": number(token.expires_at),
            "lifetime": number(token.lifetime),
            "ttl": {"N": str(int(token.expires_at + TTL_MARGIN_SECONDS))},
        }
        if token.api_url:
            fields["api_url"] = {"S": token.api_url}
        if client_id:
            fields["client_id"] = {"S": client_id}
        written = self._lease.write(lease, set_=fields, bump=True, release=True)
        return None if written is None else int(written["version"]["N"])

    def release(self, lease: Lease) -> None:
        """Give the lease back after a failed mint so a waiter can try without waiting it out."""
        self._lease.release(lease)

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
        except ConditionFailed:
            return False
        return True

    def _call(self, operation: str, **kwargs: Any) -> Any:
        return call(self._ddb(), operation, self._unavailable, **kwargs)

    def _unavailable(self, operation: str, code: str) -> StoreUnavailable:
        # Every answer but a failed condition (throttled, missing table, denied...) means the same
        # to the caller: do without the shared tier for a while. The code goes into the log line.
        return StoreUnavailable(f"DynamoDB {operation} on table {self.table}: {code}")


def _record(item: dict[str, Any]) -> Record:
    token = None
    if "access_token" in item and "expires_at" in item:
        token = Token(
            access_token=item["access_token"]["S"],
            token_type=item.get("token_type", {}).get("S", "bearer"),
            expires_at=float(item["expires_at"]["N"]),
            lifetime=float(item.get("lifetime", {}).get("N", 0)) or 86400.0,
            version=int(item.get("version", {}).get("N", 0)),
            api_url=item.get("api_url", {}).get("S"),
        )
    return Record(
        version=int(item.get("version", {}).get("N", 0)),
        token=token,
        owner=item.get("owner", {}).get("S"),
        lease_until=float(item.get("lease_until", {}).get("N", 0)),
    )
