"""What the emulator holds: OAuth clients, issued tokens, answers and scripted answers."""

from __future__ import annotations

import hashlib
import json
import math
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

JsonDict = dict[str, Any]


ORG_ID = "emulated-org-id"
ORG_NAME = "Emulated Org"
CLIENT_STATES = ("active", "disabled", "inactive")

TOKEN_PATH = "/oauth/token"
CONTROL_PREFIX = "/__emulator/"
WINDOW_SECONDS = 60.0
QUEUE_COUNT = 57
DEFAULT_PAGE_SIZE = 25
MAX_PAGE_SIZE = 500
EDIT_PERMISSION = "oauth:client:edit"
VIEW_PERMISSION = "oauth:client:view"
ENDPOINT_GROUPS = ("token", "api")
RATE_LIMIT_SCOPES = ("token", "client")
CANNED_ACTIONS = ("send", "reset", "drip", "stall")
RECEIVED_FIELDS = ("endpoint", "method", "path", "query", "authorization", "host")
RECEIVED_MAX = 100_000
# What a "reset" answer sends when the caller gives no body: enough bytes to cut in the middle.
RESET_FILLER = b'{"access_token": "' + b"x" * 80 + b'", "token_type": "bearer", "expires_in": 86399}'


def _iso_now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


@dataclass
class OAuthClient:
    """Emulator-side record of one Genesys OAuth client.

    ``lifetime`` is ``accessTokenValiditySeconds``.  Real Genesys only accepts
    300..172800, but the emulator takes any value >= 1 so tests can use short
    lifetimes.  ``grant_type`` is the grant the client is enabled for; anything
    other than ``client_credentials`` makes the token endpoint answer
    ``unauthorized_client``.
    """

    client_id: str
    secret: str
    name: str
    state: str = "active"
    lifetime: int = 86400
    grant_type: str = "client_credentials"
    permissions: frozenset[str] = frozenset()
    org_id: str = ORG_ID
    org_name: str = ORG_NAME
    date_created: str = field(default_factory=_iso_now)
    date_modified: str = field(default_factory=_iso_now)

    def to_api(self, *, include_secret: bool) -> JsonDict:
        """The platform ``OAuthClient`` JSON.

        Since the 2025 visibility change the secret is only returned by the
        create and regenerate POSTs, so callers pass ``include_secret`` only there.
        """
        body: JsonDict = {
            "id": self.client_id,
            "name": self.name,
            "accessTokenValiditySeconds": self.lifetime,
            "description": "",
            "registeredRedirectUri": [],
            "roleIds": [],
            "dateCreated": self.date_created,
            "dateModified": self.date_modified,
            "authorizedGrantType": self.grant_type.upper(),
            "scope": [],
            "roleDivisions": [],
            "state": self.state,
            "organization": {
                "id": self.org_id,
                "selfUri": f"/api/v2/organizations/{self.org_id}",
            },
            "selfUri": f"/api/v2/oauth/clients/{self.client_id}",
        }
        if include_secret:
            body["secret"] = self.secret
        return body


@dataclass
class _Token:
    value: str
    client_id: str
    issued_at: float
    expires_at: float
    revoked: bool = False
    requests: deque[float] = field(default_factory=deque)
    accepted: int = 0  # API requests accepted with this token over the emulator's life


@dataclass
class _Response:
    status: int
    body: JsonDict | None = None
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Canned:
    """One scripted answer, sent instead of the emulator's own (see ``script_next``).

    ``action``:

    * ``"send"``: exactly ``status``, ``headers`` and ``body`` (a dict or list is sent as
      JSON with ``Content-Type: application/json`` unless ``headers`` name one).
      ``Content-Length`` is the body's length unless ``headers`` set it (a wrong value is
      sent as given, and the connection is closed after the answer).
    * ``"reset"``: status line and headers announcing the whole body (or the
      ``Content-Length`` of ``headers``), then ``partial_bytes`` of it (default half), then
      an abortive close (RST), so the client fails mid-body.
    * ``"drip"``: status line and headers, then the body ``drip_bytes`` at a time, one chunk
      every ``drip_interval`` seconds: every read is quick, the whole answer is slow.
    * ``"stall"``: no answer at all; the connection is held until the emulator stops or
      ``stall_seconds`` (None = until stop) pass, then closed.
    """

    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes | str | JsonDict | list[Any] | None = None
    action: str = "send"
    drip_bytes: int = 1
    drip_interval: float = 0.2
    stall_seconds: float | None = None
    partial_bytes: int | None = None

    def __post_init__(self) -> None:
        if self.action not in CANNED_ACTIONS:
            raise ValueError(f"action must be one of {CANNED_ACTIONS}, not {self.action!r}")
        if not 100 <= int(self.status) <= 999:
            raise ValueError(f"status must be a three-digit HTTP status, not {self.status!r}")
        if int(self.drip_bytes) < 1 or not float(self.drip_interval) >= 0:
            raise ValueError("drip_bytes must be >= 1 and drip_interval >= 0")
        if self.stall_seconds is not None and not float(self.stall_seconds) >= 0:
            raise ValueError("stall_seconds must be >= 0 or None")
        if self.partial_bytes is not None and int(self.partial_bytes) < 0:
            raise ValueError("partial_bytes must be >= 0")

    def payload(self) -> bytes:
        body = self.body
        if body is None:
            return RESET_FILLER if self.action == "reset" else b""
        if isinstance(body, bytes):
            return body
        if isinstance(body, str):
            return body.encode("utf-8")
        return json.dumps(body).encode("utf-8")

    def header(self, name: str) -> str | None:
        for key, value in self.headers.items():
            if key.lower() == name.lower():
                return value
        return None


def _new_counters() -> JsonDict:
    return {
        "token": {
            "requests": 0,
            "mints": 0,
            "errors": {},
            "status": {},
            "by_client": {},
        },
        "api": {"requests": 0, "by_path": {}, "status": {}, "by_client": {}},
        "regenerations": 0,
    }


def _bump(mapping: JsonDict, key: str, amount: int = 1) -> None:
    mapping[key] = mapping.get(key, 0) + amount


def _fingerprint(token: str) -> str:
    # Same rule as genesys_auth.fingerprint.fingerprint, restated so the harness does not import the product.
    return hashlib.sha256(token.encode("utf-8")).hexdigest()[:12]


def _check_api_rate_limit(limit: int, window: float, scope: str) -> None:
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 0:
        raise ValueError(f"api rate limit must be an int >= 0, not {limit!r}")
    if not (isinstance(window, int | float) and math.isfinite(window) and window > 0):
        raise ValueError(f"api rate window must be a finite number of seconds > 0, not {window!r}")
    if scope not in RATE_LIMIT_SCOPES:
        raise ValueError(f"rate limit scope must be one of {RATE_LIMIT_SCOPES}, not {scope!r}")
