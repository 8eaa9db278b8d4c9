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
from requests.adapters import HTTPAdapter

from . import deadline as _deadline
from .auth import GenesysAuth
from .backoff import parse_retry_after
from .config import Settings
from .credentials import SecretsManagerCredentials
from .deadline import Deadline, DeadlineLike
from .errors import AuthenticationError, ConfigurationError, RateLimitedError, UnavailableError
from .metrics import Metrics
from .minter import Minter
from .provider import TokenProvider
from .retry import DeadlineRetry
from .sources import MintSource, TokenSource
from .tokens import FreshnessPolicy, Token

log = logging.getLogger(__name__)

API_CONNECT_TIMEOUT = 3.05
API_READ_TIMEOUT = 30.0
POOL_SIZE = 16


def _session(retries: int | None) -> requests.Session:
    session = requests.Session()
    adapter = HTTPAdapter(
        pool_connections=4,
        pool_maxsize=POOL_SIZE,
        max_retries=DeadlineRetry() if retries is None else DeadlineRetry(total=retries),
    )
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    return session


class GenesysClient:
    """Tokens and Platform API calls for one OAuth client (one credentials secret).

    Create one per process at module scope and share it between invocations and threads.
    """

    def __init__(
        self, settings: Settings, *, source: TokenSource | None = None, policy: FreshnessPolicy | None = None
    ) -> None:
        self.settings = settings
        self.metrics = Metrics(enabled=settings.metrics, namespace=settings.metrics_namespace)
        self.secrets = SecretsManagerCredentials(settings.secret_id, max_age=settings.secret_max_age)
        self.minter = Minter(settings, self.secrets, _session(retries=0), self.metrics)
        self.session = _session(retries=None)
        self.policy = policy or FreshnessPolicy()
        self.provider = TokenProvider(
            source or self._default_source(), policy=self.policy, metrics=self.metrics, max_wait=settings.max_wait
        )
        self.auth = GenesysAuth(self.provider, on_replay=self._count_replay)
        self._lock = threading.Lock()
        self.replays = 0

    @classmethod
    def from_env(cls) -> GenesysClient:
        """Build from ``GENESYS_*`` environment variables (see :class:`Settings`). No network I/O."""
        return cls(Settings.from_env())

    def _default_source(self) -> TokenSource:
        """Memory sits above one of: the extension, the shared DynamoDB cache, or direct minting."""
        source: TokenSource = MintSource(self.minter)
        if self.settings.token_table:
            from .dynamodb import DynamoTokenStore
            from .shared import SharedSource

            store = DynamoTokenStore(self.settings.token_table, self.settings.secret_id)
            source = SharedSource(store, self.minter, policy=self.policy, metrics=self.metrics)
        from .extension_client import ExtensionSource, extension_wanted

        if extension_wanted(self.settings):
            source = ExtensionSource(self.settings, fallback=source, metrics=self.metrics)
        return source

    # -- tokens ---------------------------------------------------------------------------------

    @contextmanager
    def deadline(self, value: DeadlineLike | None) -> Iterator[Deadline]:
        """Bound every wait and retry inside the block by a Lambda context or an epoch deadline."""
        with _deadline.bound(value if value is not None else self.settings.max_wait) as bound:
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
        """Call ``{api}{path}`` with the managed token; ``kwargs`` go to ``requests``."""
        if not path.startswith("/"):
            raise ConfigurationError(
                "path must start with '/' and be relative to the API base URL, e.g. /api/v2/organizations/me"
            )
        bound = self._deadline(deadline)
        with _deadline.bound(bound):
            token = self.provider.token(bound)
            url = self.api_url(token) + path
            kwargs.setdefault("timeout", (bound.timeout(API_CONNECT_TIMEOUT), bound.timeout(API_READ_TIMEOUT)))
            try:
                response = self.session.request(method, url, auth=self.auth, **kwargs)
            except requests.Timeout:
                raise UnavailableError(f"{method} {path}: Genesys Cloud did not answer in time") from None
            except requests.ConnectionError as exc:
                raise UnavailableError(f"{method} {path}: cannot reach Genesys Cloud ({type(exc).__name__})") from None
        return self._check(method, path, response)

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

    def _deadline(self, value: DeadlineLike | None) -> Deadline:
        return Deadline.of(value, default=self.settings.max_wait)

    def _count_replay(self) -> None:
        with self._lock:
            self.replays += 1
        self.metrics.count("Replayed401")

    def _check(self, method: str, path: str, response: requests.Response) -> requests.Response:
        status = response.status_code
        if status == 401:
            code = _error_code(response)
            self.metrics.count("Unauthorized")
            raise AuthenticationError(
                f"{method} {path}: Genesys Cloud answered 401 {code or ''} again after a fresh token; "
                "check that the OAuth client is active and not disabled",
                error=code,
            )
        if status == 429:
            retry_after = parse_retry_after(response.headers.get("Retry-After"))
            self.metrics.count("RateLimited")
            raise RateLimitedError(
                f"{method} {path}: rate limited by Genesys Cloud; Retry-After {retry_after}s is past this invocation's deadline",
                retry_after=retry_after,
            )
        if status in (502, 503, 504):
            raise UnavailableError(f"{method} {path}: Genesys Cloud answered HTTP {status} after retries")
        return response

    def __repr__(self) -> str:
        return f"GenesysClient(secret_id={self.settings.secret_id!r}, source={self.provider.source.name})"


def _error_code(response: requests.Response) -> str | None:
    try:
        body = response.json()
    except ValueError:
        return None
    code = body.get("code") if isinstance(body, dict) else None
    return code if isinstance(code, str) else None
