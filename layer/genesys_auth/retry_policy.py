"""The one retry policy: how many tries, how long between them, which answers are worth another.

Every retry loop of the library reads a :class:`RetryPolicy` (``Settings.retry``): the token
endpoint (``oauth``), the Platform API (``retry.DeadlineRetry``, urllib3's ``Retry``), the AWS calls
(``aws``) and the extension client. The deadline is the other half: a wait the deadline cannot
afford is never started, whatever the policy would allow.

Waits are exponential backoff with full jitter above a floor: ``floor + uniform(0, min(cap,
base * 2**retry))``. A server's ``Retry-After`` is honoured as a *minimum*: the wait is the larger of
it and the jittered backoff, so ``Retry-After: 0`` (or a negative or past value) never makes a
retry storm.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from time import time

#: Platform API statuses retried: 429 for every method (the request was not processed), the
#: gateway errors only for idempotent methods.
RETRY_STATUSES = frozenset({429, 502, 503, 504})
IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "PUT", "DELETE", "OPTIONS", "TRACE"})


@dataclass(frozen=True)
class RetryPolicy:
    """Retry knobs, in one place (README "Retries").

    * ``attempts``: tries in total, the first included (so 5 = 1 try + 4 retries).
    * ``base`` / ``cap``: exponential backoff ``base * 2**retry`` capped at ``cap`` seconds.
    * ``floor``: the shortest wait between two tries, whatever a server says.
    * ``retry_after_max``: a ``Retry-After`` longer than this is not waited for at all (the
      error is raised at once: a Lambda invocation should not sleep minutes).
    * ``statuses``: Platform API statuses that are retried (429 always; 5xx for idempotent methods).
    """

    attempts: int = 5
    base: float = 0.2
    cap: float = 8.0
    floor: float = 0.05
    retry_after_max: float = 120.0
    statuses: frozenset[int] = RETRY_STATUSES

    def __post_init__(self) -> None:
        from .errors import ConfigurationError

        if self.attempts < 1:
            raise ConfigurationError("RetryPolicy.attempts must be 1 or more")
        for name in ("base", "cap", "floor", "retry_after_max"):
            value = getattr(self, name)
            if not math.isfinite(value) or value < 0:
                raise ConfigurationError(f"RetryPolicy.{name} must be a finite number, 0 or more")

    def backoff(self, retry: int) -> float:
        """Jittered wait before retry number ``retry`` (0-based)."""
        return self.floor + random.uniform(0.0, min(self.cap, self.base * (2 ** min(retry, 30))))  # noqa: S311 - jitter

    def wait(self, retry: int, retry_after: float | None = None) -> float:
        """The wait before retry ``retry``: the backoff, or ``retry_after`` if that is longer."""
        backoff = self.backoff(retry)
        return backoff if retry_after is None else max(backoff, retry_after)

    def may_retry(self, tries: int) -> bool:
        """True if ``tries`` tries so far leave room for another."""
        return tries < self.attempts

    def retries_status(self, method: str, status: int) -> bool:
        if status not in self.statuses:
            return False
        return status == 429 or method.upper() in IDEMPOTENT_METHODS


DEFAULT_POLICY = RetryPolicy()


def parse_retry_after(value: str | None) -> float | None:
    """Seconds from a ``Retry-After`` header (delta-seconds or HTTP date), or None when absent or
    unreadable. Negative, fractional and past values are accepted and clamped at 0; the policy's
    floor still applies to the wait."""
    if not value:
        return None
    value = value.strip()
    seconds: float | None
    try:
        seconds = float(value)
    except ValueError:
        seconds = _http_date_seconds(value)
    if seconds is None:
        return None
    if not math.isfinite(seconds):
        return None
    return max(0.0, seconds)


def _http_date_seconds(value: str) -> float | None:
    from email.utils import parsedate_to_datetime  # rare path; keeps import time down

    try:
        return parsedate_to_datetime(value).timestamp() - time()
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
