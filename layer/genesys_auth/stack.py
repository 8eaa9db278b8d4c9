"""Building the token source stack from :class:`Settings`: the one place the tiers are wired.

    memory (TokenProvider) -> [extension] -> [shared DynamoDB table] -> mint (Minter -> Secrets Manager)

Every front end (``GenesysClient``, the ``genesys-token`` extension, the SDK integration, the
``genesys-auth`` command) gets its provider here, so they share one token source stack, one retry
policy and one deadline rule instead of each wiring its own.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import requests
from requests.adapters import HTTPAdapter

from .config import Settings
from .credentials import SecretsManagerCredentials
from .metrics import Metrics
from .minter import Minter
from .pool import PoolState
from .provider import TokenProvider
from .retry import DeadlineRetry
from .retry_policy import RetryPolicy
from .sources import MintSource, TokenSource
from .tokens import FreshnessPolicy
from .watchdog import POOL_CLASSES

#: Connections kept per host by a front end's session (Lambda handlers rarely use more).
POOL_SIZE = 16


@dataclass
class Stack:
    """The parts of one stack, for front ends and diagnostics (counters, endpoints)."""

    settings: Settings
    metrics: Metrics
    secrets: SecretsManagerCredentials
    minter: Minter
    provider: TokenProvider


class BoundedAdapter(HTTPAdapter):
    """An adapter whose connections cap each exchange at the bound deadline (``watchdog``)."""

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = POOL_CLASSES


def http_session(policy: RetryPolicy | None, *, pool_size: int = POOL_SIZE) -> requests.Session:
    """A session whose adapter retries as ``policy`` says (None: no urllib3 retries at all, for
    callers with their own loop such as the token endpoint), every exchange capped by the deadline."""
    session = requests.Session()
    retries = DeadlineRetry(policy=policy) if policy is not None else DeadlineRetry(total=0)
    adapter = BoundedAdapter(pool_connections=4, pool_maxsize=pool_size, max_retries=retries)
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    return session


def build_stack(
    settings: Settings,
    *,
    source: TokenSource | None = None,
    policy: FreshnessPolicy | None = None,
    use_extension: bool = True,
) -> Stack:
    """Wire memory over the extension (inside Lambda, when wanted), the shared table (when
    ``token_table`` is set) or direct minting. No network I/O happens here."""
    metrics = Metrics(enabled=settings.metrics, namespace=settings.metrics_namespace)
    secrets = SecretsManagerCredentials(settings.secret_id, max_age=settings.secret_max_age, policy=settings.retry)
    minter = Minter(settings, secrets, http_session(None), metrics)
    freshness = policy or FreshnessPolicy()
    pool = PoolState(settings.pool_max)
    if source is None:
        source = _default_source(settings, minter, freshness, metrics, pool, use_extension=use_extension)
    provider = TokenProvider(source, policy=freshness, metrics=metrics, max_wait=settings.max_wait, pool=pool)
    stack = Stack(settings=settings, metrics=metrics, secrets=secrets, minter=minter, provider=provider)
    provider.stack = stack
    return stack


def build_provider(settings: Settings, *, use_extension: bool = True) -> TokenProvider:
    """The token provider for ``settings`` (its parts stay reachable as ``provider.stack``)."""
    return build_stack(settings, use_extension=use_extension).provider


def _default_source(
    settings: Settings,
    minter: Minter,
    policy: FreshnessPolicy,
    metrics: Metrics,
    pool: PoolState,
    *,
    use_extension: bool,
) -> TokenSource:
    source: TokenSource = MintSource(minter, pool)
    if settings.token_table:
        from .dynamodb import DynamoTokenStore
        from .sealing import Sealer
        from .shared import SharedSource

        sealer = Sealer(settings.token_kms_key) if settings.token_kms_key else None
        store = DynamoTokenStore(settings.token_table, settings.secret_id, sealer=sealer)
        source = SharedSource(store, minter, policy=policy, metrics=metrics, pool=pool)
    if use_extension:
        from .extension_client import ExtensionSource, extension_wanted

        if extension_wanted(settings):
            source = ExtensionSource(settings, fallback=source, metrics=metrics, pool=pool)
    return source
