"""The exceptions `genesys_auth` raises, one class per kind of failure.

Every failure a user can act on is one of five kinds, all under :class:`GenesysAuthError`, so a
handler can catch the base class or pick the kind it knows how to treat. Messages say what to fix
and name fields, never values: no access token or client secret ever reaches an exception text.
"""

from __future__ import annotations


class GenesysAuthError(Exception):
    """Base class of every error raised by `genesys_auth`."""

    #: Short machine-readable kind, also used as the metric and log dimension.
    kind = "error"


class ConfigurationError(GenesysAuthError):
    """The environment or constructor arguments are missing something or hold a bad value."""

    kind = "configuration"


class SecretError(GenesysAuthError):
    """The Secrets Manager secret cannot be read, or its value is not the expected JSON."""

    kind = "secret"


class AuthenticationError(GenesysAuthError):
    """Genesys Cloud refused the client credentials or a freshly minted token.

    ``error`` holds the OAuth error code (``invalid_client``, ``unauthorized_client``...) or the
    platform error code (``bad.credentials``) when Genesys sent one.
    """

    kind = "authentication"

    def __init__(self, message: str, *, error: str | None = None) -> None:
        super().__init__(message)
        self.error = error


class RateLimitedError(GenesysAuthError):
    """Genesys Cloud kept rate-limiting us and the invocation deadline left no room to wait.

    ``retry_after`` is the wait Genesys asked for, in seconds, when it said one.
    """

    kind = "rate_limit"

    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class UnavailableError(GenesysAuthError):
    """Genesys Cloud or an AWS dependency did not answer usefully (5xx, timeout, connection error)."""

    kind = "unavailable"
