"""``token()``: memory first, then the source below it, one refresh at a time per process.

1. Memory (L1): a FRESH token is returned with no I/O and no lock (one float comparison).
2. STALE (advisory window): the first thread to get the refresh lock without waiting refreshes;
   every other thread keeps using the current token, which is still valid.
3. EXPIRING or INVALID (mandatory window): threads wait for the one refresh in flight, bounded by
   the deadline, and all take its result (in-process single-flight: N threads, one mint).

A failed refresh keeps the current token while it is truly valid (logged and counted) and raises
only when there is no valid token left.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from .deadline import DEFAULT_MAX_WAIT_SECONDS, Deadline, DeadlineLike, bound
from .errors import GenesysAuthError, UnavailableError
from .fingerprint import token_hash
from .metrics import Metrics
from .sources import TokenSource
from .tokens import FreshnessPolicy, Token, TokenState

if TYPE_CHECKING:
    from .stack import Stack

log = logging.getLogger(__name__)

#: After a declined or failed advisory refresh, wait this long before trying again (bounded by
#: the mandatory window) so a stale token does not cost one shared-cache read per call.
ADVISORY_RETRY_SECONDS = 5.0


class TokenProvider:
    def __init__(
        self,
        source: TokenSource,
        *,
        policy: FreshnessPolicy | None = None,
        metrics: Metrics | None = None,
        clock: Callable[[], float] = time.time,
        max_wait: float = DEFAULT_MAX_WAIT_SECONDS,
    ) -> None:
        self.source = source
        self._clock = clock
        self._max_wait = max_wait
        self.policy = policy or FreshnessPolicy()
        self.metrics = metrics or Metrics(enabled=False)
        self._token: Token | None = None
        self._fresh_until = 0.0
        self._refresh_lock = threading.Lock()
        self._state_lock = threading.Lock()
        #: The stack this provider tops, when built by ``stack.build_stack`` (minter, secrets).
        self.stack: Stack | None = None

    @property
    def current(self) -> Token | None:
        return self._token

    def token_now(self) -> Token | None:
        """The memory copy if it is usable without waiting (FRESH or STALE), else None.

        For callers that refresh on their own schedule (the extension serves this and refreshes
        after INVOKE): it never does I/O and never blocks."""
        token = self._token
        if token is not None and self.policy.state(token, self._clock()) in (TokenState.FRESH, TokenState.STALE):
            return token
        return None

    def token(self, deadline: DeadlineLike | None = None) -> Token:
        token = self._token
        if token is not None and self._clock() < self._fresh_until:
            return token
        return self._refresh(token, Deadline.of(deadline, default=self._max_wait))

    def invalidate(self, access_token: str) -> bool:
        """Forget exactly ``access_token`` here and in the shared tier; a newer token is kept.

        Returns True if the memory copy was that token."""
        digest = token_hash(access_token)
        with self._state_lock:
            dropped = self._token is not None and self._token.hash == digest
            if dropped:
                self._token = None
                self._fresh_until = 0.0
        self.source.invalidate(digest)
        self.metrics.count("TokenInvalidated")
        log.info("invalidated token fp=%s (memory copy %s)", digest[:12], "dropped" if dropped else "already newer")
        return dropped

    def _refresh(self, seen: Token | None, deadline: Deadline) -> Token:
        if self.policy.state(seen, self._clock()) is TokenState.STALE:
            if not self._refresh_lock.acquire(blocking=False):
                return seen  # type: ignore[return-value]  # STALE implies a token
            try:
                return self._refresh_locked(deadline, mandatory=False)
            finally:
                self._refresh_lock.release()
        if not self._refresh_lock.acquire(timeout=max(0.0, deadline.remaining())):
            if seen is not None and self.policy.state(seen, self._clock()) is not TokenState.INVALID:
                return seen
            raise UnavailableError("timed out waiting for the token refresh in progress in this process")
        try:
            return self._refresh_locked(deadline, mandatory=True)
        finally:
            self._refresh_lock.release()

    def _refresh_locked(self, deadline: Deadline, *, mandatory: bool) -> Token:
        current = self._token  # re-read: the thread before us may have refreshed already
        state = self.policy.state(current, self._clock())
        if current is not None and (state is TokenState.FRESH or (mandatory and state is TokenState.STALE)):
            return current
        try:
            with bound(deadline):  # every call below (AWS, HTTP) reads the same deadline
                new = self.source.fetch(current, deadline)
        except GenesysAuthError as exc:
            if current is None or state is TokenState.INVALID:
                raise
            self.metrics.count("RefreshFailed")
            log.warning(
                "token refresh failed (%s: %s); keeping token fp=%s, valid for %.0fs",
                exc.kind,
                exc,
                current.fingerprint,
                current.remaining(),
            )
            self._postpone(current)
            return current
        if new is current:
            self._postpone(current)  # kept (another worker is refreshing): look again shortly
            return current
        self._install(new)
        return new

    def _install(self, token: Token) -> None:
        with self._state_lock:
            self._token = token
            self._fresh_until = self.policy.fresh_until(token)
            now = self._clock()
            if self._fresh_until <= now:
                # A token that arrives already stale (an old shared copy) is re-checked later, not per call.
                self._fresh_until = min(now + ADVISORY_RETRY_SECONDS, self.policy.expiring_from(token))

    def _postpone(self, token: Token) -> None:
        with self._state_lock:
            if self._token is token:
                self._fresh_until = min(self._clock() + ADVISORY_RETRY_SECONDS, self.policy.expiring_from(token))
