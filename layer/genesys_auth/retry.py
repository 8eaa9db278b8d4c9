"""urllib3's ``Retry`` driven by the library's :class:`RetryPolicy` and bounded by the deadline.

Platform API rules (the policy's ``statuses``):
* 429 (Genesys always sends Retry-After since 2021) is retried for every method: the request was
  not processed, so even a POST is safe to send again.
* 502/503/504 and read errors are retried for idempotent methods only (urllib3's default set).
* The wait is decided once, in :meth:`increment`: the deadline checks that exact wait, and
  :meth:`sleep` sleeps it. A wait that would end past the deadline (or a Retry-After longer than
  the policy's ``retry_after_max``) is not taken: the last response is handed back and the client
  turns it into a classified error.
* ``Retry-After`` values urllib3 would reject (``abc``, ``-5``, ``1.5``) are read leniently
  (junk = absent) instead of raising from inside the connection pool.
"""

from __future__ import annotations

import contextvars
import time
from collections.abc import Callable
from types import TracebackType
from typing import TYPE_CHECKING, Any

from urllib3.exceptions import MaxRetryError
from urllib3.util.retry import Retry

from .deadline import Deadline
from .retry_policy import DEFAULT_POLICY, RetryPolicy, parse_retry_after

#: Set by the client around one call: "can a 429 that is the token's own limit go out at once on
#: another pool slot?" If so, that 429 is handed back (not waited out) and the auth hook replays it.
POOL_CAN_MOVE: contextvars.ContextVar[Callable[[], bool] | None] = contextvars.ContextVar(
    "genesys_auth_pool_can_move", default=None
)

if TYPE_CHECKING:
    from typing import Self

    from urllib3.connectionpool import ConnectionPool
    from urllib3.response import BaseHTTPResponse


class DeadlineRetry(Retry):
    """A ``Retry`` that never sleeps past the deadline bound by ``genesys_auth.deadline.bound``."""

    def __init__(
        self, *args: Any, policy: RetryPolicy = DEFAULT_POLICY, planned_wait: float = 0.0, **kwargs: Any
    ) -> None:
        self.policy = policy
        self.planned_wait = planned_wait
        kwargs.setdefault("total", policy.attempts - 1)
        kwargs.setdefault("status_forcelist", policy.statuses)
        kwargs.setdefault("respect_retry_after_header", True)
        kwargs.setdefault("raise_on_status", False)
        kwargs.setdefault("raise_on_redirect", False)
        super().__init__(*args, **kwargs)

    def new(self, **kw: Any) -> Self:
        kw.setdefault("policy", self.policy)
        kw.setdefault("planned_wait", self.planned_wait)
        return super().new(**kw)

    def is_retry(self, method: str, status_code: int, has_retry_after: bool = False) -> bool:
        if not self.total or self.total <= 0:
            return False
        return self.policy.retries_status(method, status_code)

    def get_retry_after(self, response: BaseHTTPResponse) -> float | None:
        return parse_retry_after(response.headers.get("Retry-After"))

    def increment(
        self,
        method: str | None = None,
        url: str | None = None,
        response: BaseHTTPResponse | None = None,
        error: Exception | None = None,
        _pool: ConnectionPool | None = None,
        _stacktrace: TracebackType | None = None,
    ) -> Self:
        new = super().increment(method, url, response, error, _pool, _stacktrace)
        if response is not None and response.status == 429 and _token_limit(response):
            can_move = POOL_CAN_MOVE.get()
            if can_move is not None and can_move():
                raise MaxRetryError(_pool, url or "", error)  # type: ignore[arg-type]
        retry_after = self.get_retry_after(response) if response is not None else None
        if retry_after is not None and retry_after > self.policy.retry_after_max:
            raise MaxRetryError(_pool, url or "", error)  # type: ignore[arg-type]  # urllib3 passes None itself
        wait = self.policy.wait(len(new.history) - 1, retry_after)
        if not Deadline.of(None).allows(wait):
            # Treated by urlopen as "exhausted": with raise_on_status=False it hands back the
            # last response (a 429 or 5xx) instead of sleeping past the invocation's end.
            raise MaxRetryError(_pool, url or "", error)  # type: ignore[arg-type]
        return new.new(planned_wait=wait)

    def sleep(self, response: BaseHTTPResponse | None = None) -> None:
        """Sleep exactly the wait :meth:`increment` checked against the deadline."""
        if self.planned_wait > 0:
            time.sleep(self.planned_wait)


def _token_limit(response: BaseHTTPResponse) -> bool:
    from .pool import load_of

    load = load_of(response.headers)
    return load is not None and load.exhausted
