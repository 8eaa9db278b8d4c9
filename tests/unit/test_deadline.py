"""The deadline API: every way of giving a deadline means one thing, and a misread is refused."""

from __future__ import annotations

import math
import threading
import time
from datetime import UTC, datetime, timedelta

import pytest

from genesys_auth import ConfigurationError, Deadline
from genesys_auth.deadline import LAMBDA_RESERVE_SECONDS, MIN_TIMEOUT, bound, current


class FakeContext:
    def __init__(self, remaining_ms: int) -> None:
        self.remaining_ms = remaining_ms

    def get_remaining_time_in_millis(self) -> int:
        return self.remaining_ms


def test_none_without_a_bound_scope_is_the_default_cap() -> None:
    assert 29 < Deadline.of(None).remaining() <= 30
    assert 4 < Deadline.of(None, default=5).remaining() <= 5


def test_a_bare_number_is_seconds_from_now() -> None:
    assert 9 < Deadline.of(10).remaining() <= 10
    assert 0.4 < Deadline.of(0.5).remaining() <= 0.5
    assert Deadline.of(0).expired()


def test_an_epoch_timestamp_passed_as_a_number_is_refused_with_the_way_out() -> None:
    with pytest.raises(ConfigurationError, match="at_epoch"):
        Deadline.of(time.time() + 10)


@pytest.mark.parametrize("bad", [-1, math.nan, math.inf, "tomorrow", True])
def test_unusable_values_are_configuration_errors(bad: object) -> None:
    with pytest.raises(ConfigurationError):
        Deadline.of(bad)  # type: ignore[arg-type]


def test_epoch_and_datetime_constructors() -> None:
    assert 9 < Deadline.at_epoch(time.time() + 10).remaining() <= 10
    assert Deadline.at_epoch(time.time() - 10).expired()
    assert 4 < Deadline.of(datetime.now(UTC) + timedelta(seconds=5)).remaining() <= 5
    with pytest.raises(ConfigurationError, match="timezone-aware"):
        Deadline.of(datetime.now() + timedelta(seconds=5))
    with pytest.raises(ConfigurationError):
        Deadline.at_epoch(math.nan)


def test_lambda_context_keeps_a_reserve() -> None:
    deadline = Deadline.of(FakeContext(3000))
    assert 3.0 - LAMBDA_RESERVE_SECONDS - 0.05 < deadline.remaining() <= 3.0 - LAMBDA_RESERVE_SECONDS
    assert Deadline.of(FakeContext(100)).expired()  # less than the reserve left: nothing may wait


def test_bound_scope_is_what_none_means_inside_it() -> None:
    with bound(2.0) as inner:
        assert Deadline.of(None) is inner
        assert current() is inner
    assert current() is None
    assert Deadline.of(None).remaining() > 29


def test_nested_bounds_can_shorten_but_never_extend() -> None:
    with bound(1.0) as outer:
        with bound(60.0) as inner:
            assert inner.at == outer.at
            assert Deadline.of(60) is outer
        with bound(0.5) as shorter:
            assert shorter.remaining() <= 0.5
            assert Deadline.of(None) is shorter


def test_bound_scope_is_thread_local() -> None:
    seen: list[Deadline | None] = []
    with bound(1.0):
        thread = threading.Thread(target=lambda: seen.append(current()))
        thread.start()
        thread.join()
    assert seen == [None]


def test_sleep_refuses_to_pass_the_deadline() -> None:
    deadline = Deadline.after(0.2)
    started = time.monotonic()
    assert deadline.sleep(5.0) is False
    assert time.monotonic() - started < 0.05
    assert deadline.sleep(0.01) is True


def test_timeout_is_capped_and_never_zero() -> None:
    assert Deadline.after(10).timeout(3) == 3
    assert 0.9 < Deadline.after(1).timeout(3) <= 1
    assert Deadline.after(0).timeout(3) == MIN_TIMEOUT
