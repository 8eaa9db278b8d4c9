"""How long this call may still wait: the Lambda invocation deadline, or a default cap.

Every sleep, retry, HTTP call and AWS call in the library asks a :class:`Deadline` first, so
nothing waits past the end of the invocation. A small reserve is kept back from a Lambda context so
the handler still has time to answer after the library gives up.

A deadline is a point on the monotonic clock. Ways to make one, each unambiguous:

* ``Deadline.after(seconds)``: that many seconds from now;
* ``Deadline.at_epoch(timestamp)`` or a timezone-aware ``datetime``: a wall-clock instant;
* a Lambda context: its remaining time minus :data:`LAMBDA_RESERVE_SECONDS`;
* ``Deadline.of(value)`` accepts any of these, a bare number meaning *seconds from now*. A number
  that looks like an epoch timestamp (more than :data:`MAX_RELATIVE_SECONDS`) is refused with a
  :class:`ConfigurationError` rather than guessed at, so neither reading can be silently wrong.

Deadlines nest: inside ``with bound(outer):`` every deadline made by :meth:`Deadline.of` is cut to
``outer``, so a per-call deadline can shorten the invocation's but never extend it.
"""

from __future__ import annotations

import contextvars
import math
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol, runtime_checkable

from .errors import ConfigurationError

#: Used when the caller gives no deadline (outside Lambda, or a handler that did not bind one).
DEFAULT_MAX_WAIT_SECONDS = 30.0
#: Kept back from a Lambda deadline so the handler can still return after we give up.
LAMBDA_RESERVE_SECONDS = 0.25
#: Longest relative deadline a bare number may give: a year. Anything larger is an epoch
#: timestamp passed by mistake (use ``Deadline.at_epoch``).
MAX_RELATIVE_SECONDS = 365 * 86400.0
#: Shortest timeout handed to a socket: zero would mean "block forever" to some APIs.
MIN_TIMEOUT = 0.05


@runtime_checkable
class LambdaContext(Protocol):
    def get_remaining_time_in_millis(self) -> int: ...


@dataclass(frozen=True)
class Deadline:
    """A point on the monotonic clock after which nothing may wait any longer."""

    at: float

    @classmethod
    def after(cls, seconds: float) -> Deadline:
        """``seconds`` from now (0 = already due: nothing may wait)."""
        return cls(time.monotonic() + _seconds(seconds, "deadline seconds"))

    @classmethod
    def at_epoch(cls, timestamp: float) -> Deadline:
        """At the wall-clock instant ``timestamp`` (epoch seconds, as ``time.time()``)."""
        if isinstance(timestamp, bool) or not isinstance(timestamp, (int, float)) or not math.isfinite(timestamp):
            raise ConfigurationError("an epoch deadline must be a finite number of seconds since 1970")
        return cls(time.monotonic() + max(0.0, float(timestamp) - time.time()))

    @classmethod
    def of(cls, value: DeadlineLike | None, *, default: float = DEFAULT_MAX_WAIT_SECONDS) -> Deadline:
        """A deadline from a Lambda context, a Deadline, a datetime, seconds from now, or ``None``
        (the innermost bound scope, else ``default`` seconds); always cut to the bound scope."""
        bound = _current.get()
        if value is None:
            return bound if bound is not None else cls.after(default)
        if isinstance(value, Deadline):
            deadline = value
        elif isinstance(value, LambdaContext):
            remaining = value.get_remaining_time_in_millis() / 1000.0
            deadline = cls.after(max(0.0, remaining - LAMBDA_RESERVE_SECONDS))
        elif isinstance(value, datetime):
            if value.tzinfo is None:
                raise ConfigurationError("a datetime deadline must be timezone-aware (e.g. datetime.now(UTC))")
            deadline = cls.at_epoch(value.timestamp())
        elif isinstance(value, (int, float)) and not isinstance(value, bool):
            if value > MAX_RELATIVE_SECONDS:
                raise ConfigurationError(
                    f"a bare number deadline means seconds from now; {value:.0f} looks like an epoch "
                    "timestamp: pass Deadline.at_epoch(ts), a datetime or the Lambda context instead"
                )
            deadline = cls.after(value)
        else:
            raise ConfigurationError(
                "deadline must be a Lambda context, seconds from now, a timezone-aware datetime, "
                "Deadline.at_epoch(ts) or a Deadline"
            )
        return deadline.within(bound)

    def within(self, other: Deadline | None) -> Deadline:
        """The earlier of this deadline and ``other``."""
        return self if other is None or self.at <= other.at else other

    def remaining(self) -> float:
        return max(0.0, self.at - time.monotonic())

    def expired(self) -> bool:
        return time.monotonic() >= self.at

    def allows(self, seconds: float) -> bool:
        """True if waiting ``seconds`` still ends before the deadline."""
        return time.monotonic() + seconds < self.at

    def sleep(self, seconds: float) -> bool:
        """Sleep ``seconds`` if that ends before the deadline; return False (without sleeping)
        if it would not, so the caller gives up instead of overrunning the invocation."""
        if not self.allows(seconds):
            return False
        if seconds > 0:
            time.sleep(seconds)
        return True

    def timeout(self, cap: float) -> float:
        """A socket timeout no longer than ``cap`` nor the time left (never zero)."""
        return max(MIN_TIMEOUT, min(cap, self.remaining()))


DeadlineLike = Deadline | LambdaContext | datetime | float | int

_current: contextvars.ContextVar[Deadline | None] = contextvars.ContextVar("genesys_auth_deadline", default=None)


def current() -> Deadline | None:
    """The innermost bound deadline of this thread or task, if any."""
    return _current.get()


@contextmanager
def bound(value: DeadlineLike | None, *, default: float = DEFAULT_MAX_WAIT_SECONDS) -> Iterator[Deadline]:
    """Bind a deadline for the calls made inside the ``with`` block (thread- and task-local).

    Nested blocks can only shorten the deadline of the block around them."""
    deadline = Deadline.of(value, default=default)
    reset = _current.set(deadline)
    try:
        yield deadline
    finally:
        _current.reset(reset)


def _seconds(value: float, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
        raise ConfigurationError(f"{what} must be a finite number of seconds, 0 or more")
    return float(value)
