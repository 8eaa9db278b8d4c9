"""The token pool: which slot's token this process sends its next call with.

Genesys caps each client-credentials token at 300 requests a minute, counted across everyone who
uses it, and reports the count on every answer (``inin-ratelimit-count`` / ``-allowed`` /
``-reset``). One shared token would cap the whole app at 300/min, so the shared tier holds a pool
of slots (slot 0 is the classic item); each slot is a token with its own lease.

This module is the process's view of the pool, pure logic with no I/O:

* every answer's headers are :meth:`PoolState.observe`\\ d: a slot whose count reaches
  :data:`HIGH_WATER` of its limit is *hot* until the count's reset;
* :meth:`PoolState.choose` picks slot 0 whenever it is not hot, so quiet apps use slot 0 only and
  go back to it as soon as it cools down (unused slots lapse and are not refreshed ahead); while
  slot 0 is hot, calls spread at random over the other open slots that are not;
* when every known slot is hot, the next slot is opened, up to ``GENESYS_TOKEN_POOL_MAX``;
* when all slots are hot at the maximum, the least hot one is used and the caller waits out
  Retry-After within its deadline, as with one token;
* if a token this process just minted for a newly opened slot reports a high count on its very
  first answer, Genesys counts per client, not per token: the pool stops opening slots (and the
  shared tier remembers it for every container), so no token is minted for nothing.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

#: Share of a token's per-minute limit at which the process moves its calls to another slot.
HIGH_WATER = 0.9
#: Default and ceiling of ``GENESYS_TOKEN_POOL_MAX``.
DEFAULT_POOL_MAX = 8
POOL_MAX_LIMIT = 64
#: How long a slot stays hot when the answer named no reset.
DEFAULT_RESET_SECONDS = 60.0


@dataclass(frozen=True)
class Load:
    """A token's usage as one answer reported it."""

    count: int
    allowed: int
    reset: float

    @property
    def hot(self) -> bool:
        return self.count >= HIGH_WATER * self.allowed

    @property
    def exhausted(self) -> bool:
        return self.count >= self.allowed


def load_of(headers: Mapping[str, str]) -> Load | None:
    """The ``inin-ratelimit-*`` headers of an answer, or None when absent or unreadable."""
    count = _whole(headers.get("inin-ratelimit-count"))
    allowed = _whole(headers.get("inin-ratelimit-allowed"))
    if count is None or allowed is None or allowed <= 0:
        return None
    reset = _whole(headers.get("inin-ratelimit-reset"))
    return Load(count=count, allowed=allowed, reset=float(reset) if reset is not None else DEFAULT_RESET_SECONDS)


def _whole(value: str | None) -> int | None:
    if value is None:
        return None
    value = value.strip()
    if not value.isdigit() or len(value) > 9:
        return None
    return int(value)


class PoolState:
    """One process's knowledge of the pool of one credentials secret. Thread-safe."""

    def __init__(self, maximum: int = DEFAULT_POOL_MAX, *, clock: Callable[[], float] = time.time) -> None:
        self.maximum = max(1, maximum)
        self._clock = clock
        self._lock = threading.Lock()
        #: Slots known to be open (the shared tier's count, or what this process opened).
        self.known = 1
        self.per_client = False
        self._hot_until: dict[int, float] = {}
        #: Tokens this process minted for a slot it opened, not yet observed (per-client check).
        self._fresh: dict[str, int] = {}

    # -- what the tiers below tell it --------------------------------------------------------------

    def learn(self, *, slots: int | None = None, per_client: bool = False) -> None:
        with self._lock:
            if slots is not None:
                self.known = max(self.known, min(self.maximum, slots))
            if per_client:
                self.per_client = True

    def opened(self, slot: int, token_hash: str) -> None:
        """This process minted ``token_hash`` for ``slot``, which it just opened."""
        with self._lock:
            self.known = max(self.known, slot + 1)
            self._fresh[token_hash] = slot

    def was_opened(self, token_hash: str) -> bool:
        """True if ``token_hash`` was minted here for a newly opened slot and not yet observed."""
        with self._lock:
            return token_hash in self._fresh

    # -- the load signal ---------------------------------------------------------------------------

    def observe(self, slot: int, token_hash: str, load: Load) -> bool:
        """Record one answer's load for ``slot``; True if the process should move off it now.

        Also settles the per-client question for tokens this process just minted: a brand-new
        token whose first answer already reports a hot count is sharing the client's count."""
        now = self._clock()
        with self._lock:
            opened_slot = self._fresh.pop(token_hash, None)
            if opened_slot is not None and opened_slot > 0 and load.hot:
                self.per_client = True
            if not load.hot:
                if self._hot_until.get(slot, 0.0) > now and load.count < HIGH_WATER * load.allowed / 2:
                    self._hot_until.pop(slot, None)  # the window moved on sooner than said
                return False
            if self.per_client:
                return False  # moving would not help: every token of the client shares one count
            was_hot = self._hot_until.get(slot, 0.0) > now
            self._hot_until[slot] = now + max(1.0, load.reset)
            return not was_hot

    # -- the choice --------------------------------------------------------------------------------

    def choose(self) -> int:
        """The slot to use now: the lowest one not hot; a new one when all known are hot (up to
        the maximum); the one that cools first when the pool is saturated."""
        now = self._clock()
        with self._lock:
            if self.per_client or self.maximum == 1:
                return 0
            if self._hot_until.get(0, 0.0) <= now:
                return 0  # quiet apps, and every app once a burst is over, use slot 0 alone
            cool = [slot for slot in range(1, self.known) if self._hot_until.get(slot, 0.0) <= now]
            if cool:
                # Spread a burst over the open slots, so they fill together and a new slot opens
                # only when they are all near their limit.
                return random.choice(cool)  # noqa: S311 - load spreading, not cryptography
            if self.known < self.maximum:
                return self.known
            return min(range(self.known), key=lambda slot: self._hot_until.get(slot, 0.0))

    def can_move_from(self, slot: int) -> bool:
        """True if some other slot is usable now (not hot, or still to be opened)."""
        now = self._clock()
        with self._lock:
            if self.per_client or self.maximum == 1:
                return False
            if self.known < self.maximum:
                return True
            return any(self._hot_until.get(other, 0.0) <= now for other in range(self.known) if other != slot)

    def recheck_at(self, slot: int) -> float:
        """When a process on ``slot`` should look again for a lower slot that cooled down
        (``inf`` when it is on slot 0 or nothing below is hot)."""
        with self._lock:
            below = [self._hot_until.get(lower, 0.0) for lower in range(slot)]
        return min(below) if below else float("inf")

    def snapshot(self) -> dict[str, object]:
        now = self._clock()
        with self._lock:
            return {
                "known": self.known,
                "maximum": self.maximum,
                "per_client": self.per_client,
                "hot": sorted(slot for slot, until in self._hot_until.items() if until > now),
            }
