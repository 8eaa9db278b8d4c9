"""The rotation function's settings, from its environment. No I/O here.

| variable | meaning |
|---|---|
| ``GENESYS_SECRET_ID`` | the app secret this function rotates on schedule (default ``secretId``) |
| ``GENESYS_ADMIN_SECRET_ID`` | secret of the admin client holding ``oauth:client:edit`` (required) |
| ``GENESYS_TOKEN_TABLE`` | DynamoDB table for the rotation lease (required for scheduled runs) |
| ``GENESYS_REGION``, ``GENESYS_LOGIN_URL``, ``GENESYS_API_URL`` | base URLs, as for the library |
| ``GENESYS_TOKEN_LIFETIME`` | the clients' token lifetime in seconds (86400), for the guard |
| ``GENESYS_SECRET_MAX_AGE`` | the consumers' secret cache age in seconds (300), for the guard |
| ``GENESYS_ROTATION_MARGIN`` | extra seconds in the guard (900) |
| ``GENESYS_METRICS`` | EMF metrics (on by default for this function) |
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from genesys_auth import ConfigurationError, Settings
from genesys_auth.config import env_flag, env_number, env_str, env_url
from genesys_auth.credentials import DEFAULT_SECRET_MAX_AGE

from .guard import DEFAULT_MARGIN, DEFAULT_TOKEN_LIFETIME, GuardPolicy


@dataclass(frozen=True)
class RotationConfig:
    admin_secret_id: str
    app_secret_id: str | None
    table: str | None
    region: str | None
    login_url: str | None
    api_url: str | None
    guard: GuardPolicy
    metrics: bool = True
    metrics_namespace: str = "GenesysAuth"

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> RotationConfig:
        env = os.environ if environ is None else environ
        admin = env_str(env, "GENESYS_ADMIN_SECRET_ID")
        if admin is None:
            raise ConfigurationError(
                "GENESYS_ADMIN_SECRET_ID is not set; give the secret of the admin OAuth client that holds "
                "oauth:client:edit (it regenerates the standby client's secret)"
            )
        return cls(
            admin_secret_id=admin,
            app_secret_id=env_str(env, "GENESYS_SECRET_ID"),
            table=env_str(env, "GENESYS_TOKEN_TABLE"),
            region=env_str(env, "GENESYS_REGION"),
            login_url=env_url(env, "GENESYS_LOGIN_URL"),
            api_url=env_url(env, "GENESYS_API_URL"),
            guard=GuardPolicy(
                token_lifetime=env_number(env, "GENESYS_TOKEN_LIFETIME", DEFAULT_TOKEN_LIFETIME),
                secret_max_age=env_number(env, "GENESYS_SECRET_MAX_AGE", DEFAULT_SECRET_MAX_AGE),
                margin=env_number(env, "GENESYS_ROTATION_MARGIN", DEFAULT_MARGIN),
            ),
            metrics=env_flag(env, "GENESYS_METRICS") if env_str(env, "GENESYS_METRICS") else True,
            metrics_namespace=env_str(env, "GENESYS_METRICS_NAMESPACE") or "GenesysAuth",
        )

    def admin_settings(self) -> Settings:
        """Library settings for the admin client: memory only (no shared cache, no extension)."""
        return Settings(
            secret_id=self.admin_secret_id,
            region=self.region,
            login_url=self.login_url,
            api_url=self.api_url,
            token_table=None,
            extension="off",
            secret_max_age=0,
        )
