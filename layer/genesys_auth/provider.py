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
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING

from .deadline import DEFAULT_MAX_WAIT_SECONDS, Deadline, DeadlineLike, bound
from .errors import GenesysAuthError, UnavailableError
from .fingerprint import token_hash
from .metrics import Metrics
from .pool import PoolState, load_of
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
        pool: PoolState | None = None,
    ) -> None:
        self.source = source
        self._clock = clock
        self._max_wait = max_wait
        self.policy = policy or FreshnessPolicy()
        self.metrics = metrics or Metrics(enabled=False)
        self.pool = pool or PoolState(1)
        self._token: Token | None = None
        self._slot = 0
        self._slots: dict[int, Token] = {}
        self._fresh_until = 0.0
        self._refresh_lock = threading.Lock()
        self._state_lock = threading.Lock()
        #: The stack this provider tops, when built by ``stack.build_stack`` (minter, secrets).
        self.stack: Stack | None = None

    @property
    def current(self) -> Token | None:
        return self._token

    def held(self, slot: int) -> Token | None:
        """The token this process holds for a pool slot, whatever its state (no I/O)."""
        return self._slots.get(slot)

    @property
    def slot(self) -> int:
        """The pool slot of the current token."""
        return self._slot

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

    def token_in_slot(self, slot: int, deadline: DeadlineLike | None = None) -> Token:
        """The token of one pool slot (memory, else the source), without moving this provider's
        own calls to it: how the extension serves a caller that asked for a slot."""
        if slot == self._slot:
            return self.token(deadline)
        held = self._slots.get(slot)
        if held is not None and self.policy.state(held, self._clock()) in (TokenState.FRESH, TokenState.STALE):
            return held
        bounded = Deadline.of(deadline, default=self._max_wait)
        if not self._refresh_lock.acquire(timeout=bounded.remaining()):
            raise UnavailableError("timed out waiting for the token refresh in progress in this process")
        try:
            return self._fetch_slot(slot, bounded, install=False)
        finally:
            self._refresh_lock.release()

    def invalidate(self, access_token: str) -> bool:
        """Forget exactly ``access_token`` here and in the shared tier; a newer token is kept.

        Returns True if the memory copy was that token."""
        digest = token_hash(access_token)
        with self._state_lock:
            slot = next((n for n, held in self._slots.items() if held.hash == digest), self._slot)
            if slot in self._slots and self._slots[slot].hash == digest:
                del self._slots[slot]
            dropped = self._token is not None and self._token.hash == digest
            if dropped:
                self._token = None
                self._fresh_until = 0.0
        self.source.invalidate(digest, slot=slot)
        self.metrics.count("TokenInvalidated")
        log.info("invalidated token fp=%s (memory copy %s)", digest[:12], "dropped" if dropped else "already newer")
        return dropped

    # -- the pool's load signal ---------------------------------------------------------------------

    def observe(self, token: Token, headers: Mapping[str, str]) -> bool:
        """Feed one answer's rate-limit headers; True if this process moves off ``token``'s slot."""
        load = load_of(headers)
        if load is None:
            return False
        slot = self._slot_of(token)
        was_per_client = self.pool.per_client
        move = self.pool.observe(slot, token.hash, load)
        if self.pool.per_client and not was_per_client:
            self.metrics.count("PoolPerClientDetected")
            log.warning("Genesys counts this client's rate limit per client, not per token: not opening more slots")
            note = getattr(self.source, "note_per_client", None)
            if note is not None:
                note()
        if move:
            self.metrics.count("TokenRateLimited" if load.exhausted else "PoolSlotHot")
        if move or load.exhausted:
            # The next call chooses a slot again: also when the slot was already known to be hot
            # (an own-limit 429 must never be answered with the very token it just refused).
            with self._state_lock:
                if self._token is token:
                    self._fresh_until = 0.0
        return move

    def can_move_from(self, token: Token | None = None) -> bool:
        """True if a call that hit ``token``'s own rate limit can go out at once on another slot."""
        return self.pool.can_move_from(self._slot_of(token) if token is not None else self._slot)

    def _slot_of(self, token: Token) -> int:
        if self._token is token:
            return self._slot
        return next((n for n, held in self._slots.items() if held.hash == token.hash), self._slot)

    # -- refresh ------------------------------------------------------------------------------------

    def _refresh(self, seen: Token | None, deadline: Deadline) -> Token:
        target = self.pool.choose()
        if target != self._slot:
            moved = self._move(target, deadline)
            if moved is not None:
                return moved
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

    def _move(self, target: int, deadline: Deadline) -> Token | None:
        """Switch this process's calls to slot ``target``; None if that slot has no usable token
        to give (the current one, if still valid, is then kept)."""
        if not self._refresh_lock.acquire(timeout=max(0.0, deadline.remaining())):
            return None
        try:
            if target == self._slot:
                return self._token if self.policy.state(self._token, self._clock()) is TokenState.FRESH else None
            held = self._slots.get(target)
            if held is not None and self.policy.state(held, self._clock()) is TokenState.FRESH:
                self._install(held, target)
            else:
                try:
                    self._fetch_slot(target, deadline, install=True)
                except GenesysAuthError as exc:
                    current = self._token
                    if current is None or self.policy.state(current, self._clock()) is TokenState.INVALID:
                        raise
                    log.warning("could not move to pool slot %d (%s); staying on slot %d", target, exc.kind, self._slot)
                    self._postpone(current)
                    return current
            self.metrics.count("PoolSwitched")
            return self._token
        finally:
            self._refresh_lock.release()

    def _refresh_locked(self, deadline: Deadline, *, mandatory: bool) -> Token:
        slot = self._slot
        current = self._token  # re-read: the thread before us may have refreshed already
        state = self.policy.state(current, self._clock())
        if current is not None and (state is TokenState.FRESH or (mandatory and state is TokenState.STALE)):
            if self._clock() >= self._fresh_until:
                self._install(current, slot)
            return current
        try:
            return self._fetch_slot(slot, deadline, install=True)
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

    def _fetch_slot(self, slot: int, deadline: Deadline, *, install: bool) -> Token:
        """Ask the source for ``slot``'s token (the caller holds the refresh lock)."""
        held = self._slots.get(slot)
        with bound(deadline):  # every call below (AWS, HTTP) reads the same deadline
            new = self.source.fetch(held, deadline, slot=slot)
        self._slots[slot] = new
        if install:
            if new is held and held is self._token:
                self._postpone(held)  # kept (another worker is refreshing): look again shortly
            else:
                self._install(new, slot)
        return new

    def _install(self, token: Token, slot: int) -> None:
        with self._state_lock:
            self._token = token
            self._slot = slot
            self._slots[slot] = token
            now = self._clock()
            fresh_until = self.policy.fresh_until(token)
            if fresh_until <= now:
                # A token that arrives already stale (an old shared copy) is re-checked later, not per call.
                fresh_until = min(now + ADVISORY_RETRY_SECONDS, self.policy.expiring_from(token))
            # On a higher slot, look again when a lower one cools down (quiet apps return to slot 0).
            self._fresh_until = min(fresh_until, self.pool.recheck_at(slot))

    def _postpone(self, token: Token) -> None:
        with self._state_lock:
            if self._token is token:
                self._fresh_until = min(self._clock() + ADVISORY_RETRY_SECONDS, self.policy.expiring_from(token))
