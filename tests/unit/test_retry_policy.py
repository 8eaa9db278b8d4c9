"""The one retry policy: jittered waits above a floor, Retry-After as a minimum, attempts cap."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from genesys_auth import ConfigurationError, RetryPolicy
from genesys_auth.retry_policy import parse_retry_after


def test_backoff_stays_in_the_jittered_envelope_above_the_floor() -> None:
    policy = RetryPolicy(base=0.1, cap=2.0, floor=0.05)
    for retry in range(10):
        for _ in range(50):
            wait = policy.backoff(retry)
            assert 0.05 <= wait <= 0.05 + min(2.0, 0.1 * 2**retry)


def test_retry_after_is_a_minimum_and_zero_never_means_no_wait() -> None:
    policy = RetryPolicy(base=0.1, cap=1.0, floor=0.05)
    assert policy.wait(0, 3.0) >= 3.0
    assert all(policy.wait(0, 0.0) >= 0.05 for _ in range(100))


def test_attempts_count_the_first_try() -> None:
    policy = RetryPolicy(attempts=3)
    assert [policy.may_retry(n) for n in (1, 2, 3)] == [True, True, False]


def test_statuses_429_for_every_method_5xx_only_idempotent() -> None:
    policy = RetryPolicy()
    assert policy.retries_status("POST", 429)
    assert policy.retries_status("GET", 503)
    assert not policy.retries_status("POST", 503)
    assert not policy.retries_status("GET", 500)


@pytest.mark.parametrize("field", ["base", "cap", "floor", "retry_after_max"])
def test_bad_policy_values_are_refused(field: str) -> None:
    with pytest.raises(ConfigurationError):
        RetryPolicy(**{field: float("nan")})
    with pytest.raises(ConfigurationError):
        RetryPolicy(attempts=0)


def test_retry_after_forms() -> None:
    assert parse_retry_after("42") == 42
    assert parse_retry_after("1.5") == 1.5
    assert parse_retry_after("-5") == 0
    assert parse_retry_after(None) is None
    assert parse_retry_after("abc") is None
    assert parse_retry_after("nan") is None
    assert parse_retry_after("inf") is None
    http_date = (datetime.now(UTC) + timedelta(seconds=30)).strftime("%a, %d %b %Y %H:%M:%S GMT")
    value = parse_retry_after(http_date)
    assert value is not None and 25 < value <= 30
    past = (datetime.now(UTC) - timedelta(seconds=30)).strftime("%a, %d %b %Y %H:%M:%S GMT")
    assert parse_retry_after(past) == 0
