"""Turns the credentials secret into a fresh token, surviving a rotated or regenerated secret.

On ``invalid_client`` the secret may have moved under us (a rotation finished, or an admin
regenerated it and updated Secrets Manager): re-read AWSCURRENT bypassing the cache and, if it
changed, use it; otherwise try the other staged versions (AWSPENDING, then AWSPREVIOUS) before
giving up with a clear authentication error.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from dataclasses import replace

import requests

from .config import Settings
from .credentials import CURRENT, PENDING, PREVIOUS, Credentials, SecretsManagerCredentials
from .deadline import Deadline
from .errors import AuthenticationError, SecretError
from .metrics import Metrics
from .oauth import request_token
from .regions import Endpoints
from .tokens import Token

log = logging.getLogger(__name__)


class Minter:
    """Mints tokens for the configured secret. Thread-safe; callers single-flight it."""

    def __init__(
        self,
        settings: Settings,
        secrets: SecretsManagerCredentials,
        session: requests.Session,
        metrics: Metrics,
    ) -> None:
        self.settings = settings
        self.secrets = secrets
        self.session = session
        self.metrics = metrics
        self._lock = threading.Lock()
        self._endpoints: Endpoints | None = None
        self._client_id: str | None = None
        #: Successful mints by this process (tests and the demo report it).
        self.mints = 0

    @property
    def client_id(self) -> str | None:
        """The client id of the last credentials used (not secret; shown in logs)."""
        return self._client_id

    def endpoints(self, creds: Credentials | None = None) -> Endpoints:
        if creds is not None:
            self._endpoints = self.settings.endpoints(creds.region)
        if self._endpoints is None:
            self._endpoints = self.settings.endpoints(self.secrets.current().region)
        return self._endpoints

    def mint(self, deadline: Deadline) -> Token:
        creds = self.secrets.current(deadline)
        try:
            return self._mint_with(creds, deadline)
        except AuthenticationError as exc:
            if exc.error != "invalid_client":
                raise
            return self._recover(creds, exc, deadline)

    def _mint_with(self, creds: Credentials, deadline: Deadline) -> Token:
        endpoints = self.endpoints(creds)
        token = replace(
            request_token(self.session, endpoints.token_url, creds, deadline, self.settings.retry),
            api_url=endpoints.api_url,
        )
        with self._lock:
            self.mints += 1
            self._client_id = creds.client_id
        self.metrics.count("TokenMinted")
        log.info(
            "minted token fp=%s for client %s, lifetime %.0fs (secret %s)",
            token.fingerprint,
            creds.client_id,
            token.lifetime,
            creds.stage,
        )
        return token

    def _candidates(self, deadline: Deadline) -> Iterator[Callable[[], Credentials | None]]:
        """Fresh AWSCURRENT first, then the other stages: each read only if the one before failed."""
        yield lambda: self.secrets.current(deadline, force=True)
        for stage in (PENDING, PREVIOUS):
            yield lambda stage=stage: self.secrets.staged(stage, deadline)  # type: ignore[misc]

    def _recover(self, failed: Credentials, first: AuthenticationError, deadline: Deadline) -> Token:
        tried = {(failed.client_id, failed.client_secret)}
        current = failed
        log.warning("invalid_client for client %s: re-reading the secret and its staged versions", failed.client_id)
        for read in self._candidates(deadline):
            try:
                creds = read()
            except SecretError as exc:
                # A malformed or unreadable fallback version is worth a log line, not the headline:
                # the user needs to hear that the *current* credentials were refused.
                log.warning("skipping a version of the credentials secret while recovering: %s", exc)
                continue
            if creds is None or (creds.client_id, creds.client_secret) in tried:
                continue
            if creds.stage == CURRENT:
                current = creds
            tried.add((creds.client_id, creds.client_secret))
            try:
                token = self._mint_with(creds, deadline)
            except AuthenticationError as exc:
                if exc.error != "invalid_client":
                    raise
                continue
            if creds.stage != CURRENT:
                self.metrics.count("StagedSecretUsed")
                log.warning("minted with the %s version of the secret; AWSCURRENT is rejected", creds.stage)
            return token
        self.metrics.count("AuthenticationFailed")
        version = f" version {current.version_id}" if current.version_id else ""
        raise AuthenticationError(
            f"{first} (client {current.client_id}, AWSCURRENT{version} of the secret). Tried "
            f"{len(tried)} credential version(s) of the secret; update the secret with the client's current secret",
            error=first.error,
        ) from None
