"""What the token and the shared cache look like right now, for ``genesys-auth token`` and ``cache``.

Nothing here returns or prints a token unless the caller asks for it (``TokenStatus.to_dict(show=True)``):
items are described by the fingerprint (the first 12 hex digits of the stored ``token_hash``), versions,
expiry and the lease. The items are read raw, by the attributes the README documents, so that a lease
or a token that the library's own reader would skip (an expired one, a dead holder's lease) is shown too.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from .config import Settings
from .credentials import secret_name
from .deadline import Deadline, bound
from .errors import UnavailableError
from .provider import TokenProvider
from .tokens import Token, TokenState

#: Pool slots are probed one key at a time (``token#<secret>#1``, ``#2``...) up to this many.
MAX_POOL_SLOTS = 32


def item_key(secret_id: str, slot: int = 0) -> str:
    """Partition key of the shared item of ``secret_id``; slot 0 is the classic item."""
    base = f"token#{secret_name(secret_id)}"
    return base if slot == 0 else f"{base}#{slot}"


def utc(epoch: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch))


def span(seconds: float) -> str:
    """``86399`` -> ``23h59m59s``: durations read at a glance in a terminal."""
    seconds = int(abs(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h{minutes:02d}m{secs:02d}s"
    if minutes:
        return f"{minutes}m{secs:02d}s"
    return f"{secs}s"


@dataclass(frozen=True)
class ItemState:
    """One shared item as stored, without the token itself."""

    key: str
    version: int
    fingerprint: str | None
    expires_at: float | None
    lifetime: float | None
    owner: str | None
    lease_until: float | None
    client_id: str | None
    api_url: str | None
    #: SHA-256 of the stored token (what compare-and-delete compares); never shown, only its prefix.
    token_hash: str | None = None
    #: The token is stored as KMS ciphertext (``sealed_token``, ``GENESYS_TOKEN_KMS_KEY``).
    sealed: bool = False
    #: Slot 0 only: how many pool slots were opened (None: no pool bookkeeping, one slot).
    slots: int | None = None
    #: Slot 0 only: "per-client" once Genesys was seen counting the rate limit per client.
    pool_mode: str | None = None

    @classmethod
    def from_item(cls, item: dict[str, Any]) -> ItemState:
        def text(name: str) -> str | None:
            value = item.get(name, {}).get("S")
            return value if isinstance(value, str) and value else None

        def number(name: str) -> float | None:
            value = item.get(name, {}).get("N")
            return float(value) if value is not None else None

        digest = text("token_hash")
        sealed = "sealed_token" in item
        has_token = ("access_token" in item or sealed) and digest is not None
        return cls(
            key=text("pk") or "",
            version=int(number("version") or 0),
            fingerprint=digest[:12] if has_token and digest else None,
            expires_at=number("expires_at") if has_token else None,
            lifetime=number("lifetime") if has_token else None,
            owner=text("owner"),
            lease_until=number("lease_until"),
            client_id=text("client_id"),
            api_url=text("api_url"),
            token_hash=digest if has_token else None,
            sealed=sealed and has_token,
            slots=int(number("slots") or 0) or None,
            pool_mode=text("pool_mode"),
        )

    def token_left(self, now: float) -> float | None:
        return None if self.expires_at is None else self.expires_at - now

    def has_valid_token(self, now: float) -> bool:
        left = self.token_left(now)
        return left is not None and left > 0

    def lease(self, now: float) -> str:
        """``free``, ``held`` (a mint is in progress) or ``lapsed`` (the holder did not finish)."""
        if self.owner is None:
            return "free"
        return "held" if (self.lease_until or 0) >= now else "lapsed"

    def describe(self, now: float) -> str:
        parts = [f"version {self.version}"]
        left = self.token_left(now)
        if self.fingerprint is None or left is None:
            parts.append("no token")
        elif left > 0:
            life = f" of {span(self.lifetime)}" if self.lifetime else ""
            sealed = " (KMS-sealed)" if self.sealed else ""
            parts.append(f"token fp={self.fingerprint}{sealed} expires {utc(now + left)} (in {span(left)}{life})")
        else:
            parts.append(f"token fp={self.fingerprint} expired {span(left)} ago")
        if self.client_id:
            parts.append(f"client {self.client_id}")
        lease = self.lease(now)
        if lease == "free":
            parts.append("lease free")
        elif lease == "held":
            parts.append(f"lease held by {self.owner} for {span((self.lease_until or now) - now)} more")
        else:
            parts.append(f"lease of {self.owner} lapsed {span(now - (self.lease_until or now))} ago")
        if self.slots and self.slots > 1:
            parts.append(f"{self.slots} pool slots opened")
        if self.pool_mode:
            parts.append(f"pool mode {self.pool_mode}")
        return ", ".join(parts)

    def to_dict(self, now: float) -> dict[str, Any]:
        return {
            "key": self.key,
            "version": self.version,
            "fingerprint": self.fingerprint,
            "sealed": self.sealed,
            "expires_at": self.expires_at,
            "expires_in": None if self.expires_at is None else round(self.expires_at - now, 1),
            "lifetime": self.lifetime,
            "client_id": self.client_id,
            "api_url": self.api_url,
            "lease": self.lease(now),
            "owner": self.owner,
            "lease_until": self.lease_until,
            "slots": self.slots,
            "pool_mode": self.pool_mode,
        }


class ItemReader:
    """Consistent ``GetItem`` reads of the shared items of one secret (slot 0 and the pool), each
    bounded by the caller's deadline; botocore errors (the deadline too, as ``DeadlineReached``) propagate to the caller."""

    def __init__(self, table: str, secret_id: str, *, aws: Any = None) -> None:
        from .aws import AwsService

        self.table = table
        self.secret_id = secret_id
        self._aws = aws or AwsService("dynamodb", retries=False)

    def read(self, deadline: Deadline, slot: int = 0) -> ItemState | None:
        """The item, or None when it does not exist."""
        answer = self._aws.call(
            "get_item",
            deadline,
            TableName=self.table,
            Key={"pk": {"S": item_key(self.secret_id, slot)}},
            ConsistentRead=True,
        )
        item = answer.get("Item")
        return ItemState.from_item(item) if item else None

    def pool(self, deadline: Deadline, opened: int | None = None) -> list[ItemState]:
        """The pool slots 1, 2... that exist: the ``opened`` ones slot 0 records (``slots``), or,
        without that count, every slot up to the first missing one."""
        found = []
        last = min(opened, MAX_POOL_SLOTS + 1) if opened else MAX_POOL_SLOTS + 1
        for slot in range(1, last):
            state = self.read(deadline, slot)
            if state is None:
                if opened:
                    continue  # an opened slot whose item is gone (cleaned up): the others still count
                break
            found.append(state)
        return found


