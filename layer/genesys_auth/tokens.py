"""An access token and how fresh it is.

Freshness follows botocore's RefreshableCredentials and google-auth's token states:

* FRESH: outside both windows; use it, no I/O.
* STALE: inside the *advisory* window; refresh if nobody else is, otherwise keep using it.
* EXPIRING: inside the *mandatory* window; wait for a fresh token (but fall back to this one,
  still valid, if the refresh fails).
* INVALID: expired; never used.

Windows scale with the token's lifetime because Genesys allows 300 s to 48 h (and 450 days for
SCIM clients): a quarter-hour window would make a 5-minute token permanently stale. The advisory
window carries per-process jitter so that containers started together do not refresh together.
"""

from __future__ import annotations

import enum
import random
import time
from dataclasses import dataclass, field, replace

from .fingerprint import fingerprint, token_hash

ADVISORY_FRACTION = 0.30
ADVISORY_CAP = 900.0
MANDATORY_FRACTION = 0.20
MANDATORY_CAP = 600.0
JITTER_FRACTION = 0.05
JITTER_CAP = 120.0


class TokenState(enum.Enum):
    FRESH = "fresh"
    STALE = "stale"
    EXPIRING = "expiring"
    INVALID = "invalid"


@dataclass(frozen=True)
class Token:
    """An opaque Genesys Cloud access token (never decoded) and when it expires.

    ``expires_at`` is epoch seconds measured from when the mint request was *sent*, so network
    latency only makes it more conservative. ``version`` is the shared cache's counter (0 when the
    token never went through the shared cache).
    """

    access_token: str = field(repr=False)
    token_type: str
    expires_at: float
    lifetime: float
    version: int = 0
    #: API base URL of the region the token belongs to, so a shared hit needs no secret read.
    api_url: str | None = None
    fingerprint: str = field(init=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "fingerprint", fingerprint(self.access_token))

    @property
    def hash(self) -> str:
        return token_hash(self.access_token)

    def remaining(self, now: float | None = None) -> float:
        return self.expires_at - (time.time() if now is None else now)

    def __str__(self) -> str:
        return f"Token(fp={self.fingerprint}, expires_in={self.remaining():.0f}s)"


@dataclass(frozen=True)
class RefreshWindows:
    """Seconds before expiry at which a token becomes STALE (advisory) and EXPIRING (mandatory)."""

    advisory: float
    mandatory: float

    @classmethod
    def for_lifetime(cls, lifetime: float, jitter: float) -> RefreshWindows:
        """``jitter`` in [0, 1) is this process's draw, fixed for the life of the process."""
        mandatory = min(MANDATORY_CAP, lifetime * MANDATORY_FRACTION)
        spread = min(JITTER_CAP, lifetime * JITTER_FRACTION) * jitter
        advisory = min(ADVISORY_CAP, lifetime * ADVISORY_FRACTION) + spread
        return cls(advisory=max(advisory, mandatory), mandatory=mandatory)


def with_version(token: Token, version: int) -> Token:
    return replace(token, version=version)


class FreshnessPolicy:
    """Classifies tokens; one instance per process so its jitter draw stays fixed."""

    def __init__(self, jitter: float | None = None) -> None:
        self.jitter = random.random() if jitter is None else jitter

    def windows(self, token: Token) -> RefreshWindows:
        return RefreshWindows.for_lifetime(token.lifetime, self.jitter)

    def state(self, token: Token | None, now: float | None = None) -> TokenState:
        if token is None:
            return TokenState.INVALID
        left = token.remaining(now)
        if left <= 0:
            return TokenState.INVALID
        windows = self.windows(token)
        if left <= windows.mandatory:
            return TokenState.EXPIRING
        if left <= windows.advisory:
            return TokenState.STALE
        return TokenState.FRESH

    def fresh_until(self, token: Token) -> float:
        """Epoch second until which ``token`` is FRESH: the hot path compares one float."""
        return token.expires_at - self.windows(token).advisory

    def expiring_from(self, token: Token) -> float:
        return token.expires_at - self.windows(token).mandatory
