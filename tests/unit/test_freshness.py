from __future__ import annotations

import time

from genesys_auth import Token, TokenState
from genesys_auth.tokens import FreshnessPolicy, RefreshWindows

SECRET_TOKEN = "opaque-token-value-0123456789abcdef"


def token(left: float, lifetime: float) -> Token:
    return Token(SECRET_TOKEN, "bearer", time.time() + left, lifetime)


def test_windows_scale_with_lifetime() -> None:
    day = RefreshWindows.for_lifetime(86400, jitter=0.0)
    assert (day.advisory, day.mandatory) == (900, 600)  # botocore's 15/10 minutes for long tokens
    short = RefreshWindows.for_lifetime(300, jitter=0.0)
    assert (short.advisory, short.mandatory) == (90, 60)  # a 5-minute token is not born stale
    jittered = RefreshWindows.for_lifetime(86400, jitter=0.999)
    assert 900 < jittered.advisory < 900 + 120


def test_states() -> None:
    policy = FreshnessPolicy(jitter=0.0)
    assert policy.state(None) is TokenState.INVALID
    assert policy.state(token(200, 300)) is TokenState.FRESH
    assert policy.state(token(80, 300)) is TokenState.STALE
    assert policy.state(token(30, 300)) is TokenState.EXPIRING
    assert policy.state(token(-1, 300)) is TokenState.INVALID


def test_jitter_spreads_processes() -> None:
    draws = {round(FreshnessPolicy().windows(token(100, 86400)).advisory) for _ in range(20)}
    assert len(draws) > 5


def test_token_repr_and_str_show_only_a_fingerprint() -> None:
    value = token(100, 300)
    assert SECRET_TOKEN not in repr(value)
    assert SECRET_TOKEN not in str(value)
    assert value.fingerprint in str(value)
    assert len(value.fingerprint) == 12
