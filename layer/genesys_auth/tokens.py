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
import math
import random
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from .fingerprint import fingerprint, token_hash

ADVISORY_FRACTION = 0.30
ADVISORY_CAP = 900.0
MANDATORY_FRACTION = 0.20
MANDATORY_CAP = 600.0
JITTER_FRACTION = 0.05
JITTER_CAP = 120.0
#: Longest lifetime Genesys issues (SCIM clients: 450 days; others 300 s to 48 h). A longer
#: ``expires_in`` is treated as this long.
MAX_LIFETIME = 450 * 86400.0
#: Longest access token accepted. Genesys tokens are ~80 characters.
MAX_TOKEN_LENGTH = 4096
#: Visible ASCII only (RFC 6750 token characters and then some): a token is sent in a header,
#: so CR, LF, spaces and non-ASCII are refused before they reach one.
_TOKEN_CHARS = re.compile(r"[\x21-\x7e]+")


class TokenFormatError(ValueError):
    """A token (from Genesys, the table or the extension) is malformed; the message names the
    field, never the value."""


def check_access_token(value: object) -> str:
    """``value`` if it is usable as a bearer token, else :class:`TokenFormatError`."""
    if not isinstance(value, str) or not value:
        raise TokenFormatError("access_token is missing or not a string")
    if len(value) > MAX_TOKEN_LENGTH:
        raise TokenFormatError(f"access_token is longer than {MAX_TOKEN_LENGTH} characters")
    if not _TOKEN_CHARS.fullmatch(value):
        raise TokenFormatError(
            "access_token contains a character that cannot go in an HTTP header (space, CR/LF, control or non-ASCII)"
        )
    return value


def _finite(value: object, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TokenFormatError(f"{name} is not a number")
    number = float(value)
    if not math.isfinite(number):
        raise TokenFormatError(f"{name} is not a finite number")
    return number


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

    # -- the one codec: used by the shared table, the extension's HTTP API and its client ------

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able form (it holds the token: never log it)."""
        return {
            "access_token": self.access_token,
            "token_type": self.token_type,
            "expires_at": self.expires_at,
            "lifetime": self.lifetime,
            "version": self.version,
            "fingerprint": self.fingerprint,
            "api_url": self.api_url,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Token:
        """The inverse of :meth:`to_dict`, checking every field (:class:`TokenFormatError`)."""
        access_token = check_access_token(data.get("access_token"))
        expires_at = _finite(data.get("expires_at"), "expires_at")
        lifetime = _finite(data.get("lifetime"), "lifetime")
        if not 0 < lifetime <= MAX_LIFETIME:
            raise TokenFormatError("lifetime is outside 0 to 450 days")
        if expires_at > time.time() + MAX_LIFETIME:
            raise TokenFormatError("expires_at is further away than the longest token lifetime")
        version = data.get("version", 0)
        if isinstance(version, bool) or not isinstance(version, int) or version < 0:
            raise TokenFormatError("version is not a whole number, 0 or more")
        token_type = data.get("token_type", "bearer")
        if not isinstance(token_type, str) or not 0 < len(token_type) <= 32:
            raise TokenFormatError("token_type is not a short string")
        api_url = data.get("api_url")
        if api_url is not None and (not isinstance(api_url, str) or not api_url.startswith(("https://", "http://"))):
            raise TokenFormatError("api_url is not an http(s) URL")
        return cls(
            access_token=access_token,
            token_type=token_type,
            expires_at=expires_at,
            lifetime=lifetime,
            version=version,
            api_url=api_url or None,
        )


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
