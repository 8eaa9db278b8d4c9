"""The shared token items in DynamoDB: one item per pool slot of a credentials secret, read and
written with conditional expressions only.

Item (partition key ``pk`` = ``token#<secret name>`` for slot 0, ``token#<secret name>#<n>`` for
slot n of the token pool)::

    pk            S  "token#genesys/app"
    version       N  grows by one on every publish and invalidation (the fencing counter)
    access_token  S  the token (never logged)
    token_hash    S  SHA-256 of the token, for compare-and-invalidate without sending the token
    token_type    S  "bearer"
    expires_at    N  epoch seconds (checked in code: TTL deletes up to days late)
    lifetime      N  seconds the token was issued for (scales the refresh windows)
    sealed_token  B  instead of access_token when GENESYS_TOKEN_KMS_KEY is set: KMS ciphertext bound
                     to (pk, version) (:mod:`genesys_auth.sealing`)
    mint_seconds  N  how long the mint took, so waiters first look when it should be done
    api_url       S  region API base URL, so a shared hit needs no secret read
    client_id     S  which OAuth client minted it (for operators; not secret)
    owner         S  lease holder (one random id per acquisition), absent when free
    lease_until   N  epoch seconds the lease ends
    ttl           N  cleanup only: expires_at + 1 day
    slots         N  slot 0 only: how many pool slots have been opened (absent = 1)
    pool_mode     S  slot 0 only: "per-client" once Genesys was seen counting per client, not per token

``owner``, ``lease_until`` and ``version`` are the item's lease (:mod:`genesys_auth.lease`).

Why the key is the secret and not (login host, client id): a container must find the item before
it has read the secret, or a shared hit would cost a Secrets Manager call. The secret name is in
its configuration; the client id is inside the secret.

A corrupted item never fails a call: a malformed token part reads as "no token", a malformed
version or lease is overwritten by the next acquire (see :mod:`genesys_auth.lease`).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from .aws import AwsService, BoundClient
from .credentials import secret_name
from .lease import ABSENT, ConditionFailed, ItemLease, LeaseBusy, call, number
from .lease import Lease as Lease  # noqa: PLC0414 - re-exported: the shared tier takes it from here
from .sealing import Sealer, SealError
from .tokens import Token, TokenFormatError

log = logging.getLogger(__name__)

TTL_MARGIN_SECONDS = 86400
#: A table call gets at most a third of the time left, and at most 2 s per try: DynamoDB answers in
#: milliseconds, and a table that does not must leave time for the direct mint it degrades to.
TABLE_SHARE = 1 / 3
TABLE_CALL_CAP = 2.0
#: Longest lease the library ever takes (``shared`` sizes leases up to it); a lease a reader sees
#: further away than this (a corrupt item, a skewed clock) is treated as lapsed.
LONGEST_LEASE_SECONDS = 15.0
PER_CLIENT = "per-client"


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
    #: The version attribute exactly as stored (None when absent), so an acquire can match even a
    #: corrupt value and replace it.
    raw_version: dict[str, Any] | None = None
    mint_seconds: float | None = None
    slots: int = 1
    pool_mode: str | None = None

    def lease_held(self, now: float) -> bool:
        return self.owner is not None and self.lease_until >= now


class LeaseTaken(Exception):
    """The conditional acquire failed; ``record`` is the item as it stood."""

    def __init__(self, record: Record | None) -> None:
        super().__init__("lease held by another worker or the item moved on")
        self.record = record


class DynamoTokenStore:
    """Reads and conditionally writes the shared token item of one pool slot of a credentials secret."""

    def __init__(
        self,
        table: str,
        secret_id: str,
        *,
        client: Any = None,
        slot: int = 0,
        sealer: Sealer | None = None,
        _aws: Any = None,
    ) -> None:
        self.table = table
        self.secret_id = secret_id
        self.slot = slot
        self.sealer = sealer
        name = secret_name(secret_id)
        self.key = {"pk": {"S": f"token#{name}" if slot == 0 else f"token#{name}#{slot}"}}
        # One try per call: a table that fails degrades the source to direct minting anyway.
        self._aws = _aws or AwsService(
            "dynamodb", cap=TABLE_CALL_CAP, share=TABLE_SHARE, retries=False, on_client=self._watch, client=client
        )
        if client is not None and _aws is None:
            self._watch(client)
        self._bound = BoundClient(self._aws)
        self._lease = ItemLease(lambda: self._bound, table, self.key, self._unavailable, longest=LONGEST_LEASE_SECONDS)
        self._counter: list[int] = [0]
        self._siblings: dict[int, DynamoTokenStore] = {slot: self}

    @property
    def requests(self) -> int:
        """DynamoDB requests actually sent by this process for every slot (a botocore hook counts them)."""
        return self._counter[0]

    def _watch(self, client: Any) -> None:
        client.meta.events.register("before-call.dynamodb", self._count)

    def _count(self, **_: Any) -> None:
        self._counter[0] += 1

    def for_slot(self, slot: int) -> DynamoTokenStore:
        """The store of another pool slot of the same secret (same client, same counter)."""
        store = self._siblings.get(slot)
        if store is None:
            store = DynamoTokenStore(self.table, self.secret_id, slot=slot, sealer=self.sealer, _aws=self._aws)
            store._counter = self._counter
            store._siblings = self._siblings
            self._siblings[slot] = store
        return store

    def load(self) -> Record | None:
        answer = self._call("get_item", TableName=self.table, Key=self.key, ConsistentRead=True)
        item = answer.get("Item")
        if not isinstance(item, dict) or not item:
            return None
        return _record(item, self._unseal(item))

    def _unseal(self, item: dict[str, Any]) -> str | None:
        """The token of a sealed item (one KMS Decrypt per cold container and token), or None."""
        sealed = item.get("sealed_token")
        blob = sealed.get("B") if isinstance(sealed, dict) else None
        if not isinstance(blob, bytes):
            return None
        if self.sealer is None:
            log.warning("shared token item is encrypted but GENESYS_TOKEN_KMS_KEY is not set: ignored")
            return None
        version = _whole(item, "version")
        if version is None:
            return None
        try:
            return self.sealer.open(blob, self.key["pk"]["S"], version)
        except SealError as exc:
            if "InvalidCiphertext" in exc.reason:
                # Not this item's token (copied or replayed from elsewhere): treat as absent.
                log.warning("shared token item does not decrypt under its own context: ignored")
                return None
            raise StoreUnavailable(f"{exc.reason} for table {self.table}") from None

    def acquire(self, owner: str, seen: Record | None, lease_seconds: float) -> Lease:
        """One conditional write: take the lease if it is free or lapsed and the item is still
        the version we read (or still absent). Raises :class:`LeaseTaken` with the current item."""
        try:
            if seen is None:
                return self._lease.acquire(owner, lease_seconds, version=ABSENT)
            return self._lease.acquire(owner, lease_seconds, raw_version=seen.raw_version)
        except LeaseBusy as busy:
            raise LeaseTaken(_record(busy.item) if busy.item else self.load()) from None

    def publish(
        self, lease: Lease, token: Token, client_id: str | None, *, mint_seconds: float | None = None
    ) -> int | None:
        """Write the new token if we still hold the lease (fenced); returns the new version, or
        None when the lease was lost (a newer writer must not be overwritten)."""
        fields: dict[str, dict[str, Any]] = {
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
        if mint_seconds is not None:
            fields["mint_seconds"] = number(min(mint_seconds, LONGEST_LEASE_SECONDS))
        if self.sealer is not None:
            try:
                # The write below bumps the version by one: the ciphertext is bound to that version.
                fields["sealed_token"] = {
                    "B": self.sealer.seal(token.access_token, self.key["pk"]["S"], lease.version + 1)
                }
            except SealError as exc:
                raise StoreUnavailable(f"{exc.reason} for table {self.table}") from None
            drop = ["access_token"]
        else:
            fields["access_token"] = {"S": token.access_token}
            drop = ["sealed_token"]
        written = self._lease.write(lease, set_=fields, remove=drop, bump=True, release=True)
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
                UpdateExpression="REMOVE access_token, sealed_token, token_hash, expires_at SET #version = #version + :one",
                ConditionExpression="token_hash = :hash AND attribute_type(#version, :n)",
                ExpressionAttributeNames={"#version": "version"},
                ExpressionAttributeValues={":hash": {"S": token_hash}, ":one": {"N": "1"}, ":n": {"S": "N"}},
            )
        except ConditionFailed:
            return False
        return True

    # -- the pool's bookkeeping, on slot 0's item -------------------------------------------------

    def open_slot(self, known: int, maximum: int) -> tuple[int, bool, bool]:
        """Record one more open slot (``known`` -> ``known + 1``, never past ``maximum``, never once
        the pool is known to be per-client); returns (open slots now, per-client counting seen,
        whether this call opened it)."""
        if known >= maximum:
            return known, False, False
        condition = (
            "((attribute_not_exists(slots) AND :known = :one) OR slots = :known) AND attribute_not_exists(pool_mode)"
        )
        try:
            answer = self._call(
                "update_item",
                TableName=self.table,
                Key=self.key,
                UpdateExpression="SET slots = :next",
                ConditionExpression=condition,
                ExpressionAttributeValues={
                    ":known": {"N": str(known)},
                    ":next": {"N": str(known + 1)},
                    ":one": {"N": "1"},
                },
                ReturnValues="UPDATED_NEW",
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except ConditionFailed as failed:
            if not failed.item:
                return known, False, False
            record = _record(failed.item)
            return min(maximum, record.slots), record.pool_mode == PER_CLIENT, False
        return min(maximum, _whole(answer.get("Attributes", {}), "slots") or known + 1), False, True

    def mark_per_client(self) -> None:
        """Remember, for every container, that this client's rate limit is counted per client."""
        self._call(
            "update_item",
            TableName=self.table,
            Key=self.key,
            UpdateExpression="SET pool_mode = :mode",
            ExpressionAttributeValues={":mode": {"S": PER_CLIENT}},
        )

    def _call(self, operation: str, **kwargs: Any) -> Any:
        return call(self._bound, operation, self._unavailable, **kwargs)

    def _unavailable(self, operation: str, code: str) -> StoreUnavailable:
        # Every answer but a failed condition (throttled, missing table, denied, no time left...)
        # means the same to the caller: do without the shared tier for a while.
        return StoreUnavailable(f"DynamoDB {operation} on table {self.table}: {code}")


