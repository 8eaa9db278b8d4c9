"""The shared tier: one token per credentials secret for every container, one mint at a time.

``SharedSource.fetch`` runs when this process's memory copy is not fresh (the provider calls it
from one thread at a time):

1. Read the item (consistent). If it holds a FRESH token, take it: no lease, no secret read.
2. Otherwise try the lease with one conditional write. The winner mints, then writes the token
   back fenced on still holding the lease, and releases the lease in the same write.
3. A loser with a still valid (STALE) token keeps using it: the advisory window never waits.
   A loser without one polls the item with jittered backoff until the winner's token appears,
   the lease expires (the holder died: take it over) or the deadline comes (give up).

If DynamoDB is unreachable, throttled, missing or denied, the source logs once, counts a metric
and mints directly (the provider's lock keeps that single-flight per process) for a cool-down
period before trying the table again. A failing cache never fails a call.
"""

from __future__ import annotations

import logging
import os
import threading
import time
import uuid
from collections.abc import Callable

from .deadline import Deadline
from .dynamodb import DynamoTokenStore, Lease, LeaseTaken, Record, StoreUnavailable
from .errors import UnavailableError
from .metrics import Metrics
from .minter import Minter
from .retry_policy import RetryPolicy
from .tokens import FreshnessPolicy, Token, TokenState, with_version

log = logging.getLogger(__name__)

#: Bounds of the lease: long enough for a mint with a retry, short enough that a dead holder
#: costs the fleet seconds, not the rest of an invocation (Powertools' idempotency lock).
LEASE_MIN_SECONDS = 3.0
LEASE_MAX_SECONDS = 15.0
#: Polling of waiters (a wait for another container, not a retry): jittered, 50 ms growing to 0.5 s.
POLL = RetryPolicy(base=0.05, cap=0.5, floor=0.05)
#: After the table fails, mint directly for this long before trying it again.
DEGRADED_SECONDS = 60.0


class SharedSource:
    name = "dynamodb"

    def __init__(
        self,
        store: DynamoTokenStore,
        minter: Minter,
        *,
        policy: FreshnessPolicy,
        metrics: Metrics,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.minter = minter
        self.policy = policy
        self.metrics = metrics
        self._clock = clock
        self._degraded_until = 0.0
        self._warned = False
        self._owner_prefix = f"{os.getpid()}-{uuid.uuid4().hex[:8]}"
        self._lock = threading.Lock()

    # -- TokenSource ------------------------------------------------------------------------------

    def fetch(self, current: Token | None, deadline: Deadline) -> Token:
        if self._clock() < self._degraded_until:
            return self.minter.mint(deadline)
        try:
            return self._fetch_shared(current, deadline)
        except StoreUnavailable as exc:
            self._degrade(exc)
            return self.minter.mint(deadline)

    def invalidate(self, token_hash: str) -> None:
        if self._clock() < self._degraded_until:
            return
        try:
            if self.store.invalidate(token_hash):
                log.info("shared token fp=%s invalidated in the table", token_hash[:12])
        except StoreUnavailable as exc:
            self._degrade(exc)

    # -- the algorithm ----------------------------------------------------------------------------

    def _fetch_shared(self, current: Token | None, deadline: Deadline) -> Token:
        record = self.store.load()
        polls = 0
        while True:
            best = _newest(current, record.token if record else None)
            state = self.policy.state(best, self._clock())
            if best is not None and state is TokenState.FRESH:
                if best is not current:
                    self.metrics.count("SharedHit")
                return best
            try:
                lease = self.store.acquire(self._new_owner(), record, self._lease_seconds(deadline))
            except LeaseTaken as taken:
                record = taken.record
                fresh = record.token if record else None
                if fresh is not None and self.policy.state(fresh, self._clock()) is TokenState.FRESH:
                    continue  # somebody published while we looked: take it at the top
                if best is not None and state is TokenState.STALE:
                    return best  # still valid: the advisory window never waits for a mint
            else:
                return self._mint_and_publish(lease, deadline)
            # No usable token: wait for the lease holder's token, or for its lease to lapse.
            wait = self._poll_wait(polls, record)
            polls += 1
            if not deadline.sleep(wait):
                if best is not None and state is not TokenState.INVALID:
                    return best
                raise UnavailableError(
                    "timed out waiting for another container to mint the Genesys token; "
                    "raise the function timeout or check the login host"
                )
            record = self.store.load()

    def _mint_and_publish(self, lease: Lease, deadline: Deadline) -> Token:
        try:
            token = self.minter.mint(deadline)
        except Exception:
            try:
                self.store.release(lease)
            except StoreUnavailable:
                pass  # the lease lapses on its own
            raise
        try:
            version = self.store.publish(lease, token, self.minter.client_id)
        except StoreUnavailable as exc:
            self._degrade(exc)
            return token
        if version is None:
            # Our lease lapsed and another worker took over: keep our own valid token but do not
            # overwrite theirs (the fenced write refused it).
            self.metrics.count("LeaseLost")
            log.warning("lease lapsed during the mint; keeping token fp=%s locally, not publishing", token.fingerprint)
            return token
        log.info("published token fp=%s as version %d", token.fingerprint, version)
        return with_version(token, version)

    # -- helpers ----------------------------------------------------------------------------------

    def _new_owner(self) -> str:
        return f"{self._owner_prefix}-{uuid.uuid4().hex[:8]}"

    @staticmethod
    def _lease_seconds(deadline: Deadline) -> float:
        return min(LEASE_MAX_SECONDS, max(LEASE_MIN_SECONDS, deadline.remaining()))

    def _poll_wait(self, polls: int, record: Record | None) -> float:
        wait = POLL.backoff(polls)
        if record is not None and record.owner is not None:
            # Wake up right after a dead holder's lease lapses rather than a poll later.
            until_lapse = record.lease_until - self._clock() + 0.01
            if 0 < until_lapse < wait:
                wait = until_lapse
        return wait

    def _degrade(self, exc: StoreUnavailable) -> None:
        with self._lock:
            self._degraded_until = self._clock() + DEGRADED_SECONDS
            first = not self._warned
            self._warned = True
        self.metrics.count("SharedCacheUnavailable")
        if first:
            log.warning(
                "shared token cache unavailable (%s); minting directly in this container, retrying the table every %.0fs",
                exc.reason,
                DEGRADED_SECONDS,
            )


def _newest(a: Token | None, b: Token | None) -> Token | None:
    if a is None:
        return b
    if b is None:
        return a
    return a if a.expires_at >= b.expires_at else b
