"""Where a process gets a new token when its memory copy is not fresh.

A source is the tier below memory. ``fetch(current, deadline, slot=n)`` (``slot``: the token pool's
slot, 0 when the pool has one) is called by one thread at a time
(the provider single-flights it) and returns the token to use from now on. That may be ``current``
itself: in the advisory window, when another worker is already refreshing, a source hands back the
caller's still valid token rather than wait (the provider then re-checks a little later). A source
judges the urgency from ``current``'s own state; it raises a ``GenesysAuthError`` when it has no
usable token to give.

* :class:`MintSource`: mint directly (no shared cache configured, or the cache is degraded).
* ``SharedSource`` (module ``shared``): the DynamoDB tier with its lease.
* ``ExtensionSource`` (module ``extension_client``): the ``genesys-token`` Lambda extension.
"""

from __future__ import annotations

from typing import Protocol

from .deadline import Deadline
from .minter import Minter
from .pool import PoolState
from .tokens import Token


class TokenSource(Protocol):
    name: str

    def fetch(self, current: Token | None, deadline: Deadline, *, slot: int = 0) -> Token: ...

    def invalidate(self, token_hash: str, *, slot: int = 0) -> None: ...


class MintSource:
    """Every refresh is a mint: the baseline the shared cache improves on."""

    name = "mint"

    def __init__(self, minter: Minter, pool: PoolState | None = None) -> None:
        self.minter = minter
        self.pool = pool

    def fetch(self, current: Token | None, deadline: Deadline, *, slot: int = 0) -> Token:
        token = self.minter.mint(deadline)
        if self.pool is not None and slot >= self.pool.known:
            self.pool.opened(slot, token.hash)  # memory only: a slot is open once it has a token
        return token

    def invalidate(self, token_hash: str, *, slot: int = 0) -> None:
        """Nothing is shared, so forgetting the memory copy (done by the provider) is enough."""
