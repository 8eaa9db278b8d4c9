"""OAuth clients and the tokens minted for them: registration, state, revocation, secrets, counters."""

from __future__ import annotations

import json
import secrets
import time
import uuid
from collections.abc import Iterable

from .model import CLIENT_STATES, RECEIVED_FIELDS, JsonDict, OAuthClient, _fingerprint, _iso_now, _new_counters
from .state import _EmulatorState


class _ClientsMixin(_EmulatorState):
    def add_client(
        self,
        client_id: str | None = None,
        secret: str | None = None,
        *,
        lifetime: int = 86400,
        name: str | None = None,
        state: str = "active",
        grant_type: str = "client_credentials",
        permissions: Iterable[str] = (),
    ) -> OAuthClient:
        """Register a client; ids are UUIDs and secrets 43-char URL-safe when omitted."""
        if state not in CLIENT_STATES:
            raise ValueError(f"state must be one of {CLIENT_STATES}, not {state!r}")
        if int(lifetime) < 1:
            raise ValueError("lifetime must be >= 1")
        cid = client_id if client_id is not None else str(uuid.uuid4())
        if not cid or ":" in cid:
            raise ValueError("client_id must be non-empty and contain no ':'")
        record = OAuthClient(
            client_id=cid,
            secret=secret if secret is not None else secrets.token_urlsafe(32),
            name=name if name is not None else f"emulated-client-{cid[:8]}",
            state=state,
            lifetime=int(lifetime),
            grant_type=grant_type,
            permissions=frozenset(permissions),
        )
        with self._lock:
            if cid in self._clients:
                raise ValueError(f"client {cid!r} already exists")
            self._clients[cid] = record
            self._secrets_issued.append(record.secret)
        return record

    def client(self, client_id: str) -> OAuthClient:
        with self._lock:
            try:
                return self._clients[client_id]
            except KeyError:
                raise KeyError(f"unknown client {client_id!r}") from None

    def set_client_state(self, client_id: str, state: str) -> None:
        """Switch a client between active/disabled/inactive (extra helper)."""
        if state not in CLIENT_STATES:
            raise ValueError(f"state must be one of {CLIENT_STATES}, not {state!r}")
        with self._lock:
            record = self._client_locked(client_id)
            record.state = state
            record.date_modified = _iso_now()

    def revoke_client_tokens(self, client_id: str) -> int:
        """Revoke every live token of the client; returns how many were revoked."""
        with self._lock:
            self._client_locked(client_id)
            return self._revoke_client_tokens_locked(client_id)

    def _revoke_client_tokens_locked(self, client_id: str) -> int:
        revoked = 0
        for token in self._tokens.values():
            if token.client_id == client_id and not token.revoked:
                token.revoked = True
                revoked += 1
        return revoked

    def revoke_token(self, access_token: str) -> None:
        with self._lock:
            try:
                self._tokens[access_token].revoked = True
            except KeyError:
                raise KeyError("unknown access token") from None

    def expire_tokens(self, client_id: str | None = None) -> int:
        """Make issued tokens expire now, without waiting (extra helper)."""
        now = time.time()
        expired = 0
        with self._lock:
            for token in self._tokens.values():
                matches = client_id is None or token.client_id == client_id
                if matches and token.expires_at > now:
                    token.expires_at = now
                    expired += 1
        return expired

    def regenerate_secret(self, client_id: str) -> str:
        """New secret for the client; the old one stops working at once."""
        with self._lock:
            return self._regenerate_locked(client_id)

    def _regenerate_locked(self, client_id: str) -> str:
        record = self._client_locked(client_id)
        record.secret = secrets.token_urlsafe(32)
        self._secrets_issued.append(record.secret)
        record.date_modified = _iso_now()
        if not self.tokens_survive_regeneration:
            self._revoke_client_tokens_locked(client_id)
        self._counters["regenerations"] += 1
        return record.secret

    def issued_tokens(self, client_id: str | None = None) -> list[str]:
        """All tokens ever minted (including revoked/expired ones), oldest first."""
        with self._lock:
            return [
                value for value in self._token_order if client_id is None or self._tokens[value].client_id == client_id
            ]

    def token_request_counts(self, client_id: str | None = None) -> dict[str, int]:
        """Accepted API requests per token over the emulator's life, keyed by token fingerprint.

        The fingerprint is the library's (first 12 hex digits of the token's SHA-256), so a
        test can match these figures with the fingerprints in the product's logs.  Every token
        ever minted (of ``client_id``, or of all clients) appears, with 0 if never used; a
        counter reset does not zero these.
        """
        with self._lock:
            return {
                _fingerprint(value): self._tokens[value].accepted
                for value in self._token_order
                if client_id is None or self._tokens[value].client_id == client_id
            }

    def received(self, endpoint: str | None = None) -> list[JsonDict]:
        """Every request of the group ("token", "api", None = both) since the last counter reset.

        Each entry: ``endpoint``, ``method``, ``path`` (decoded, without query), ``query``
        (raw), ``authorization`` (the raw header value or None) and ``host`` (the Host header
        or None); the last ``RECEIVED_MAX`` requests only.  Kept in memory only: it holds
        credentials, so it is never logged; the tokens and secrets this emulator issued are in
        ``sensitive_values()``.
        """
        groups = self._groups(endpoint)
        with self._lock:
            entries = list(self._received)
        return [dict(zip(RECEIVED_FIELDS, entry, strict=True)) for entry in entries if entry[0] in groups]

    def token_request_times(self) -> list[float]:
        """Epoch times at which token requests arrived (before any injected latency)."""
        with self._lock:
            return list(self._token_arrivals)

    def sensitive_values(self) -> list[str]:
        """Every secret and token this emulator ever issued (the no-leak test searches for them)."""
        with self._lock:
            return [*self._secrets_issued, *self._token_order]

    def counts(self) -> JsonDict:
        with self._lock:
            snapshot: JsonDict = json.loads(json.dumps(self._counters))
        return snapshot

    def mints(self, client_id: str | None = None) -> int:
        with self._lock:
            token = self._counters["token"]
            if client_id is None:
                return int(token["mints"])
            return int(token["by_client"].get(client_id, {}).get("mints", 0))

    def reset_counters(self) -> None:
        """Zero the counters and forget received requests; clients, tokens and rate-limit windows are kept."""
        with self._lock:
            self._counters = _new_counters()
            self._received.clear()
