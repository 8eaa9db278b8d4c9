"""The ``genesys-token`` Lambda extension as a token source, with in-process work as fallback.

The extension (a layer of this project) keeps one token per execution environment fresh outside
the invocations' critical path and serves it on ``http://127.0.0.1:<port>/token``. This source asks
it first. If the extension is absent, not ready, crashed or answers garbage, the ``fallback``
source (shared cache or direct mint, in this process) is used instead and the extension is left
alone for :data:`DOWN_SECONDS`, so a dead extension costs at most one failed localhost connect per
window. An error the extension *reports* (Genesys refused or is down) is raised as the library's
own error: redoing the same call in-process would only double the load on a rate-limited client.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from typing import Any

import requests
from requests.adapters import HTTPAdapter

from .config import Settings
from .deadline import Deadline
from .errors import (
    AuthenticationError,
    ConfigurationError,
    GenesysAuthError,
    RateLimitedError,
    SecretError,
    UnavailableError,
)
from .metrics import Metrics
from .pool import PoolState
from .sources import TokenSource
from .tokens import Token, TokenFormatError

log = logging.getLogger(__name__)

#: How long a failed extension is skipped before it is tried again.
DOWN_SECONDS = 30.0
#: Connecting to localhost either works at once or not at all.
CONNECT_TIMEOUT = 0.25
#: Header carrying the caller's session token (the SSRF guard of AWS's own extensions).
TOKEN_HEADER = "X-Aws-Parameters-Secrets-Token"  # noqa: S105 - a header name, not a value
#: Header telling the extension how many milliseconds the caller will wait.
TIMEOUT_HEADER = "X-Genesys-Timeout-Ms"
#: A token answer is well under 1 KiB.
MAX_ANSWER_BYTES = 64 * 1024

_ERRORS: dict[str, type[GenesysAuthError]] = {
    cls.kind: cls for cls in (AuthenticationError, ConfigurationError, RateLimitedError, SecretError, UnavailableError)
}


def extension_wanted(settings: Settings) -> bool:
    """``GENESYS_TOKEN_EXTENSION``: off = never, on = always, auto = only inside Lambda."""
    if settings.extension == "off":
        return False
    return settings.extension == "on" or bool(os.environ.get("AWS_LAMBDA_RUNTIME_API"))


class _ExtensionDown(Exception):
    """The extension did not answer usefully; the reason is safe to log."""


class ExtensionSource:
    """Token source backed by the extension, falling back to ``fallback`` while it is down."""

    name = "extension"

    def __init__(
        self, settings: Settings, fallback: TokenSource, metrics: Metrics, pool: PoolState | None = None
    ) -> None:
        self.fallback = fallback
        self.metrics = metrics
        self.pool = pool
        self.base_url = f"http://127.0.0.1:{settings.extension_port}"
        self.session = requests.Session()
        self.session.trust_env = False  # never send localhost calls through an HTTP proxy
        self.session.mount("http://", HTTPAdapter(pool_connections=1, pool_maxsize=4, max_retries=0))
        self._lock = threading.Lock()
        self._down_until = 0.0
        #: Times the extension was found unusable (each starts a down window).
        self.failures = 0

    @property
    def available(self) -> bool:
        return time.monotonic() >= self._down_until

    def fetch(self, current: Token | None, deadline: Deadline, *, slot: int = 0) -> Token:
        if self.available:
            try:
                body = self._call("GET", f"/token?slot={slot}" if slot else "/token", deadline)
                token = _token(body)
            except _ExtensionDown as exc:
                self._mark_down(str(exc))
            else:
                self._learn(body, slot, token)
                return token
        return self.fallback.fetch(current, deadline, slot=slot)

    def invalidate(self, token_hash: str, *, slot: int = 0) -> None:
        """Tell the extension, which forgets the token (here and in its shared tier) and refreshes
        once; while it is down, the fallback's tier is told instead."""
        if self.available:
            try:
                self._call(
                    "POST",
                    "/token/invalidate",
                    Deadline.of(None, default=5.0),
                    {"token_hash": token_hash, "slot": slot},
                )
                return
            except _ExtensionDown as exc:
                self._mark_down(str(exc))
            except GenesysAuthError as exc:
                log.warning("genesys-token extension forgot the token but could not refresh (%s)", exc.kind)
                return
        self.fallback.invalidate(token_hash, slot=slot)

    def note_per_client(self) -> None:
        note = getattr(self.fallback, "note_per_client", None)
        if note is not None:
            note()

    def _learn(self, body: dict[str, Any], slot: int, token: Token) -> None:
        """The extension's answer carries the pool's shape: open slots, per-client counting, and
        whether it minted this token for a slot it just opened."""
        if self.pool is None:
            return
        slots = body.get("slots")
        self.pool.learn(
            slots=slots if isinstance(slots, int) and not isinstance(slots, bool) and slots > 0 else None,
            per_client=body.get("pool_mode") == "per-client",
        )
        if body.get("opened") is True:
            self.pool.opened(slot, token.hash)

    def _call(self, method: str, path: str, deadline: Deadline, body: dict[str, Any] | None = None) -> Any:
        headers = {
            TOKEN_HEADER: os.environ.get("AWS_SESSION_TOKEN", ""),
            TIMEOUT_HEADER: str(int(deadline.remaining() * 1000)),
        }
        timeout = (deadline.timeout(CONNECT_TIMEOUT), deadline.timeout(deadline.remaining() + 0.5))
        try:
            response = self.session.request(method, self.base_url + path, headers=headers, json=body, timeout=timeout)
        except requests.RequestException as exc:
            raise _ExtensionDown(type(exc).__name__) from None
        try:
            if len(response.content) > MAX_ANSWER_BYTES:
                raise ValueError("too large")
            data = response.json()
        except (ValueError, RecursionError, requests.RequestException):
            raise _ExtensionDown(f"HTTP {response.status_code} without a readable JSON body") from None
        if response.status_code == 200 and isinstance(data, dict):
            return data
        kind = data.get("error") if isinstance(data, dict) else None
        if response.status_code >= 500 and isinstance(kind, str) and kind in _ERRORS:
            message = data.get("message")
            text = message[:300] if isinstance(message, str) else kind
            raise _ERRORS[kind](f"genesys-token extension: {text}")
        raise _ExtensionDown(f"HTTP {response.status_code}")

    def _mark_down(self, reason: str) -> None:
        with self._lock:
            first = self.available
            self._down_until = time.monotonic() + DOWN_SECONDS
            if first:
                self.failures += 1
        if first:
            self.metrics.count("ExtensionUnavailable")
            log.warning(
                "genesys-token extension unavailable (%s); working in-process for %.0fs",
                reason,
                DOWN_SECONDS,
            )


def _token(body: dict[str, Any]) -> Token:
    try:
        token = Token.from_dict(body)
    except TokenFormatError as exc:
        raise _ExtensionDown(f"malformed token answer ({exc})") from None
    if token.remaining() <= 0:
        raise _ExtensionDown("expired token answer")
    return token
