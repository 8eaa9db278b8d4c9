"""Settings read from the environment (``GenesysClient.from_env``); no I/O here."""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from dataclasses import dataclass

from .credentials import DEFAULT_SECRET_MAX_AGE
from .deadline import DEFAULT_MAX_WAIT_SECONDS
from .errors import ConfigurationError
from .pool import DEFAULT_POOL_MAX, POOL_MAX_LIMIT
from .regions import Endpoints, domain_for, endpoints_for
from .retry_policy import DEFAULT_POLICY, RetryPolicy

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


@dataclass(frozen=True)
class Settings:
    """Everything the client needs besides the secret's value.

    * ``secret_id``: Secrets Manager name or ARN of the credentials secret (required).
    * ``region``: Genesys domain (``mypurecloud.ie``) or SDK key, used when the secret has none.
    * ``login_url`` / ``api_url``: base-URL overrides (emulator, private gateways); they win over
      any region.
    * ``token_table``: DynamoDB table of the shared token cache; None keeps tokens in memory only.
    * ``secret_max_age``: seconds a read secret is reused (``GENESYS_SECRET_MAX_AGE``, 300).
    * ``max_wait``: cap on waits when no Lambda deadline is bound (``GENESYS_MAX_WAIT_SECONDS``, 30).
    * ``metrics``: emit CloudWatch EMF metrics (``GENESYS_METRICS``, off).
    * ``retry``: the one :class:`RetryPolicy` every retry loop reads (attempts, backoff, floor).
    * ``token_kms_key``: KMS key the shared table's tokens are encrypted with (``GENESYS_TOKEN_KMS_KEY``).
    * ``pool_max``: most tokens the pool may hold at once (``GENESYS_TOKEN_POOL_MAX``, 8; 1 = one token).
    """

    secret_id: str
    region: str | None = None
    login_url: str | None = None
    api_url: str | None = None
    token_table: str | None = None
    secret_max_age: float = DEFAULT_SECRET_MAX_AGE
    max_wait: float = DEFAULT_MAX_WAIT_SECONDS
    metrics: bool = False
    metrics_namespace: str = "GenesysAuth"
    extension: str = "auto"
    extension_port: int = 2780
    retry: RetryPolicy = DEFAULT_POLICY
    pool_max: int = DEFAULT_POOL_MAX
    token_kms_key: str | None = None

    def __post_init__(self) -> None:
        if not self.secret_id or not self.secret_id.strip():
            raise ConfigurationError(
                "GENESYS_SECRET_ID is not set; give the Secrets Manager name or ARN of the credentials secret"
            )
        if self.region is not None:
            domain_for(self.region)  # fail at construction on a typo, not at the first mint
        for name in ("login_url", "api_url"):
            value = getattr(self, name)
            if value is not None:
                check_base_url(value, f"GENESYS_{name.upper()}")
        if not 1 <= self.pool_max <= POOL_MAX_LIMIT:
            raise ConfigurationError(f"GENESYS_TOKEN_POOL_MAX must be a whole number from 1 to {POOL_MAX_LIMIT}")
        if self.extension not in ("auto", "on", "off"):
            raise ConfigurationError("GENESYS_TOKEN_EXTENSION must be one of auto, on, off")

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if environ is None else environ
        return cls(
            secret_id=env.get("GENESYS_SECRET_ID", "").strip(),
            region=env_str(env, "GENESYS_REGION"),
            login_url=env_url(env, "GENESYS_LOGIN_URL"),
            api_url=env_url(env, "GENESYS_API_URL"),
            token_table=env_str(env, "GENESYS_TOKEN_TABLE"),
            secret_max_age=env_number(env, "GENESYS_SECRET_MAX_AGE", DEFAULT_SECRET_MAX_AGE),
            max_wait=env_number(env, "GENESYS_MAX_WAIT_SECONDS", DEFAULT_MAX_WAIT_SECONDS, maximum=900.0),
            metrics=env_flag(env, "GENESYS_METRICS"),
            metrics_namespace=env_str(env, "GENESYS_METRICS_NAMESPACE") or "GenesysAuth",
            extension=(env_str(env, "GENESYS_TOKEN_EXTENSION") or "auto").lower(),
            extension_port=env_port(env, "GENESYS_TOKEN_EXTENSION_PORT", 2780),
            token_kms_key=env_str(env, "GENESYS_TOKEN_KMS_KEY"),
            pool_max=env_whole(env, "GENESYS_TOKEN_POOL_MAX", DEFAULT_POOL_MAX, maximum=POOL_MAX_LIMIT),
        )

    def endpoints(self, secret_region: str | None) -> Endpoints:
        """Base URLs: explicit overrides first, then the secret's region, then ``GENESYS_REGION``."""
        region = secret_region or self.region
        if self.login_url and self.api_url:
            return Endpoints(self.login_url, self.api_url)
        if region is None:
            if self.login_url or self.api_url:
                raise ConfigurationError("set both GENESYS_LOGIN_URL and GENESYS_API_URL, or a region")
            raise ConfigurationError(
                'no Genesys Cloud region: add "region" to the secret or set GENESYS_REGION '
                "(for example mypurecloud.com or mypurecloud.ie)"
            )
        derived = endpoints_for(region)
        return Endpoints(self.login_url or derived.login_url, self.api_url or derived.api_url)


