"""``GenesysClient``: a Genesys Cloud Platform API client for Lambda handlers.

    client = GenesysClient.from_env()          # module scope: no network I/O here

    def handler(event, context):
        with client.deadline(context):         # bound every retry and wait by this invocation
            org = client.get("/api/v2/organizations/me").json()

Errors the library owns are raised as classified exceptions (:mod:`genesys_auth.errors`): a 401
that survives the one replay, a 429 the deadline leaves no time to wait out, and 502/503/504 or
network failures after the retries. Every other response (2xx, 4xx of the API) is returned as is.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import requests

from . import deadline as _deadline
from .auth import GenesysAuth, origin
from .config import Settings
from .deadline import Deadline, DeadlineLike
from .errors import AuthenticationError, ConfigurationError, RateLimitedError, UnavailableError
from .retry import POOL_CAN_MOVE
from .retry_policy import parse_retry_after
from .sources import TokenSource
from .stack import build_stack, http_session
from .tokens import FreshnessPolicy, Token

log = logging.getLogger(__name__)

API_CONNECT_TIMEOUT = 3.05
API_READ_TIMEOUT = 30.0


class GenesysClient:
    """Tokens and Platform API calls for one OAuth client (one credentials secret).

    Create one per process at module scope and share it between invocations and threads.
    """

    def __init__(
        self, settings: Settings, *, source: TokenSource | None = None, policy: FreshnessPolicy | None = None
    ) -> None:
        self.settings = settings
        stack = build_stack(settings, source=source, policy=policy)
        self.metrics = stack.metrics
        self.secrets = stack.secrets
        self.minter = stack.minter
        self.provider = stack.provider
        self.policy = self.provider.policy
        self.session = http_session(settings.retry)
        self.auth = GenesysAuth(self.provider, on_replay=self._count_replay)
        self._lock = threading.Lock()
        self.replays = 0

    @classmethod
    def from_env(cls) -> GenesysClient:
        """Build from ``GENESYS_*`` environment variables (see :class:`Settings`). No network I/O."""
        return cls(Settings.from_env())

    # -- tokens ---------------------------------------------------------------------------------

    @contextmanager
    def deadline(self, value: DeadlineLike | None) -> Iterator[Deadline]:
        """Bound every wait and retry inside the block: a Lambda context, seconds from now, a
        timezone-aware datetime, ``Deadline.at_epoch(ts)``, or None (``max_wait`` seconds)."""
        with _deadline.bound(value, default=self.settings.max_wait) as bound:
            yield bound

    def token(self, *, deadline: DeadlineLike | None = None) -> str:
        """A valid access token (memory, then the shared cache, then a mint)."""
        return self.token_info(deadline=deadline).access_token

    def token_info(self, *, deadline: DeadlineLike | None = None) -> Token:
        """Like :meth:`token` but returns the :class:`Token` (expiry, fingerprint, version)."""
        # The deadline is resolved only if the memory copy is not fresh: the hit path stays one compare.
        return self.provider.token(deadline)

    def invalidate(self, token: str) -> bool:
        """Forget exactly ``token`` (after Genesys rejected it); a newer token is kept."""
        return self.provider.invalidate(token)

    # -- Platform API ---------------------------------------------------------------------------

    def request(
        self, method: str, path: str, *, deadline: DeadlineLike | None = None, **kwargs: Any
    ) -> requests.Response:
        """Call ``{api}{path}`` with the managed token; ``kwargs`` go to ``requests``.

        ``path`` is relative to the API base URL (``/api/v2/organizations/me``)."""
        if not path.startswith("/"):
            raise ConfigurationError(
                "path must start with '/' and be relative to the API base URL, e.g. /api/v2/organizations/me"
            )
        return self.check(method, path, self.send(method, path, deadline=deadline, **kwargs))

    def send(self, method: str, url: str, *, deadline: DeadlineLike | None = None, **kwargs: Any) -> requests.Response:
        """One Platform API call, the step every front end shares: the managed token (fetched once),
        one replay after a 401, the retry policy, timeouts bounded by the deadline.

        ``url`` is a path (``/api/v2/...``) or an absolute URL on the API origin; any other origin
        is refused, so the token never leaves for another host. Redirects are not followed unless
        the caller passes ``allow_redirects=True`` (and then a token is never re-sent off-origin).
        Transport failures raise :class:`UnavailableError`; every answer is returned as it is."""
        bound = Deadline.of(deadline, default=self.settings.max_wait)
        with _deadline.bound(bound):
            token = self.provider.token(bound)
            target = self._target(url, token)
            kwargs.setdefault("timeout", (bound.timeout(API_CONNECT_TIMEOUT), bound.timeout(API_READ_TIMEOUT)))
            kwargs.setdefault("allow_redirects", False)
            where = f"{method} {_path_of(url)}"
            mover = POOL_CAN_MOVE.set(lambda: self.provider.can_move_from(token))
            try:
                return self.session.request(method, target, auth=self.auth.with_token(token), **kwargs)
            except requests.RequestException as exc:
                raise UnavailableError(_transport_failure(where, exc, bound)) from None
            finally:
                POOL_CAN_MOVE.reset(mover)

    def check(self, method: str, path: str, response: requests.Response) -> requests.Response:
        """Turn what the library owns into classified errors: a 401 left after the replay
        (:class:`AuthenticationError`), a 429 left after the waits the deadline allowed
        (:class:`RateLimitedError`), 502/503/504 after retries (:class:`UnavailableError`).
        Every other response is returned unchanged."""
        where = f"{method} {_path_of(path)}"
        status = response.status_code
        if status == 401:
            code = _error_code(response)
            self.metrics.count("Unauthorized")
            raise AuthenticationError(
                f"{where}: Genesys Cloud answered 401 {code or ''} again after a fresh token; "
                "check that the OAuth client is active and not disabled",
                error=code,
            )
        if status == 429:
            retry_after = parse_retry_after(response.headers.get("Retry-After"))
            self.metrics.count("RateLimited")
            wait = f"Retry-After {retry_after:g}s is" if retry_after is not None else "another try is"
            raise RateLimitedError(
                f"{where}: rate limited by Genesys Cloud; {wait} past this invocation's deadline",
                retry_after=retry_after,
            )
        if status in (502, 503, 504):
            raise UnavailableError(f"{where}: Genesys Cloud answered HTTP {status} after retries")
        return response

    def get(self, path: str, **kwargs: Any) -> requests.Response:
        return self.request("GET", path, **kwargs)

    def post(self, path: str, **kwargs: Any) -> requests.Response:
        return self.request("POST", path, **kwargs)

    def put(self, path: str, **kwargs: Any) -> requests.Response:
        return self.request("PUT", path, **kwargs)

    def patch(self, path: str, **kwargs: Any) -> requests.Response:
        return self.request("PATCH", path, **kwargs)

    def delete(self, path: str, **kwargs: Any) -> requests.Response:
        return self.request("DELETE", path, **kwargs)

    def api_url(self, token: Token | None = None) -> str:
        """The region's API base URL (override, else where the token came from, else the secret)."""
        if self.settings.api_url:
            return self.settings.api_url
        if token is not None and token.api_url:
            return token.api_url
        return self.minter.endpoints().api_url

    # -- internals ------------------------------------------------------------------------------

    def _target(self, url: str, token: Token) -> str:
        base = self.api_url(token)
        if url.startswith("/"):
            return base + url
        if origin(url) != origin(base):
            raise ConfigurationError(
                "refusing to send the Genesys token to another origin than the API base URL; pass a path "
                "such as /api/v2/users or a URL on the configured API host"
            )
        return url

    def _count_replay(self) -> None:
        with self._lock:
            self.replays += 1
        self.metrics.count("Replayed401")

    def __repr__(self) -> str:
        return f"GenesysClient(secret_id={self.settings.secret_id!r}, source={self.provider.source.name})"


def _transport_failure(where: str, exc: requests.RequestException, deadline: Deadline) -> str:
    if deadline.expired():
        return f"{where}: Genesys Cloud did not finish answering before the deadline ({type(exc).__name__})"
    if isinstance(exc, requests.Timeout):
        return f"{where}: Genesys Cloud did not answer in time"
    if isinstance(exc, requests.ConnectionError):
        return f"{where}: cannot reach Genesys Cloud ({type(exc).__name__})"
    return f"{where}: unreadable answer from Genesys Cloud ({type(exc).__name__})"


def _path_of(url: str) -> str:
    """The path of ``url`` for messages (never a query string: it may hold anything)."""
    from urllib.parse import urlsplit

    return urlsplit(url).path or "/"


def _error_code(response: requests.Response) -> str | None:
    try:
        body = response.json()
    except (ValueError, RecursionError):
        return None
    code = body.get("code") if isinstance(body, dict) else None
    return code if isinstance(code, str) and len(code) <= 100 else None
