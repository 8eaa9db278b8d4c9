from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pytest

from genesys_auth import Deadline
from genesys_auth.backoff import full_jitter, parse_retry_after
from genesys_auth.deadline import LAMBDA_RESERVE_SECONDS, bound


class FakeContext:
    def __init__(self, remaining_ms: int) -> None:
        self.remaining_ms = remaining_ms

    def get_remaining_time_in_millis(self) -> int:
        return self.remaining_ms


def test_lambda_context_keeps_a_reserve() -> None:
    deadline = Deadline.of(FakeContext(3000))
    assert 3.0 - LAMBDA_RESERVE_SECONDS - 0.05 < deadline.remaining() <= 3.0 - LAMBDA_RESERVE_SECONDS


def test_epoch_and_datetime_deadlines() -> None:
    assert 9 < Deadline.of(time.time() + 10).remaining() <= 10
    assert 4 < Deadline.of(datetime.now(UTC) + timedelta(seconds=5)).remaining() <= 5


def test_default_and_bound_scope() -> None:
    assert 29 < Deadline.of(None).remaining() <= 30
    with bound(2.0 + time.time()) as inner:
        assert Deadline.of(None) is inner
    assert Deadline.of(None).remaining() > 29


def test_sleep_refuses_to_pass_the_deadline() -> None:
    deadline = Deadline.after(0.2)
    started = time.monotonic()
    assert deadline.sleep(5.0) is False
    assert time.monotonic() - started < 0.05
    assert deadline.sleep(0.01) is True


def test_bad_deadline_type() -> None:
    with pytest.raises(TypeError):
        Deadline.of("tomorrow")  # type: ignore[arg-type]


def test_full_jitter_stays_within_the_exponential_envelope() -> None:
    for attempt in range(10):
        for _ in range(50):
            assert 0 <= full_jitter(attempt, base=0.1, cap=2.0) <= min(2.0, 0.1 * 2**attempt)


def test_retry_after_forms() -> None:
    assert parse_retry_after("42") == 42
    assert parse_retry_after(None) is None
    assert parse_retry_after("soon") is None
    http_date = (datetime.now(UTC) + timedelta(seconds=30)).strftime("%a, %d %b %Y %H:%M:%S GMT")
    value = parse_retry_after(http_date)
    assert value is not None and 25 < value <= 30
