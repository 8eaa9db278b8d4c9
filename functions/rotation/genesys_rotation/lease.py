"""One scheduled rotation at a time: a lease item in the shared token table.

Item ``pk = "rotation#<secret name>"`` (the library's token items use ``token#...``)::

    owner          S  uuid of the invocation holding the lease (absent when free)
    lease_until    N  epoch seconds; after this another invocation may take over
    rotating       S  the ClientRequestToken being rotated under this lease
    rotated_at     N  epoch seconds of the last completed rotation (the guard reads it)
    rotated_version, rotated_to   S  that rotation's version id and new active client id
    rotations      N  completed rotations counted by this item
    token_lifetime N  longest token lifetime Genesys issued in a testSecret (the guard reads it)
    ttl            N  DynamoDB TTL, a year after the last write (housekeeping only; never read)

Acquire is one conditional UpdateItem: nobody holds it, or the holder's lease has expired.
Every later write is fenced on ``owner``: an invocation that lost its lease cannot record
anything, and is stopped before it regenerates a secret.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any

from .errors import LeaseLost, RotationError

log = logging.getLogger(__name__)

HOUSEKEEPING_TTL = 365 * 86400
_NAMES = {
    "#owner": "owner",
    "#until": "lease_until",
    "#ttl": "ttl",
}


def _code(exc: BaseException) -> str:
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        return str(response.get("Error", {}).get("Code", type(exc).__name__))
    return type(exc).__name__


def _num(item: dict[str, Any] | None, name: str) -> float | None:
    if not item or name not in item or "N" not in item[name]:
        return None
    return float(item[name]["N"])


def _str(item: dict[str, Any] | None, name: str) -> str | None:
    if not item or name not in item or "S" not in item[name]:
        return None
    return str(item[name]["S"])


@dataclass(frozen=True)
class LeaseRecord:
    owner: str | None
    lease_until: float | None
    rotated_at: float | None
    token_lifetime: float | None
    rotations: int

    @classmethod
    def of(cls, item: dict[str, Any] | None) -> LeaseRecord:
        return cls(
            owner=_str(item, "owner"),
            lease_until=_num(item, "lease_until"),
            rotated_at=_num(item, "rotated_at"),
            token_lifetime=_num(item, "token_lifetime"),
            rotations=int(_num(item, "rotations") or 0),
        )


class RotationLease:
    def __init__(self, client: Any, table: str, secret_name: str, owner: str) -> None:
        self.ddb = client
        self.table = table
        self.key = {"pk": {"S": f"rotation#{secret_name}"}}
        self.owner = owner
        self.held = False

    def read(self) -> LeaseRecord:
        try:
            answer = self.ddb.get_item(TableName=self.table, Key=self.key, ConsistentRead=True)
        except Exception as exc:
            raise RotationError(f"cannot read the rotation lease in {self.table}: {_code(exc)}") from None
        return LeaseRecord.of(answer.get("Item"))

    def acquire(self, seconds: float, now: float | None = None) -> LeaseRecord | None:
        """Take the lease for ``seconds``; None (and the holder's record) if someone else holds it."""
        now = time.time() if now is None else now
        try:
            answer = self.ddb.update_item(
                TableName=self.table,
                Key=self.key,
                UpdateExpression="SET #owner = :owner, #until = :until, #ttl = :ttl REMOVE rotating",
                ConditionExpression="attribute_not_exists(#owner) OR #until < :now",
                ExpressionAttributeNames=_NAMES,
                ExpressionAttributeValues={
                    ":owner": {"S": self.owner},
                    ":until": {"N": f"{now + seconds:.3f}"},
                    ":now": {"N": f"{now:.3f}"},
                    ":ttl": {"N": str(int(now + HOUSEKEEPING_TTL))},
                },
                ReturnValues="ALL_NEW",
            )
        except Exception as exc:
            if _code(exc) == "ConditionalCheckFailedException":
                return None
            raise RotationError(f"cannot take the rotation lease in {self.table}: {_code(exc)}") from None
        self.held = True
        return LeaseRecord.of(answer.get("Attributes"))

    def fence(self, seconds: float, *, rotating: str, now: float | None = None) -> None:
        """Prove we still hold the lease (and extend it) before a non-idempotent action."""
        now = time.time() if now is None else now
        self._fenced(
            "SET #until = :until, rotating = :rotating",
            {":until": {"N": f"{now + seconds:.3f}"}, ":rotating": {"S": rotating}},
            action="fence",
        )

    def record_rotation(self, *, version: str, client_id: str, now: float | None = None) -> None:
        now = time.time() if now is None else now
        self._fenced(
            "SET rotated_at = :at, rotated_version = :version, rotated_to = :to, #ttl = :ttl ADD rotations :one",
            {
                ":at": {"N": f"{now:.3f}"},
                ":version": {"S": version},
                ":to": {"S": client_id},
                ":one": {"N": "1"},
                ":ttl": {"N": str(int(now + HOUSEKEEPING_TTL))},
            },
            action="record",
        )

    def release(self) -> None:
        if not self.held:
            return
        self.held = False
        try:
            self._fenced("REMOVE #owner, #until, rotating", {}, action="release")
        except LeaseLost:
            log.warning("rotation lease was taken over before release; left to its new holder")
        except RotationError as exc:
            # It expires by itself; a retry can take it over after lease_until.
            log.warning("could not release the rotation lease (%s); it expires by itself", exc)

    def _fenced(self, expression: str, values: dict[str, Any], *, action: str) -> None:
        names = {k: v for k, v in _NAMES.items() if k in expression or k == "#owner"}
        try:
            self.ddb.update_item(
                TableName=self.table,
                Key=self.key,
                UpdateExpression=expression,
                ConditionExpression="#owner = :me",
                ExpressionAttributeNames=names,
                ExpressionAttributeValues={**values, ":me": {"S": self.owner}},
            )
        except Exception as exc:
            if _code(exc) == "ConditionalCheckFailedException":
                raise LeaseLost(f"rotation lease lost before {action}: another invocation holds it now") from None
            raise RotationError(f"rotation lease {action} failed in {self.table}: {_code(exc)}") from None


def record_lifetime(client: Any, table: str, secret_name: str, lifetime: float) -> None:
    """Keep the longest token lifetime Genesys issued (guard input); best effort, unfenced."""
    key = {"pk": {"S": f"rotation#{secret_name}"}}
    try:
        client.update_item(
            TableName=table,
            Key=key,
            UpdateExpression="SET token_lifetime = :lt, #ttl = if_not_exists(#ttl, :ttl)",
            ConditionExpression="attribute_not_exists(token_lifetime) OR token_lifetime < :lt",
            ExpressionAttributeNames={"#ttl": "ttl"},
            ExpressionAttributeValues={
                ":lt": {"N": f"{lifetime:.0f}"},
                ":ttl": {"N": str(int(time.time() + HOUSEKEEPING_TTL))},
            },
        )
    except Exception as exc:
        if _code(exc) != "ConditionalCheckFailedException":
            log.warning("could not record the observed token lifetime: %s", _code(exc))
