"""One scheduled rotation at a time: the library's item lease on a rotation item of the token table.

Item ``pk = "rotation#<secret name>"`` (the library's token items use ``token#...``); ``owner``,
``lease_until`` and ``version`` are the lease of :mod:`genesys_auth.lease`, the rest is ours::

    rotating       S  the version id being rotated under this lease
    rotated_at     N  epoch seconds of the last completed rotation (the guard reads it)
    rotated_version, rotated_to   S  that rotation's version id and new active client id
    rotations      N  completed rotations counted by this item
    token_lifetime N  longest token lifetime Genesys issued in a testSecret (the guard reads it)
    ttl            N  DynamoDB TTL, a year after the last write (housekeeping only; never read)

Every write after the acquisition is fenced on the owner: an invocation that lost its lease
cannot record anything, and is stopped before it regenerates a secret.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any

from genesys_auth.lease import ConditionFailed, Failure, ItemLease, Lease, LeaseBusy, call

from .errors import LeaseLost, RotationError

log = logging.getLogger(__name__)

HOUSEKEEPING_TTL = 365 * 86400
#: No invocation outlives Lambda's 900 s timeout; the lease adds its slack to what is left of one.
LONGEST_LEASE_SECONDS = 900.0 + 15.0


def _num(item: dict[str, Any] | None, name: str) -> float | None:
    value = (item or {}).get(name, {}).get("N")
    return None if value is None else float(value)


def _housekeeping_ttl() -> dict[str, str]:
    return {"N": str(int(time.time() + HOUSEKEEPING_TTL))}


@dataclass(frozen=True)
class LeaseRecord:
    owner: str | None
    lease_until: float | None
    rotated_at: float | None
    token_lifetime: float | None
    rotations: int

    @classmethod
    def of(cls, item: dict[str, Any] | None) -> LeaseRecord:
        lease = ItemLease.state(item)
        return cls(
            owner=lease.owner,
            lease_until=_num(item, "lease_until"),
            rotated_at=_num(item, "rotated_at"),
            token_lifetime=_num(item, "token_lifetime"),
            rotations=int(_num(item, "rotations") or 0),
        )


def _key(secret_name: str) -> dict[str, dict[str, str]]:
    return {"pk": {"S": f"rotation#{secret_name}"}}


def _failure(table: str) -> Failure:
    def failure(operation: str, code: str) -> RotationError:
        return RotationError(
            f"the rotation lease in table {table}: DynamoDB {operation} failed ({code}); check GENESYS_TOKEN_TABLE "
            "and the function's dynamodb:GetItem/UpdateItem permission on rotation# items"
        )

    return failure


class RotationLease:
    def __init__(self, client: Any, table: str, secret_name: str, owner: str) -> None:
        self.owner = owner
        self._item = ItemLease(lambda: client, table, _key(secret_name), _failure(table), longest=LONGEST_LEASE_SECONDS)
        self._lease: Lease | None = None

    def read(self) -> LeaseRecord:
        return LeaseRecord.of(self._item.read())

    def acquire(self, seconds: float) -> Lease | None:
        """Take the lease for ``seconds``; None if another invocation holds it."""
        try:
            self._lease = self._item.acquire(
                self.owner, seconds, set_={"ttl": _housekeeping_ttl()}, remove=["rotating"]
            )
        except LeaseBusy:
            return None
        return self._lease

    def fence(self, seconds: float, *, rotating: str) -> None:
        """Prove we still hold the lease (and extend it) before a non-idempotent action."""
        self._fenced("fence", set_={"rotating": {"S": rotating}}, until=time.time() + seconds)

    def record_rotation(self, *, version_id: str, client_id: str) -> None:
        fields = {
            "rotated_at": {"N": f"{time.time():.3f}"},
            "rotated_version": {"S": version_id},
            "rotated_to": {"S": client_id},
            "ttl": _housekeeping_ttl(),
        }
        self._fenced("record", set_=fields, add={"rotations": {"N": "1"}})

    def release(self) -> None:
        lease, self._lease = self._lease, None
        if lease is None:
            return
        try:
            if not self._item.release(lease, remove=["rotating"]):
                log.warning("rotation lease was taken over before release; left to its new holder")
        except RotationError as exc:
            # It expires by itself; a retry can take it over after lease_until.
            log.warning("could not release the rotation lease (%s); it expires by itself", exc)

    def _fenced(self, action: str, **update: Any) -> None:
        if self._lease is None or self._item.write(self._lease, **update) is None:
            raise LeaseLost(f"rotation lease lost before {action}: another invocation holds it now")


def record_lifetime(client: Any, table: str, secret_name: str, lifetime: float) -> None:
    """Keep the longest token lifetime Genesys issued (guard input); best effort, unfenced."""
    try:
        call(
            client,
            "update_item",
            _failure(table),
            TableName=table,
            Key=_key(secret_name),
            UpdateExpression="SET token_lifetime = :lt, #ttl = if_not_exists(#ttl, :ttl)",
            ConditionExpression="attribute_not_exists(token_lifetime) OR token_lifetime < :lt",
            ExpressionAttributeNames={"#ttl": "ttl"},
            ExpressionAttributeValues={":lt": {"N": f"{lifetime:.0f}"}, ":ttl": _housekeeping_ttl()},
        )
    except ConditionFailed:
        pass  # a longer lifetime is on record already
    except RotationError as exc:
        log.warning("could not record the observed token lifetime: %s", exc)
