"""How long this call may still wait: the Lambda invocation deadline, or a default cap.

Every sleep and retry in the library asks a :class:`Deadline` first, so nothing waits past the end
of the invocation. A small reserve is kept back so the handler still has time to answer.
"""

from __future__ import annotations

import contextvars
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol, runtime_checkable

#: Used when the caller gives no deadline (outside Lambda, or a handler that did not bind one).
DEFAULT_MAX_WAIT_SECONDS = 30.0
#: Kept back from a Lambda deadline so the handler can still return after we give up.
LAMBDA_RESERVE_SECONDS = 0.25


@runtime_checkable
class LambdaContext(Protocol):
    def get_remaining_time_in_millis(self) -> int: ...


@dataclass(frozen=True)
class Deadline:
    """A point on the monotonic clock after which nothing may wait any longer."""

    at: float

    @classmethod
    def after(cls, seconds: float) -> Deadline:
        return cls(time.monotonic() + max(0.0, seconds))

    @classmethod
    def of(cls, value: DeadlineLike | None, *, default: float = DEFAULT_MAX_WAIT_SECONDS) -> Deadline:
        """Build a deadline from a Lambda context, an epoch timestamp (seconds or datetime),
        another deadline, or ``None`` (the innermost bound scope, else ``default`` seconds)."""
        if value is None:
            bound = _current.get()
            return bound if bound is not None else cls.after(default)
        if isinstance(value, Deadline):
            return value
        if isinstance(value, LambdaContext):
            remaining = value.get_remaining_time_in_millis() / 1000.0
            return cls.after(remaining - LAMBDA_RESERVE_SECONDS)
        if isinstance(value, datetime):
            return cls.after(value.timestamp() - time.time())
        if isinstance(value, (int, float)):
            return cls.after(float(value) - time.time())
        raise TypeError("deadline must be a Lambda context, an epoch timestamp, a datetime or a Deadline")

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
        """An HTTP timeout no longer than ``cap`` nor the time left (never zero)."""
        return max(0.05, min(cap, self.remaining()))


DeadlineLike = Deadline | LambdaContext | datetime | float | int

_current: contextvars.ContextVar[Deadline | None] = contextvars.ContextVar("genesys_auth_deadline", default=None)


@contextmanager
def bound(value: DeadlineLike | None) -> Iterator[Deadline]:
    """Bind a deadline for the calls made inside the ``with`` block (thread- and task-local)."""
    deadline = Deadline.of(value)
    reset = _current.set(deadline)
    try:
        yield deadline
    finally:
        _current.reset(reset)
