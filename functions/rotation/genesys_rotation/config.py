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
from dataclasses import dataclass, replace

from genesys_auth import ConfigurationError, Settings
from genesys_auth.config import env_flag, env_number, env_str
from genesys_auth.credentials import DEFAULT_SECRET_MAX_AGE

from .guard import DEFAULT_MARGIN, DEFAULT_TOKEN_LIFETIME, GuardPolicy


@dataclass(frozen=True)
class RotationConfig:
    #: The admin client's library settings: memory only (no shared cache, no extension), its
    #: secret re-read at every mint so a fixed admin secret takes effect at once.
    admin: Settings
    app_secret_id: str | None
    table: str | None
    guard: GuardPolicy
    metrics: bool = True

    @property
    def metrics_namespace(self) -> str:
        return self.admin.metrics_namespace

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> RotationConfig:
        env = os.environ if environ is None else environ
        admin = env_str(env, "GENESYS_ADMIN_SECRET_ID")
        if admin is None:
            raise ConfigurationError(
                "GENESYS_ADMIN_SECRET_ID is not set; give the secret of the admin OAuth client that holds "
                "oauth:client:edit (it regenerates the standby client's secret)"
            )
        # Region, base URLs and metrics namespace are read as the library reads them for any client.
        library = Settings.from_env({**env, "GENESYS_SECRET_ID": admin})
        return cls(
            admin=replace(library, token_table=None, extension="off", secret_max_age=0, metrics=False),
            app_secret_id=env_str(env, "GENESYS_SECRET_ID"),
            table=env_str(env, "GENESYS_TOKEN_TABLE"),
            guard=GuardPolicy(
                token_lifetime=env_number(env, "GENESYS_TOKEN_LIFETIME", DEFAULT_TOKEN_LIFETIME),
                secret_max_age=env_number(env, "GENESYS_SECRET_MAX_AGE", DEFAULT_SECRET_MAX_AGE),
                margin=env_number(env, "GENESYS_ROTATION_MARGIN", DEFAULT_MARGIN),
            ),
            metrics=env_flag(env, "GENESYS_METRICS") if env_str(env, "GENESYS_METRICS") else True,
        )
