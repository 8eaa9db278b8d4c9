"""The provider's single-flight and refresh windows, driven by an in-memory token source.

The source here is the provider's own port (pure logic), not a stand-in for boto3 or requests.
"""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from genesys_auth import Deadline, Token, UnavailableError
from genesys_auth.provider import TokenProvider
from genesys_auth.tokens import FreshnessPolicy


class ScriptedSource:
    """Hands out tokens with chosen remaining lifetimes; can block or fail on demand."""

    name = "scripted"

    def __init__(self, left: float = 250.0, lifetime: float = 300.0) -> None:
        self.left = left
        self.lifetime = lifetime
        self.fetches = 0
        self.invalidated: list[str] = []
        self.gate: threading.Event | None = None
        self.entered = threading.Event()
        self.fail: Exception | None = None
        self.decline = False
        self._lock = threading.Lock()

    def fetch(self, current: Token | None, deadline: Deadline, *, slot: int = 0) -> Token:
        with self._lock:
            self.fetches += 1
            n = self.fetches
        self.entered.set()
        if self.gate is not None:
            self.gate.wait(5)
        if self.fail is not None:
            raise self.fail
        if self.decline and current is not None:
            return current  # as a real source in the advisory window: someone else refreshes
        return Token(f"token-number-{n:04d}-padding", "bearer", time.time() + self.left, self.lifetime)

    def invalidate(self, token_hash: str, *, slot: int = 0) -> None:
        self.invalidated.append(token_hash)


class Clock:
    """Wall clock plus a controllable offset, so tokens age without sleeping."""

    def __init__(self) -> None:
        self.offset = 0.0

    def __call__(self) -> float:
        return time.time() + self.offset


def provider(source: ScriptedSource, clock: Clock | None = None) -> TokenProvider:
    return TokenProvider(source, policy=FreshnessPolicy(jitter=0.0), clock=clock or Clock())


def test_warm_hit_does_no_io() -> None:
    source = ScriptedSource()
    p = provider(source)
    first = p.token()
    for _ in range(1000):
        assert p.token() is first
    assert source.fetches == 1


def test_cold_threads_single_flight() -> None:
    source = ScriptedSource()
    source.gate = threading.Event()
    p = provider(source)
    with ThreadPoolExecutor(64) as pool:
        futures = [pool.submit(p.token) for _ in range(64)]
        assert source.entered.wait(5)
        source.gate.set()
        tokens = {f.result().access_token for f in futures}
    assert source.fetches == 1
    assert len(tokens) == 1


def test_advisory_window_refreshes_once_and_others_keep_the_valid_token() -> None:
    source = ScriptedSource(left=250)
    clock = Clock()
    p = provider(source, clock)
    stale = p.token()
    clock.offset = 170  # 80 s left of 300: STALE (advisory 90 s, mandatory 60 s)
    source.gate = threading.Event()
    source.entered.clear()
    refresher = ThreadPoolExecutor(1).submit(p.token)
    assert source.entered.wait(5)
    # While the refresh is in flight, callers get the stale-but-valid token immediately.
    assert p.token() is stale
    source.gate.set()
    fresh = refresher.result()
    assert fresh is not stale
    assert p.token() is fresh
    assert source.fetches == 2


def test_mandatory_window_waits_for_the_refresh() -> None:
    source = ScriptedSource(left=250)
    clock = Clock()
    p = provider(source, clock)
    p.token()
    clock.offset = 220  # 30 s left: EXPIRING
    source.left = 250 + 220
    second = p.token()
    assert second.remaining(clock()) > 200
    assert source.fetches == 2


def test_failed_refresh_keeps_a_still_valid_token() -> None:
    source = ScriptedSource(left=250)
    clock = Clock()
    p = provider(source, clock)
    expiring = p.token()
    clock.offset = 220
    source.fail = UnavailableError("login host down")
    assert p.token() is expiring
    assert p.metrics.counts["RefreshFailed"] == 1


def test_failed_refresh_without_valid_token_raises() -> None:
    source = ScriptedSource()
    source.fail = UnavailableError("login host down")
    with pytest.raises(UnavailableError):
        provider(source).token()


def test_declined_advisory_refresh_is_not_retried_per_call() -> None:
    source = ScriptedSource(left=250)
    clock = Clock()
    p = provider(source, clock)
    p.token()
    clock.offset = 170
    source.decline = True
    for _ in range(100):
        p.token()
    assert source.fetches == 2  # one declined attempt, then the provider backs off
    clock.offset = 176  # past the 5 s back-off: one more attempt
    p.token()
    assert source.fetches == 3


def test_invalidate_forgets_exactly_that_token() -> None:
    source = ScriptedSource()
    p = provider(source)
    old = p.token()
    assert p.invalidate(old.access_token) is True
    new = p.token()
    assert new.access_token != old.access_token
    # A late invalidate of the old token must not throw away the new one.
    assert p.invalidate(old.access_token) is False
    assert p.token() is new
    assert source.invalidated == [old.hash, old.hash]


def test_waiting_is_bounded_by_the_deadline() -> None:
    source = ScriptedSource()
    source.gate = threading.Event()
    p = provider(source)
    holder = ThreadPoolExecutor(1).submit(p.token)
    assert source.entered.wait(5)
    started = time.monotonic()
    with pytest.raises(UnavailableError):
        p.token(Deadline.after(0.2))
    assert time.monotonic() - started < 1.0
    source.gate.set()
    holder.result()