def _plain(item: dict[str, Any], name: str) -> Any:
    """An attribute's value as Python (N -> int/float, S -> str), or None when absent or of another type."""
    value = item.get(name)
    if not isinstance(value, dict):
        return None
    if isinstance(value.get("S"), str):
        return value["S"]
    text = value.get("N")
    if isinstance(text, str):
        try:
            parsed = Decimal(text)
        except ArithmeticError:
            return None
        if not parsed.is_finite():
            return None
        return int(parsed) if parsed == parsed.to_integral_value() else float(parsed)
    return None


def _whole(item: dict[str, Any], name: str) -> int | None:
    value = _plain(item, name)
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else None


def _record(item: dict[str, Any], unsealed: str | None = None) -> Record:
    """The item as read (``unsealed``: its token, decrypted). A malformed token part (wrong types,
    bad token, absurd expiry) is treated as no token, never as an error: the cache can be
    corrupted, the call must still succeed."""
    version = _whole(item, "version")
    raw = item.get("version")
    token = None
    if "access_token" in item or unsealed is not None:
        fields = {
            name: _plain(item, name) for name in ("access_token", "token_type", "expires_at", "lifetime", "api_url")
        }
        if unsealed is not None:
            fields["access_token"] = unsealed
        fields["version"] = version or 0
        if fields["token_type"] is None:
            fields["token_type"] = "bearer"  # noqa: S105 - the OAuth token type, not a secret
        try:
            token = Token.from_dict(fields)
        except TokenFormatError as exc:
            log.warning("shared token item ignored: %s", exc)
    owner = _plain(item, "owner")
    lease_until = _plain(item, "lease_until")
    mint_seconds = _plain(item, "mint_seconds")
    pool_mode = _plain(item, "pool_mode")
    return Record(
        version=version or 0,
        token=token,
        owner=owner if isinstance(owner, str) else None,
        lease_until=float(lease_until) if isinstance(lease_until, (int, float)) else 0.0,
        raw_version=raw if isinstance(raw, dict) else None,
        mint_seconds=float(mint_seconds) if isinstance(mint_seconds, (int, float)) and mint_seconds > 0 else None,
        slots=max(1, _whole(item, "slots") or 1),
        pool_mode=pool_mode if isinstance(pool_mode, str) else None,
    )
