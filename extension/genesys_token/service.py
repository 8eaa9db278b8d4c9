"""The token logic behind the extension's HTTP API: serve without waiting, refresh ahead.

Imported only after the extension has registered: it pulls in ``genesys_auth`` (and with it
requests), which the server and the registration do not need.
"""

from __future__ import annotations

import hmac
import logging

from genesys_auth import GenesysAuthError, GenesysClient, Token, TokenState
from genesys_auth.deadline import Deadline

log = logging.getLogger("genesys_token")


class TokenService:
    """The extension's view of its ``GenesysClient``: serve without waiting, refresh ahead."""

    def __init__(self, client: GenesysClient) -> None:
        self.client = client
        self.provider = client.provider
        self.policy = client.provider.policy

    def state(self) -> TokenState:
        return self.policy.state(self.provider.current)

    def token(self, deadline: Deadline) -> Token:
        """The current token while it is outside the mandatory window, else a refreshed one.

        A request never triggers an advisory refresh: that runs after INVOKE (:meth:`refresh_ahead`),
        so the caller does not wait for it."""
        current = self.provider.current
        if current is not None and self.policy.state(current) in (TokenState.FRESH, TokenState.STALE):
            return current
        return self.provider.token(deadline)

    def invalidate(self, digest: str, deadline: Deadline) -> Token:
        """Forget the token with this hash if it is still current, then return a fresh one.

        Concurrent invalidations of one token refresh once: the second finds a newer token (or the
        refresh in flight) and the provider's single-flight hands it the same result."""
        current = self.provider.current
        if current is not None and hmac.compare_digest(current.hash, digest):
            self.provider.invalidate(current.access_token)
        return self.provider.token(deadline)

    def refresh_ahead(self, deadline: Deadline) -> None:
        """After an INVOKE event: refresh now if the token is in its advisory window (or worse)."""
        if self.state() is TokenState.FRESH:
            return
        try:
            token = self.provider.token(deadline)
        except GenesysAuthError as exc:
            log.warning("refresh after INVOKE failed (%s: %s)", exc.kind, exc)
            return
        log.debug("after INVOKE: token fp=%s is %s", token.fingerprint, self.state().value)
