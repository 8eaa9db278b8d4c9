"""Retry delays: exponential backoff with full jitter, and Retry-After parsing."""

from __future__ import annotations

import random
from time import time

BASE_DELAY = 0.2
MAX_DELAY = 8.0


def full_jitter(attempt: int, *, base: float = BASE_DELAY, cap: float = MAX_DELAY) -> float:
    """Delay before retry number ``attempt`` (0-based): uniform in [0, min(cap, base * 2**attempt)].

    Full jitter spreads a burst of clients evenly instead of letting them retry in waves.
    """
    return random.uniform(0.0, min(cap, base * (2 ** min(attempt, 30))))


def parse_retry_after(value: str | None) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or HTTP date), or None."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    from email.utils import parsedate_to_datetime  # rare path; keeps import time down

    try:
        return max(0.0, parsedate_to_datetime(value).timestamp() - time())
    except (TypeError, ValueError):
        return None