def check_base_url(value: str, name: str) -> None:
    """A base URL must be http(s), name a host, and carry a valid port if any: refused here, at
    configuration time, rather than as a raw InvalidURL at the first mint."""
    from urllib.parse import urlsplit

    hint = f"{name} must look like https://login.mypurecloud.com (or http://127.0.0.1:PORT for a local emulator)"
    if any(char.isspace() or ord(char) < 0x20 for char in value):
        raise ConfigurationError(f"{name} contains whitespace or a control character; {hint}")
    try:
        parts = urlsplit(value)
        port = parts.port
    except ValueError:
        raise ConfigurationError(f"{name} has a port that is not a number from 1 to 65535; {hint}") from None
    if parts.scheme not in ("https", "http"):
        raise ConfigurationError(f"{name} must start with https:// (or http:// for a local emulator); {hint}")
    if not parts.hostname or parts.username is not None or parts.password is not None:
        raise ConfigurationError(f"{name} must name a host (and no user or password); {hint}")
    if port == 0:
        raise ConfigurationError(f"{name} has port 0; {hint}")
    if parts.query or parts.fragment:
        raise ConfigurationError(f"{name} must not have a query or fragment; {hint}")


# Readers of one environment variable each; also used by the project's functions (rotation).


def env_str(env: Mapping[str, str], name: str) -> str | None:
    value = env.get(name, "").strip()
    return value or None


def env_url(env: Mapping[str, str], name: str) -> str | None:
    value = env_str(env, name)
    return value.rstrip("/") if value else None


def env_number(env: Mapping[str, str], name: str, default: float, *, maximum: float = 10 * 365 * 86400.0) -> float:
    """A finite number of seconds (or count), 0 to ``maximum``; ``inf``/``nan`` are refused."""
    value = env_str(env, name)
    if value is None:
        return default
    try:
        number = float(value)
    except ValueError:
        raise ConfigurationError(f"{name} must be a number") from None
    if not math.isfinite(number):
        raise ConfigurationError(f"{name} must be a finite number")
    if number < 0:
        raise ConfigurationError(f"{name} must not be negative")
    if number > maximum:
        raise ConfigurationError(f"{name} must be at most {maximum:g}")
    return number


def env_whole(env: Mapping[str, str], name: str, default: int, *, maximum: int) -> int:
    value = env_str(env, name)
    if value is None:
        return default
    if not value.isdigit() or not 1 <= int(value) <= maximum:
        raise ConfigurationError(f"{name} must be a whole number from 1 to {maximum}")
    return int(value)


def env_port(env: Mapping[str, str], name: str, default: int) -> int:
    value = env_str(env, name)
    if value is None:
        return default
    if not value.isdigit() or not 1 <= int(value) <= 65535:
        raise ConfigurationError(f"{name} must be a TCP port number from 1 to 65535")
    return int(value)


def env_flag(env: Mapping[str, str], name: str) -> bool:
    value = env.get(name, "").strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ConfigurationError(f"{name} must be true or false")
