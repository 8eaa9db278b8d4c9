"""urllib3's ``Retry``, bounded by the invocation deadline and with full-jitter backoff.

Platform API rules:
* 429 (Genesys always sends Retry-After since 2021) is retried for every method: the request was
  not processed, so even a POST is safe to send again.
* 502/503/504 and read errors are retried for idempotent methods only (urllib3's default set).
* A wait that would end past the deadline is not taken: the last response is returned and the
  client turns it into a classified error.
"""

from __future__ import annotations

from types import TracebackType
from typing import TYPE_CHECKING, Any

from urllib3.exceptions import MaxRetryError
from urllib3.util.retry import Retry

from .backoff import full_jitter
from .deadline import Deadline

if TYPE_CHECKING:
    from typing import Self

    from urllib3.connectionpool import ConnectionPool
    from urllib3.response import BaseHTTPResponse

RETRY_STATUSES = frozenset({429, 502, 503, 504})
MAX_RETRIES = 5
MAX_BACKOFF = 8.0


class DeadlineRetry(Retry):
    """A ``Retry`` that never sleeps past the deadline bound by ``genesys_auth.deadline.bound``."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("total", MAX_RETRIES)
        kwargs.setdefault("status_forcelist", RETRY_STATUSES)
        kwargs.setdefault("respect_retry_after_header", True)
        kwargs.setdefault("raise_on_status", False)
        kwargs.setdefault("raise_on_redirect", False)
        kwargs.setdefault("backoff_factor", 0.2)
        super().__init__(*args, **kwargs)

    def is_retry(self, method: str, status_code: int, has_retry_after: bool = False) -> bool:
        if status_code == 429 and self.total is not None and self.total > 0:
            return True
        return super().is_retry(method, status_code, has_retry_after)

    def get_backoff_time(self) -> float:
        attempts = len(self.history)
        return 0.0 if attempts <= 1 else full_jitter(attempts - 1, base=self.backoff_factor, cap=MAX_BACKOFF)

    def _longest_backoff(self) -> float:
        attempts = len(self.history)
        return 0.0 if attempts <= 1 else min(MAX_BACKOFF, self.backoff_factor * 2 ** (attempts - 1))

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
        wait = new.get_retry_after(response) if response is not None else None
        if wait is None:
            wait = new._longest_backoff()
        if not Deadline.of(None).allows(wait):
            # Treated by urlopen as "exhausted": with raise_on_status=False it hands back the
            # last response (a 429 or 5xx) instead of sleeping past the invocation's end.
            raise MaxRetryError(_pool, url or "", error)  # type: ignore[arg-type]  # urllib3 passes None itself
        return new
