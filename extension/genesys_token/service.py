"""The token logic behind the extension's HTTP API: serve without waiting, refresh ahead.

Imported only after the extension has registered: it pulls in ``genesys_auth`` (and with it
requests), which the server and the registration do not need.
"""

from __future__ import annotations

import hmac
import logging
import time
from typing import Any

from genesys_auth import GenesysAuthError, Token, TokenProvider, TokenState
from genesys_auth.deadline import Deadline

log = logging.getLogger("genesys_token")

#: A pool slot served within this many seconds is refreshed ahead after INVOKE; others lapse.
RECENT_SECONDS = 120.0


class TokenService:
    """The extension's view of its token provider: serve without waiting, refresh ahead.

    Callers may ask for a pool slot (``GET /token?slot=n``) when their token's own rate limit
    is near; slot 0 is the default. Only slots served recently are refreshed ahead, so a pool
    that grew for a burst shrinks back to one token when the burst ends."""

    def __init__(self, provider: TokenProvider) -> None:
        self.provider = provider
        self.policy = provider.policy
        self._served: dict[int, float] = {}

    @property
    def pool_max(self) -> int:
        return self.provider.pool.maximum

    def state(self) -> TokenState:
        return self.policy.state(self.provider.current)

    def token(self, deadline: Deadline, slot: int = 0) -> Token:
        """The slot's token while it is outside the mandatory window, else a refreshed one.

        A request never triggers an advisory refresh: that runs after INVOKE (:meth:`refresh_ahead`),
        so the caller does not wait for it."""
        self._served[slot] = time.monotonic()
        if slot == 0:
            return self.provider.token_now() or self.provider.token(deadline)
        held = self.provider.held(slot)
        if held is not None and self.policy.state(held) in (TokenState.FRESH, TokenState.STALE):
            return held
        return self.provider.token_in_slot(slot, deadline)

    def describe(self, token: Token, slot: int) -> dict[str, Any]:
        """The token answer: the token itself and the pool's shape as this extension knows it."""
        pool = self.provider.pool
        return {
            **token.to_dict(),
            "slot": slot,
            "slots": pool.known,
            "pool_mode": "per-client" if pool.per_client else "per-token",
            "opened": pool.was_opened(token.hash),
        }

    def invalidate(self, digest: str, deadline: Deadline, slot: int = 0) -> Token:
        """Forget the slot's token if it has this hash, then return a fresh one.

        Concurrent invalidations of one token refresh once: the second finds a newer token (or the
        refresh in flight) and the provider's single-flight hands it the same result."""
        held = self.provider.current if slot == 0 else self.provider.held(slot)
        if held is not None and hmac.compare_digest(held.hash, digest):
            self.provider.invalidate(held.access_token)
        return self.token(deadline, slot)

    def refresh_ahead(self, deadline: Deadline) -> None:
        """After an INVOKE event: refresh the slots served recently that are in their advisory
        window (or worse); slot 0 always."""
        now = time.monotonic()
        for slot in sorted({0, *(n for n, at in self._served.items() if now - at < RECENT_SECONDS)}):
            held = self.provider.current if slot == 0 else self.provider.held(slot)
            if held is not None and self.policy.state(held) is TokenState.FRESH:
                continue
            try:
                token = self.provider.token(deadline) if slot == 0 else self.provider.token_in_slot(slot, deadline)
            except GenesysAuthError as exc:
                log.warning("refresh after INVOKE failed for slot %d (%s: %s)", slot, exc.kind, exc)
                continue
            log.debug(
                "after INVOKE: slot %d token fp=%s is %s", slot, token.fingerprint, self.policy.state(token).value
            )
