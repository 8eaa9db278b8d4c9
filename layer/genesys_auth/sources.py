"""Where a process gets a new token when its memory copy is not fresh.

A source is the tier below memory. ``fetch`` is called by one thread at a time (the provider
single-flights it) and returns a token, or None in the advisory window when another worker is
already refreshing and the caller should keep its current, still valid token.

* :class:`MintSource`: mint directly (no shared cache configured, or the cache is degraded).
* ``SharedSource`` (module ``shared``): the DynamoDB tier with its lease.
* ``ExtensionSource`` (module ``extension_client``): the ``genesys-token`` Lambda extension.
"""

from __future__ import annotations

from typing import Protocol

from .deadline import Deadline
from .minter import Minter
from .tokens import Token


class TokenSource(Protocol):
    name: str

    def fetch(self, current: Token | None, deadline: Deadline, *, mandatory: bool) -> Token | None: ...

    def invalidate(self, token_hash: str) -> None: ...


class MintSource:
    """Every refresh is a mint: the baseline the shared cache improves on."""

    name = "mint"

    def __init__(self, minter: Minter) -> None:
        self.minter = minter

    def fetch(self, current: Token | None, deadline: Deadline, *, mandatory: bool) -> Token | None:
        return self.minter.mint(deadline)

    def invalidate(self, token_hash: str) -> None:
        """Nothing is shared, so forgetting the memory copy (done by the provider) is enough."""