# -- genesys-auth token -------------------------------------------------------------------------


@dataclass(frozen=True)
class TokenStatus:
    token: Token
    #: ``memory`` (this process held it), ``extension``, ``table`` or ``mint``.
    source: str

    def describe(self, now: float | None = None) -> str:
        now = time.time() if now is None else now
        token = self.token
        left = token.remaining(now)
        version = f", version {token.version}" if token.version else ""
        api = f", API {token.api_url}" if token.api_url else ""
        return (
            f"token fp={token.fingerprint} from {self.source}, expires {utc(token.expires_at)} "
            f"(in {span(left)} of {span(token.lifetime)}){version}{api}"
        )

    def to_dict(self, *, show: bool = False, now: float | None = None) -> dict[str, Any]:
        now = time.time() if now is None else now
        data: dict[str, Any] = {
            "fingerprint": self.token.fingerprint,
            "source": self.source,
            "expires_at": self.token.expires_at,
            "expires_in": round(self.token.remaining(now), 1),
            "lifetime": self.token.lifetime,
            "version": self.token.version,
            "api_url": self.token.api_url,
        }
        if show:
            data["access_token"] = self.token.access_token
            data["token_type"] = self.token.token_type
        return data


def token_status(provider: TokenProvider, deadline: Deadline) -> TokenStatus:
    """Get a token from ``provider`` the way the functions do and say where it came from.

    A fresh memory copy is ``memory``; else the extension if it answered, a mint if this process
    minted (``provider.stack.minter``), otherwise the shared table.
    """
    current = provider.current
    if current is not None and provider.policy.state(current) is TokenState.FRESH:
        return TokenStatus(current, "memory")
    stack = provider.stack
    mints_before = stack.minter.mints if stack else 0
    with bound(deadline):
        token = provider.token(deadline)
    source = provider.source
    if getattr(source, "name", "") == "extension" and getattr(source, "failures", 1) == 0:
        return TokenStatus(token, "extension")
    if stack is not None and stack.minter.mints == mints_before and stack.settings.token_table:
        return TokenStatus(token, "table")
    return TokenStatus(token, "mint")


