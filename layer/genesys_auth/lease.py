"""A fenced lease on one DynamoDB item: who holds it, until when, and a fencing version.

The lease lives in three attributes of the item it guards; whatever else the item holds belongs
to its user (the shared token, a rotation's record)::

    owner        S  the holder, one random id per acquisition; absent when free
    lease_until  N  epoch seconds the lease ends; after that anyone may take it over
    version      N  the fencing counter: set to 0 on the first acquisition, grown by fenced writes
                    that ask for it (the token store counts every published token)

* Acquire is one conditional ``UpdateItem``: nobody holds the lease or it has lapsed, and, when the
  caller says which version it read, the item is still at that version (or still absent,
  :data:`ABSENT`). A refusal raises :class:`LeaseBusy` with the item as it stood, so the loser
  needs no second read.
* Every later write of the holder is fenced on ``owner``: once another worker took the lease over,
  the write does nothing and says so (``None``), and the caller must not act as the holder.
* The caller injects the client (made lazily, so no boto3 import before the first call) and its
  error mapping: the table failing (throttled, missing, denied, unreachable) becomes the caller's
  own exception (``StoreUnavailable`` for the token cache, ``RotationError`` for the rotation);
  a failed condition never does.

The expressions name every attribute through placeholders, so any attribute name (including
DynamoDB reserved words such as ``owner`` and ``ttl``) can be set, added or removed.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from .aws import error_code

#: ``(DynamoDB operation, AWS error code) -> exception`` the caller raises when the table cannot be used.
Failure = Callable[[str, str], Exception]
#: A DynamoDB attribute value in the low-level form: ``{"S": "text"}``, ``{"N": "12.5"}``.
Value = Mapping[str, Any]

#: ``version`` to expect when the item was absent when read: no stored version is negative.
ABSENT = -1

OWNER = "owner"
UNTIL = "lease_until"
VERSION = "version"
#: Clock difference between containers tolerated before a far-away lease end is called bogus.
CLOCK_SLACK_SECONDS = 5.0
_UNSET: Any = object()


def _attribute(item: Mapping[str, Any], name: str, kind: str) -> Any:
    value = item.get(name)
    return value.get(kind) if isinstance(value, Mapping) and isinstance(value.get(kind), str) else None


def _number(item: Mapping[str, Any], name: str) -> float | None:
    text = _attribute(item, name, "N")
    if text is None:
        return None
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def _whole_version(raw: object) -> bool:
    """True if ``raw`` is a stored version the fencing arithmetic can grow (a whole number >= 0)."""
    if not isinstance(raw, Mapping):
        return False
    value = _number({VERSION: raw}, VERSION)
    return value is not None and value >= 0 and value == int(value)


class ConditionFailed(Exception):
    """A conditional write found the item otherwise; ``item`` is it as it stood, when DynamoDB said."""

    def __init__(self, item: dict[str, Any] | None) -> None:
        super().__init__("condition failed")
        self.item = item


class LeaseBusy(Exception):
    """Acquire refused: another owner holds the lease, or the item moved past the version read."""

    def __init__(self, item: dict[str, Any] | None) -> None:
        super().__init__("lease held by another owner or the item moved on")
        self.item = item


@dataclass(frozen=True)
class Lease:
    """A lease this process took: the fencing ``owner``, the item's ``version`` then, its end."""

    owner: str
    version: int
    until: float


@dataclass(frozen=True)
class LeaseState:
    """The lease as an item records it (``owner`` None when free)."""

    owner: str | None
    until: float
    version: int

    def held(self, now: float) -> bool:
        return self.owner is not None and self.until >= now


def call(client: Any, operation: str, failure: Failure, **kwargs: Any) -> dict[str, Any]:
    """One DynamoDB call: a failed condition raises :class:`ConditionFailed`, any other botocore
    error ``failure(operation, code)``."""
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        answer: dict[str, Any] = getattr(client, operation)(**kwargs)
    except ClientError as exc:
        code = error_code(exc)
        if code == "ConditionalCheckFailedException":
            raise ConditionFailed(exc.response.get("Item")) from None
        raise failure(operation, code) from None
    except BotoCoreError as exc:
        raise failure(operation, error_code(exc)) from None
    return answer


