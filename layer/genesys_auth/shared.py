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
from .dynamodb import LONGEST_LEASE_SECONDS, PER_CLIENT, DynamoTokenStore, Lease, LeaseTaken, Record, StoreUnavailable
from .errors import UnavailableError
from .lease import CLOCK_SLACK_SECONDS
from .metrics import Metrics
from .minter import Minter
from .pool import PoolState
from .retry_policy import RetryPolicy
from .tokens import FreshnessPolicy, Token, TokenState, with_version

log = logging.getLogger(__name__)

#: Bounds of the lease: long enough for a mint with a retry, short enough that a dead holder
#: costs the fleet seconds, not the rest of an invocation (Powertools' idempotency lock).
LEASE_MIN_SECONDS = 3.0
LEASE_MAX_SECONDS = LONGEST_LEASE_SECONDS  # one knob, kept beside the lease it bounds
#: Polling of waiters (a wait for another container, not a retry): jittered, 50 ms growing to 0.5 s.
POLL = RetryPolicy(base=0.05, cap=0.5, floor=0.05)
#: After the table fails, mint directly for this long before trying it again.
DEGRADED_SECONDS = 60.0
#: Where waiters first look when the item has no record of how long a mint takes.
EXPECTED_MINT_SECONDS = 0.4


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
        pool: PoolState | None = None,
    ) -> None:
        self.store = store
        self.minter = minter
        self.policy = policy
        self.metrics = metrics
        self.pool = pool or PoolState(1)
        self._clock = clock
        self._degraded_until = 0.0
        self._warned = False
        self._marked_per_client = False
        self._owner_prefix = f"{os.getpid()}-{uuid.uuid4().hex[:8]}"
        self._lock = threading.Lock()

    # -- TokenSource ------------------------------------------------------------------------------

    def fetch(self, current: Token | None, deadline: Deadline, *, slot: int = 0) -> Token:
        if self._clock() < self._degraded_until:
            return self._mint_direct(slot, deadline)
        try:
            self._share_per_client()
            if slot >= self.pool.known:
                slot = self._open(slot)
            return self._fetch_shared(self.store.for_slot(slot), current, deadline)
        except StoreUnavailable as exc:
            if exc.reason.endswith("DeadlineReached"):
                # Not the table's fault: this call has no time left for it. Keep a still valid
                # token (no mint past the pool's size), mint only when there is none, and do not
                # give up on the table for the container's next calls.
                if current is not None and current.remaining() > 0:
                    return current
                log.info("no time left for the shared table in this call; minting directly")
            else:
                self._degrade(exc)
            return self._mint_direct(slot, deadline)

    def invalidate(self, token_hash: str, *, slot: int = 0) -> None:
        if self._clock() < self._degraded_until:
            return
        try:
            if self.store.for_slot(slot).invalidate(token_hash):
                log.info("shared token fp=%s invalidated in the table (slot %d)", token_hash[:12], slot)
        except StoreUnavailable as exc:
            self._degrade(exc)

    # -- the pool ---------------------------------------------------------------------------------

    def _open(self, slot: int) -> int:
        """Open pool slots up to ``slot`` on slot 0's item; returns the slot to use (the highest
        open one if the pool's maximum, another container's count or per-client counting says so)."""
        before = self.pool.known
        opened, per_client, by_us = self.store.open_slot(before, self.pool.maximum)
        self.pool.learn(slots=opened, per_client=per_client)
        if per_client:
            return 0
        if by_us:
            self.metrics.count("PoolSlotOpened")
        return min(slot, opened - 1)

    def note_per_client(self) -> None:
        """Tell every container at once (slot 0's item) that the pool must not grow."""
        try:
            self._share_per_client()
        except StoreUnavailable as exc:
            self._degrade(exc)

    def _share_per_client(self) -> None:
        if self.pool.per_client and not self._marked_per_client:
            self._marked_per_client = True
            self.store.mark_per_client()

    def _learn(self, store: DynamoTokenStore, record: Record | None) -> None:
        if store.slot == 0 and record is not None:
            self.pool.learn(slots=record.slots, per_client=record.pool_mode == PER_CLIENT)

    def _mint_direct(self, slot: int, deadline: Deadline) -> Token:
        token = self.minter.mint(deadline)
        if slot >= self.pool.known:
            self.pool.opened(slot, token.hash)
        return token

    # -- the algorithm ----------------------------------------------------------------------------

    def _fetch_shared(self, store: DynamoTokenStore, current: Token | None, deadline: Deadline) -> Token:
        record = store.load()
        self._learn(store, record)
        polls = 0
        while True:
            best = _newest(current, record.token if record else None)
            state = self.policy.state(best, self._clock())
            if best is not None and state is TokenState.FRESH:
                if best is not current:
                    self.metrics.count("SharedHit")
                return best
            if record is not None and record.lease_held(self._clock()) and _lease_credible(record, self._clock()):
                # Somebody is minting right now: trying the lease would only be refused.
                if best is not None and state is TokenState.STALE:
                    return best
            else:
                try:
                    lease = store.acquire(self._new_owner(), record, self._lease_seconds(deadline))
                except LeaseTaken as taken:
                    record = taken.record
                    fresh = record.token if record else None
                    if fresh is not None and self.policy.state(fresh, self._clock()) is TokenState.FRESH:
                        continue  # somebody published while we looked: take it at the top
                    if best is not None and state is TokenState.STALE:
                        return best  # still valid: the advisory window never waits for a mint
                else:
                    return self._mint_and_publish(store, lease, deadline)
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
            record = store.load()
            self._learn(store, record)

    def _mint_and_publish(self, store: DynamoTokenStore, lease: Lease, deadline: Deadline) -> Token:
        started = time.monotonic()
        try:
            token = self.minter.mint(deadline)
        except Exception:
            try:
                store.release(lease)
            except StoreUnavailable:
                pass  # the lease lapses on its own
            raise
        if store.slot >= self.pool.known or (store.slot > 0 and lease.version == 0):
            self.pool.opened(store.slot, token.hash)  # the first token of a new slot: the per-client check
        try:
            version = store.publish(lease, token, self.minter.client_id, mint_seconds=time.monotonic() - started)
        except StoreUnavailable as exc:
            self._degrade(exc)
            return token
        if version is None:
            # Our lease lapsed and another worker took over: keep our own valid token but do not
            # overwrite theirs (the fenced write refused it).
            self.metrics.count("LeaseLost")
            log.warning("lease lapsed during the mint; keeping token fp=%s locally, not publishing", token.fingerprint)
            return token
        log.info("published token fp=%s as version %d (slot %d)", token.fingerprint, version, store.slot)
        return with_version(token, version)

    # -- helpers ----------------------------------------------------------------------------------

    def _new_owner(self) -> str:
        return f"{self._owner_prefix}-{uuid.uuid4().hex[:8]}"

    @staticmethod
    def _lease_seconds(deadline: Deadline) -> float:
        return min(LEASE_MAX_SECONDS, max(LEASE_MIN_SECONDS, deadline.remaining()))

    def _poll_wait(self, polls: int, record: Record | None) -> float:
        """The first look comes when the holder's mint should be done (the last mint's duration,
        kept in the item), later ones back off with jitter; never past a dead holder's lapse."""
        if polls == 0:
            expected = record.mint_seconds if record is not None and record.mint_seconds else EXPECTED_MINT_SECONDS
            wait = expected + POLL.backoff(0)
        else:
            wait = POLL.backoff(polls)
        if record is not None and record.owner is not None:
            # Wake up right after a dead holder's lease lapses rather than a poll later.
            lease_until = min(record.lease_until, self._clock() + LEASE_MAX_SECONDS)
            until_lapse = lease_until - self._clock() + 0.01
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


def _lease_credible(record: Record, now: float) -> bool:
    """A lease that ends further away than any lease the library takes is corrupt: not waited for."""
    return record.lease_until <= now + LEASE_MAX_SECONDS + CLOCK_SLACK_SECONDS


def _newest(a: Token | None, b: Token | None) -> Token | None:
    if a is None:
        return b
    if b is None:
        return a
    return a if a.expires_at >= b.expires_at else b
