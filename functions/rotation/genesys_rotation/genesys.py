"""The Genesys Cloud calls of a rotation: regenerate the standby's secret, verify credentials.

Regeneration (``POST /api/v2/oauth/clients/{id}/secret``) is made by a separate admin client whose
credentials live in their own secret (``GENESYS_ADMIN_SECRET_ID``), through the library's
``GenesysClient`` (memory-only: no shared cache, no extension). It is not idempotent: every call
makes a new secret and kills the previous one at once, so callers make it at most once per
rotation version. The new secret appears only in this POST's answer (the 2025 visibility change).
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from typing import Any

import requests

from genesys_auth import (
    AuthenticationError,
    ConfigurationError,
    Credentials,
    Deadline,
    GenesysAuthError,
    GenesysClient,
    SecretError,
    Settings,
)
from genesys_auth.fingerprint import fingerprint
from genesys_auth.oauth import request_token

from .errors import PendingRejected, RotationError

log = logging.getLogger(__name__)

TOKENS_ME = "/api/v2/tokens/me"

_admin_lock = threading.Lock()
_admin_clients: dict[Settings, GenesysClient] = {}


@dataclass(frozen=True)
class Identity:
    """What ``GET /api/v2/tokens/me`` says about a token."""

    client_id: str | None
    organization_id: str | None
    lifetime: float


class Genesys:
    def __init__(self, admin_settings: Settings, deadline: Deadline) -> None:
        self.settings = admin_settings
        self.deadline = deadline
        self._admin: GenesysClient | None = None
        self.session = requests.Session()

    @property
    def admin(self) -> GenesysClient:
        """One admin client per container and settings: its token is reused across invocations;
        its secret is re-read at every mint (``secret_max_age=0``), so a fixed secret takes effect."""
        if self._admin is None:
            with _admin_lock:
                client = _admin_clients.get(self.settings)
                if client is None:
                    client = _admin_clients[self.settings] = GenesysClient(self.settings)
            self._admin = client
        return self._admin

    def regenerate(self, client_id: str) -> str:
        """A new secret for ``client_id``; the old one stops working at once."""
        path = f"/api/v2/oauth/clients/{client_id}/secret"
        try:
            response = self.admin.post(path, deadline=self.deadline)
        except AuthenticationError as exc:
            raise RotationError(
                f"the admin client cannot authenticate ({exc.error or 'rejected'}): check the admin secret "
                f"{self.settings.secret_id} (GENESYS_ADMIN_SECRET_ID) and its region; nothing was regenerated"
            ) from None
        except (SecretError, ConfigurationError) as exc:
            raise RotationError(
                f"the admin secret {self.settings.secret_id} (GENESYS_ADMIN_SECRET_ID) is unusable: {exc}; "
                "nothing was regenerated"
            ) from None
        except GenesysAuthError as exc:
            raise RotationError(f"regenerating the secret of client {client_id} failed: {exc}") from None
        if response.status_code == 403:
            raise RotationError(
                f"the admin client lacks the permission oauth:client:edit needed to regenerate client {client_id}'s secret"
            )
        if response.status_code == 404:
            raise RotationError(
                f"OAuth client {client_id} (alternate_client_id of the app secret) does not exist in this organization"
            )
        if not response.ok:
            raise RotationError(
                f"regenerating the secret of client {client_id}: Genesys answered HTTP {response.status_code}"
            )
        try:
            body = response.json()
        except ValueError:
            body = None
        secret = body.get("secret") if isinstance(body, dict) else None
        if not isinstance(secret, str) or not secret:
            raise RotationError(f"Genesys regenerated client {client_id}'s secret but its answer carries no 'secret'")
        log.info("regenerated the secret of standby client %s (new secret fp=%s)", client_id, fingerprint(secret))
        return secret

    def identify(self, creds: Credentials, *, pending: bool) -> Identity:
        """Mint a token with ``creds``, ask ``GET /api/v2/tokens/me`` who it is, then revoke it."""
        endpoints = self.settings.endpoints(creds.region)
        try:
            token = request_token(self.session, endpoints.token_url, creds, self.deadline)
        except AuthenticationError as exc:
            what = "AWSPENDING" if pending else "AWSCURRENT"
            message = f"Genesys refuses the {what} credentials of client {creds.client_id} ({exc.error or 'rejected'})"
            if pending and exc.error == "invalid_client":
                raise PendingRejected(message + "; its secret was regenerated again since createSecret") from None
            raise RotationError(message) from None
        except GenesysAuthError as exc:
            raise RotationError(f"minting a test token for client {creds.client_id} failed: {exc}") from None
        headers = {"Authorization": f"Bearer {token.access_token}", "Accept": "application/json"}
        url = endpoints.api_url + TOKENS_ME
        try:
            response = self.session.get(url, headers=headers, timeout=self.deadline.timeout(10))
            body: Any = response.json() if response.ok else None
        except (requests.RequestException, ValueError) as exc:
            raise RotationError(
                f"GET {TOKENS_ME} with client {creds.client_id}'s token failed: {type(exc).__name__}"
            ) from None
        if body is None:
            raise RotationError(
                f"GET {TOKENS_ME} with client {creds.client_id}'s token answered HTTP {response.status_code}"
            )
        try:  # the test token is ours alone: revoke it rather than leave it live for a day
            self.session.delete(url, headers=headers, timeout=self.deadline.timeout(5))
        except requests.RequestException:
            log.info("could not revoke the test token fp=%s; it expires by itself", token.fingerprint)
        oauth = body.get("OAuthClient") if isinstance(body, dict) else None
        org = body.get("organization") if isinstance(body, dict) else None
        return Identity(
            client_id=oauth.get("id") if isinstance(oauth, dict) else None,
            organization_id=org.get("id") if isinstance(org, dict) else None,
            lifetime=token.lifetime + 1,  # Genesys answers expires_in one second under the lifetime
        )

    def admin_organization(self) -> str | None:
        try:
            response = self.admin.get(TOKENS_ME, deadline=self.deadline)
            body = response.json() if response.ok else None
        except (GenesysAuthError, ValueError) as exc:
            raise RotationError(f"GET {TOKENS_ME} with the admin client failed: {exc}") from None
        org = body.get("organization") if isinstance(body, dict) else None
        value = org.get("id") if isinstance(org, dict) else None
        return value if isinstance(value, str) else None