def number(value: float) -> dict[str, str]:
    """A DynamoDB number to the millisecond (DynamoDB refuses float artefacts such as 1e-17)."""
    return {"N": str(Decimal(repr(round(value, 3))))}


class ItemLease:
    """The lease on one item (``key``) of ``table``.

    ``client`` returns the DynamoDB client (called at every request, so it may create it on first
    use); ``failure`` maps a table failure to the caller's exception; ``longest`` bounds every
    lease taken or extended here (the users' own maximum: a holder never asks for more).
    """

    def __init__(
        self,
        client: Callable[[], Any],
        table: str,
        key: Mapping[str, Value],
        failure: Failure,
        *,
        longest: float = math.inf,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.client = client
        self.table = table
        self.key = dict(key)
        self.failure = failure
        self.longest = longest
        self.clock = clock

    def read(self) -> dict[str, Any] | None:
        """The whole item (consistent read), or None when it does not exist."""
        answer = call(self.client(), "get_item", self.failure, TableName=self.table, Key=self.key, ConsistentRead=True)
        item: dict[str, Any] | None = answer.get("Item")
        return item or None

    @staticmethod
    def state(item: Mapping[str, Any] | None) -> LeaseState:
        """The lease part of ``item``; malformed attributes read as absent (never an exception)."""
        item = item or {}
        owner = _attribute(item, OWNER, "S")
        until = _number(item, UNTIL)
        version = _number(item, VERSION)
        return LeaseState(
            owner=owner,
            until=until if until is not None else 0.0,
            version=int(version) if version is not None and version >= 0 and version == int(version) else 0,
        )

    def acquire(
        self,
        owner: str,
        seconds: float,
        *,
        version: int | None = None,
        raw_version: object = _UNSET,
        set_: Mapping[str, Value] | None = None,
        remove: Iterable[str] = (),
    ) -> Lease:
        """Take the lease for ``seconds`` if it is free or lapsed (and, with ``version``, the item
        is still at that version or, with :data:`ABSENT`, still absent). ``raw_version`` instead
        names the version attribute exactly as it was read (None: it was missing), so an item whose
        version is corrupt (not a whole number) can still be taken over; the acquire then writes a
        fresh whole version. A lease whose end is further away than ``longest`` (plus clock slack)
        counts as lapsed: no corrupt item or skewed clock can hold the lease for days. ``set_`` and
        ``remove`` change other attributes in the same write. Raises :class:`LeaseBusy`."""
        now = self.clock()
        until = now + min(seconds, self.longest)
        update = _Update()
        update.set(OWNER, {"S": owner})
        update.set(UNTIL, number(until))
        v = update.name(VERSION)
        u = update.name(UNTIL)
        if raw_version is not _UNSET and not _whole_version(raw_version):
            # Corrupt or missing: start a fresh counter above any plausible old one.
            update.set(VERSION, {"N": str(int(now * 1000))})
        else:
            update.clauses.append(f"{v} = if_not_exists({v}, {update.value({'N': '0'})})")
        update.set_all(set_, remove)
        free = (
            f"attribute_not_exists({update.name(OWNER)}) OR attribute_not_exists({u}) "
            f"OR NOT attribute_type({u}, {update.value({'S': 'N'})}) OR {u} < {update.value(number(now))}"
        )
        if math.isfinite(self.longest):
            free += f" OR {u} > {update.value(number(now + self.longest + CLOCK_SLACK_SECONDS))}"
        key_name = next(iter(self.key))
        if raw_version is not _UNSET:
            pk = update.name(key_name)
            stored = raw_version if isinstance(raw_version, Mapping) else None
            same = f"attribute_not_exists({v})" if stored is None else f"{v} = {update.value(stored)}"
            condition = f"attribute_exists({pk}) AND ({free}) AND {same}"
        elif version is None:
            condition = free
        else:
            pk = update.name(key_name)
            condition = f"attribute_not_exists({pk}) OR (({free}) AND {v} = {update.value({'N': str(version)})})"
        try:
            answer = self._update(
                update, condition, ReturnValues="ALL_NEW", ReturnValuesOnConditionCheckFailure="ALL_OLD"
            )
        except ConditionFailed as failed:
            raise LeaseBusy(failed.item) from None
        return Lease(owner=owner, version=int(answer["Attributes"][VERSION]["N"]), until=until)

    def write(
        self,
        lease: Lease,
        *,
        set_: Mapping[str, Value] | None = None,
        add: Mapping[str, Value] | None = None,
        remove: Iterable[str] = (),
        bump: bool = False,
        until: float | None = None,
        release: bool = False,
    ) -> dict[str, Any] | None:
        """A write fenced on still holding ``lease``: ``set_``/``add``/``remove`` attributes, grow
        the version by one (``bump``), move the lease's end (``until``) or give it back in the same
        write (``release``). Returns the updated attributes, or None when the lease is no longer
        ours (nothing was written)."""
        update = _Update()
        update.set_all(set_, remove)
        for attribute, value in _callers(add or {}).items():
            update.adds.append(f"{update.name(attribute)} {update.value(value)}")
        if bump:
            v = update.name(VERSION)
            update.clauses.append(f"{v} = {v} + {update.value({'N': '1'})}")
        if until is not None:
            update.set(UNTIL, number(min(until, self.clock() + self.longest)))
        if release:
            update.removes += [update.name(OWNER), update.name(UNTIL)]
        condition = f"{update.name(OWNER)} = {update.value({'S': lease.owner})}"
        try:
            answer = self._update(update, condition, ReturnValues="UPDATED_NEW")
        except ConditionFailed:
            return None
        attributes: dict[str, Any] = answer.get("Attributes", {})
        return attributes

    def release(self, lease: Lease, *, remove: Iterable[str] = ()) -> bool:
        """Give the lease back (so a waiter need not wait it out); False if it was not ours any more."""
        return self.write(lease, remove=remove, release=True) is not None

    def _update(self, update: _Update, condition: str, **extra: Any) -> dict[str, Any]:
        return call(
            self.client(),
            "update_item",
            self.failure,
            TableName=self.table,
            Key=self.key,
            UpdateExpression=update.expression(),
            ConditionExpression=condition,
            ExpressionAttributeNames=update.names,
            ExpressionAttributeValues=update.values,
            **extra,
        )


def _callers(attributes: Mapping[str, Any]) -> Mapping[str, Any]:
    """The caller's own attributes: the lease's three change only through the lease's methods."""
    for attribute in attributes:
        if attribute in (OWNER, UNTIL, VERSION):
            raise ValueError(f"{attribute!r} belongs to the lease: use acquire, or write with bump, until or release")
    return attributes


class _Update:
    """An UpdateExpression with its placeholders (``#a0`` for names, ``:v0`` for values)."""

    def __init__(self) -> None:
        self.names: dict[str, str] = {}
        self.values: dict[str, Value] = {}
        self.clauses: list[str] = []
        self.adds: list[str] = []
        self.removes: list[str] = []
        self._placeholders: dict[str, str] = {}

    def name(self, attribute: str) -> str:
        if attribute not in self._placeholders:
            placeholder = self._placeholders[attribute] = f"#a{len(self._placeholders)}"
            self.names[placeholder] = attribute
        return self._placeholders[attribute]

    def value(self, value: Value) -> str:
        placeholder = f":v{len(self.values)}"
        self.values[placeholder] = value
        return placeholder

    def set(self, attribute: str, value: Value) -> None:
        self.clauses.append(f"{self.name(attribute)} = {self.value(value)}")

    def set_all(self, values: Mapping[str, Value] | None, remove: Iterable[str]) -> None:
        for attribute, value in _callers(values or {}).items():
            self.set(attribute, value)
        self.removes += [self.name(attribute) for attribute in _callers(dict.fromkeys(remove))]

    def expression(self) -> str:
        parts = []
        if self.clauses:
            parts.append("SET " + ", ".join(self.clauses))
        if self.adds:
            parts.append("ADD " + ", ".join(self.adds))
        if self.removes:
            parts.append("REMOVE " + ", ".join(self.removes))
        return " ".join(parts)