# -- genesys-auth cache ---------------------------------------------------------------------------


@dataclass(frozen=True)
class CacheView:
    table: str
    key: str
    item: ItemState | None
    pool: list[ItemState]

    def to_dict(self, now: float | None = None) -> dict[str, Any]:
        now = time.time() if now is None else now
        return {
            "table": self.table,
            "key": self.key,
            "item": self.item.to_dict(now) if self.item else None,
            "pool": [slot.to_dict(now) for slot in self.pool],
        }


def cache_view(settings: Settings, deadline: Deadline) -> CacheView:
    table = _table(settings)
    reader = ItemReader(table, settings.secret_id)
    item = reader.read(deadline)
    pool = reader.pool(deadline, item.slots if item else None)
    return CacheView(table=table, key=item_key(settings.secret_id), item=item, pool=pool)


@dataclass(frozen=True)
class Invalidation:
    """What ``cache invalidate`` did to one slot's item."""

    slot: int
    #: ``forgotten``, ``no_token`` (nothing stored) or ``moved_on`` (replaced meanwhile: kept).
    outcome: str
    fingerprint: str | None

    def describe(self) -> str:
        where = "the shared table" if self.slot == 0 else f"pool slot {self.slot}"
        if self.outcome == "forgotten":
            return f"forgot token fp={self.fingerprint} in {where}; the next caller takes a fresh one"
        if self.outcome == "moved_on":
            return f"token fp={self.fingerprint} in {where} was already replaced by another container; the newer one is kept"
        return f"{where} holds no token; nothing to forget"

    def to_dict(self) -> dict[str, Any]:
        return {"slot": self.slot, "outcome": self.outcome, "fingerprint": self.fingerprint}


def invalidate_current(settings: Settings, deadline: Deadline) -> list[Invalidation]:
    """Forget the stored tokens (slot 0 and every opened pool slot) with the compare-and-delete a
    401 uses: a token another container stored meanwhile is never lost.

    The stored ``token_hash`` is what is compared, so a KMS-sealed token is forgotten without a
    Decrypt (and without this process being able to read it)."""
    from .dynamodb import DynamoTokenStore, StoreUnavailable

    table = _table(settings)
    reader = ItemReader(table, settings.secret_id)
    store = DynamoTokenStore(table, settings.secret_id)
    results = []
    first = reader.read(deadline)
    opened = (first.slots or 1) if first is not None else 1
    try:
        with bound(deadline):  # the store's calls take the bound deadline
            for slot in range(min(opened, MAX_POOL_SLOTS + 1)):
                state = first if slot == 0 else reader.read(deadline, slot)
                if state is None or state.token_hash is None:
                    if slot == 0:
                        results.append(Invalidation(0, "no_token", None))
                    continue
                forgot = (store if slot == 0 else store.for_slot(slot)).invalidate(state.token_hash)
                results.append(Invalidation(slot, "forgotten" if forgot else "moved_on", state.fingerprint))
    except StoreUnavailable as exc:
        raise UnavailableError(f"{exc.reason}; check the table name and the role's dynamodb:UpdateItem") from None
    return results


def _table(settings: Settings) -> str:
    if not settings.token_table:
        from .errors import ConfigurationError

        raise ConfigurationError("no shared token cache: GENESYS_TOKEN_TABLE is not set")
    return settings.token_table
