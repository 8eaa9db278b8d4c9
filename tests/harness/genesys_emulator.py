"""In-process emulator of the Genesys Cloud login (OAuth) and Platform API hosts.

One real HTTP server (stdlib ``ThreadingHTTPServer``) serves both host roles on
one base URL, so a client can be configured with
``GENESYS_LOGIN_URL = GENESYS_API_URL = emulator.url``.

Behaviour follows ``/work/shared/reference/genesys-cloud.md``.  Choices made where
the reference marks a fact as unverified are called out in the docstrings below
(search for "UNVERIFIED").

Routes
------
Login host:
    ``POST /oauth/token`` (client-credentials grant, HTTP Basic client auth)
Platform API host (``Authorization: Bearer <token>``):
    ``GET /api/v2/organizations/me``
    ``GET|HEAD|DELETE /api/v2/tokens/me``
    ``GET /api/v2/routing/queues?pageSize=&pageNumber=``
    ``GET /api/v2/oauth/clients/{id}``
    ``POST /api/v2/oauth/clients/{id}/secret``
Test control plane (never counted):
    ``GET /__emulator/counts``, ``POST /__emulator/control``

Run standalone with ``python -m tests.harness.genesys_emulator --help``.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import contextlib
import hashlib
import http
import json
import math
import secrets
import signal
import socket
import struct
import sys
import threading
import time
import traceback
import uuid
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import FrameType, TracebackType
from typing import Any, Self
from urllib.parse import parse_qs, unquote, urlsplit

__all__ = [
    "CANNED_ACTIONS",
    "CLIENT_STATES",
    "ORG_ID",
    "ORG_NAME",
    "Canned",
    "GenesysEmulator",
    "OAuthClient",
    "main",
]

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

# Exact texts from the reference file (section 3).
MSG_AUTH_FAILED = "authentication failed"
MSG_CLIENT_NOT_FOUND = "client not found"
MSG_UNAUTHORIZED_CLIENT = "client is not authorized to use the client_credential grant type"
MSG_TOKEN_RATE_LIMIT = "rate limit exceeded; retry later"
MSG_AUTH_REQUIRED = "No authentication bearer token specified in authorization header."
MSG_BAD_CREDENTIALS = "Invalid login credentials."

JsonDict = dict[str, Any]


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


def _oauth_error(status: int, error: str, description: str) -> _Response:
    return _Response(
        status,
        {"error": error, "description": description, "error_description": description},
    )


def _platform_error(status: int, code: str, message: str, headers: dict[str, str] | None = None) -> _Response:
    # contextId and the ININ-Correlation-Id header are filled in when the answer is sent.
    return _Response(
        status,
        {
            "message": message,
            "code": code,
            "status": status,
            "details": [],
            "errors": [],
        },
        dict(headers or {}),
    )


_SERVER_ERROR_CODES: dict[int, str] = {
    500: "internal.server.error",
    502: "bad.gateway",
    503: "service.unavailable",
    504: "gateway.timeout",
}


def _server_error(status: int) -> _Response:
    if status == 401:
        return _platform_error(401, "bad.credentials", "Invalid login credentials.")
    try:
        phrase = http.HTTPStatus(status).phrase
    except ValueError:
        phrase = "Server Error"
    code = _SERVER_ERROR_CODES.get(status, "server.error")
    return _platform_error(status, code, phrase)


def _queue_entities() -> list[JsonDict]:
    namespace = uuid.UUID("0b5c4a6e-6a57-4c7e-9d3e-2f0e8f3c1a00")
    return [
        {
            "id": str(uuid.uuid5(namespace, f"queue-{i}")),
            "name": f"Emulated Queue {i:03d}",
            "selfUri": f"/api/v2/routing/queues/{uuid.uuid5(namespace, f'queue-{i}')}",
        }
        for i in range(1, QUEUE_COUNT + 1)
    ]


QUEUES: tuple[JsonDict, ...] = tuple(_queue_entities())


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    # The stdlib default backlog (5) makes bursts of concurrent clients wait
    # for SYN retransmits (~1 s); tests fire many requests at once.
    request_queue_size = 128

    def __init__(self, address: tuple[str, int], emulator: GenesysEmulator) -> None:
        self.emulator = emulator
        super().__init__(address, _Handler)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "GenesysEmulator/1.0"
    # Idle keep-alive connections are dropped after this many seconds.
    timeout = 30

    server: _Server

    def version_string(self) -> str:
        return self.server_version

    # --- connection bookkeeping (so stop() can cut keep-alive connections) ---
    def setup(self) -> None:
        super().setup()
        # Headers and body go out in separate writes: without TCP_NODELAY, Nagle plus the
        # client's delayed ACK add ~40 ms to every keep-alive answer.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.server.emulator._register_connection(self.connection)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.emulator._unregister_connection(self.connection)

    def log_message(self, format: str, *args: Any) -> None:
        if self.server.emulator.verbose:
            sys.stderr.write(f"[genesys-emulator] {format % args}\n")

    # --- verbs ---
    def do_GET(self) -> None:
        self._dispatch()

    def do_POST(self) -> None:
        self._dispatch()

    def do_HEAD(self) -> None:
        self._dispatch()

    def do_DELETE(self) -> None:
        self._dispatch()

    def do_PUT(self) -> None:
        self._dispatch()

    def do_PATCH(self) -> None:
        self._dispatch()

    def _read_body(self) -> bytes:
        length = self.headers.get("Content-Length")
        if not length:
            return b""
        try:
            size = int(length)
        except ValueError:
            return b""
        return self.rfile.read(size) if size > 0 else b""

    def _dispatch(self) -> None:
        body = self._read_body()
        emulator = self.server.emulator
        response: _Response | Canned
        try:
            response = emulator._handle(self.command, self.path, self.headers, body)
        except Exception:
            traceback.print_exc()
            response = _server_error(500)
        if isinstance(response, Canned):
            self._send_canned(response)
        else:
            self._send(response)

    # --- scripted answers ---
    def _send_canned(self, canned: Canned) -> None:
        stopping = self.server.emulator._stopping
        if canned.action == "stall":
            stopping.wait(canned.stall_seconds)
            self.close_connection = True
            return
        payload = canned.payload()
        announced = canned.header("Content-Length")
        self.send_response_only(canned.status)
        for name, value in canned.headers.items():
            self.send_header(name, value)
        if isinstance(canned.body, dict | list) and canned.header("Content-Type") is None:
            self.send_header("Content-Type", "application/json")
        if announced is None:
            self.send_header("Content-Length", str(len(payload)))
        else:
            # The caller's length may be a lie; what follows on this connection cannot be trusted.
            self.close_connection = True
        self.end_headers()
        if self.command == "HEAD":
            return
        try:
            if canned.action == "send":
                self.wfile.write(payload)
            elif canned.action == "reset":
                cut = len(payload) // 2 if canned.partial_bytes is None else min(canned.partial_bytes, len(payload))
                self.wfile.write(payload[:cut])
                self._abort()
            else:
                step = int(canned.drip_bytes)
                for start in range(0, len(payload), step):
                    if stopping.wait(canned.drip_interval):
                        break
                    self.wfile.write(payload[start : start + step])
        except OSError:
            # The client gave up (its own deadline): nothing left to answer.
            self.close_connection = True

    def _abort(self) -> None:
        """Close with RST instead of FIN, as a crashed peer or a middlebox would."""
        self.close_connection = True
        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        # rfile holds a reference to the socket; the descriptor only closes once both are closed.
        self.rfile.close()
        self.connection.close()

    def _send(self, response: _Response) -> None:
        correlation_id = str(uuid.uuid4())
        body = response.body
        if body is not None and "status" in body and "code" in body and "contextId" not in body:
            body["contextId"] = correlation_id
        payload = b"" if body is None else json.dumps(body).encode("utf-8")
        self.send_response(response.status)
        self.send_header("ININ-Correlation-Id", correlation_id)
        if body is not None:
            self.send_header("Content-Type", "application/json")
        for name, value in response.headers.items():
            self.send_header(name, value)
        # HEAD answers never carry a body; keep the length at 0 so clients do not wait.
        if self.command == "HEAD":
            payload = b""
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        if payload:
            self.wfile.write(payload)


class GenesysEmulator:
    """Thread-safe Genesys Cloud emulator; all mutable state sits behind one lock.

    Deliberate choices where the reference is UNVERIFIED:

    * ``invalid_client`` answers use HTTP **401** (real status unknown: 400 or 401).
    * The token-endpoint rate limit (HTTP 400 ``invalid_request``) carries no
      ``Retry-After`` header unless ``token_rate_limit_retry_after`` is set.
    * A regenerated secret replaces the old one at once (no grace period); issued
      tokens survive iff ``tokens_survive_regeneration``.
    * Tokens are checked in this order: unknown, revoked, expired, client
      ``disabled`` -> all ``bad.credentials``.  An ``inactive`` client cannot mint
      but its existing tokens keep working (the model docs only say "disabled"
      invalidates tokens).
    * ``HEAD /api/v2/tokens/me`` answers 200/401 with no body.
    * Requests are authenticated before routing, so an unknown path without a
      valid token answers 401, with a valid token 404 ``not.found``.
    * ``GET /api/v2/oauth/clients/{id}`` needs ``oauth:client:view`` or
      ``oauth:client:edit``; ``POST .../secret`` needs ``oauth:client:edit``.
    * A token is valid until ``issued_at + lifetime``; the answered ``expires_in``
      is ``lifetime - 1`` (minimum 1), as Genesys answers 86399 for 86400.
    * The per-token API limit is a sliding window (``api_rate_window``, 60 s by
      default) over *accepted* requests; rejected (429) requests do not extend it.
      ``rate_limit_scope="client"`` makes all tokens of one OAuth client share one
      window and count (the reading of the limit the reference cannot rule out).
    """

    #: Set to an int (on the class or an instance) to add ``Retry-After`` to
    #: token-endpoint rate-limit answers; None (default) sends no such header.
    token_rate_limit_retry_after: int | None = None

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        token_rate_limit: int | None = None,
        api_rate_limit: int = 300,
        api_rate_window: float = WINDOW_SECONDS,
        rate_limit_scope: str = "token",
        tokens_survive_regeneration: bool = True,
        verbose: bool = False,
    ) -> None:
        self.host = host
        self.port = port
        self.token_rate_limit = token_rate_limit
        self.api_rate_limit = api_rate_limit
        self.api_rate_window = api_rate_window
        self.rate_limit_scope = rate_limit_scope
        _check_api_rate_limit(api_rate_limit, api_rate_window, rate_limit_scope)
        self.tokens_survive_regeneration = tokens_survive_regeneration
        self.verbose = verbose
        self._lock = threading.Lock()
        self._clients: dict[str, OAuthClient] = {}
        self._secrets_issued: list[str] = []
        self._token_arrivals: list[float] = []
        self._tokens: dict[str, _Token] = {}
        self._token_order: list[str] = []
        self._mint_windows: dict[str, deque[float]] = {}
        # Accepted API requests per client, kept whatever the scope so it can switch at runtime.
        self._client_windows: dict[str, deque[float]] = {}
        self._api_rate_limited = 0
        self._latency: dict[str, float] = {"token": 0.0, "api": 0.0}
        self._fail_next: dict[str, deque[int]] = {"token": deque(), "api": deque()}
        self._rate_limit_next: dict[str, deque[int]] = {
            "token": deque(),
            "api": deque(),
        }
        self._counters: JsonDict = _new_counters()
        self._scripted: dict[str, deque[Canned]] = {"token": deque(), "api": deque()}
        # Credentials as received: memory only, never logged (they hold tokens and secrets).
        # Bounded so a long benchmark cannot grow it without end.
        self._received: deque[tuple[str | None, ...]] = deque(maxlen=RECEIVED_MAX)
        # Set by stop(): scripted answers that stall or drip end with the emulator.
        self._stopping = threading.Event()
        self._connections: set[socket.socket] = set()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    # ------------------------------------------------------------------ lifecycle
    @property
    def url(self) -> str:
        if self._server is None:
            raise RuntimeError("emulator not started")
        host, port = self._server.server_address[:2]
        if isinstance(host, bytes):
            host = host.decode()
        return f"http://{host}:{port}"

    def start(self) -> Self:
        if self._server is not None:
            raise RuntimeError("emulator already started")
        server = _Server((self.host, self.port), self)
        self._stopping.clear()
        self._server = server
        self.port = int(server.server_address[1])
        self._thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": 0.02},
            name=f"genesys-emulator-{self.port}",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        server, thread = self._server, self._thread
        if server is None:
            return
        self._stopping.set()
        server.shutdown()
        server.server_close()
        with self._lock:
            connections = list(self._connections)
            self._connections.clear()
        for conn in connections:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
        if thread is not None:
            thread.join(timeout=5)
        self._server = None
        self._thread = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def _register_connection(self, conn: socket.socket) -> None:
        with self._lock:
            self._connections.add(conn)

    def _unregister_connection(self, conn: socket.socket) -> None:
        with self._lock:
            self._connections.discard(conn)

    # ------------------------------------------------------------------ clients
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

    def _client_locked(self, client_id: str) -> OAuthClient:
        try:
            return self._clients[client_id]
        except KeyError:
            raise KeyError(f"unknown client {client_id!r}") from None

    # ------------------------------------------------------------------ faults
    def set_latency(self, seconds: float, endpoint: str | None = None) -> None:
        """Delay every answer of the group ("token", "api", or None = both)."""
        if seconds < 0:
            raise ValueError("latency must be >= 0")
        with self._lock:
            for group in self._groups(endpoint):
                self._latency[group] = float(seconds)

    def fail_next(self, n: int, status: int = 503, endpoint: str = "token") -> None:
        """The next ``n`` answers of the group are ``status`` (5xx) platform errors.

        ``status=401`` on "api" answers ``bad.credentials`` whatever the token: a token that
        Genesys keeps rejecting although it was just minted (the "permanent 401" case).
        """
        if not (500 <= status <= 599 or (status == 401 and endpoint == "api")):
            raise ValueError("status must be a 5xx code (or 401 for the api group)")
        (group,) = self._groups(endpoint)
        with self._lock:
            self._fail_next[group].extend([status] * n)

    def rate_limit_next(self, n: int, endpoint: str = "token", retry_after: int = 1) -> None:
        """The next ``n`` answers of the group are rate-limit answers.

        token: HTTP 400 ``invalid_request`` "rate limit exceeded; ..." (``retry_after``
        is only used if ``token_rate_limit_retry_after`` is set, which then wins);
        api: HTTP 429 normalized body with ``Retry-After: retry_after``.
        """
        (group,) = self._groups(endpoint)
        with self._lock:
            self._rate_limit_next[group].extend([int(retry_after)] * n)

    def set_api_rate_limit(self, limit: int, *, window: float | None = None, scope: str | None = None) -> None:
        """Change the Platform API limit: ``limit`` requests per ``window`` seconds per ``scope``.

        ``window`` and ``scope`` keep their current values when omitted.  Requests already
        accepted stay in their windows, so a lower limit applies at once.
        """
        new_window = self.api_rate_window if window is None else float(window)
        new_scope = self.rate_limit_scope if scope is None else scope
        _check_api_rate_limit(limit, new_window, new_scope)
        with self._lock:
            self.api_rate_limit = int(limit)
            self.api_rate_window = new_window
            self.rate_limit_scope = new_scope

    def api_rate_limited(self) -> int:
        """How many 429s the per-token (or per-client) limit answered over the emulator's life.

        Injected ``rate_limit_next`` answers and canned answers are not included.
        """
        with self._lock:
            return self._api_rate_limited

    def script_next(self, endpoint: str, *answers: Canned) -> None:
        """Queue scripted answers for the next requests of the group, one answer per request.

        ``endpoint`` is "token" (POST /oauth/token) or "api" (everything else but the control
        plane).  A scripted answer replaces all normal processing (authentication, latency,
        rate limits, injected faults) and is counted like any request of its group: requests,
        path, and the status it sends (a stall sends none).
        """
        (group,) = self._groups(endpoint)
        for answer in answers:
            if not isinstance(answer, Canned):
                raise TypeError(f"script_next takes Canned answers, not {type(answer).__name__}")
        with self._lock:
            self._scripted[group].extend(answers)

    def reset_faults(self) -> None:
        """Clear latency, pending fail/rate-limit injections and scripted answers (extra helper)."""
        with self._lock:
            for group in ENDPOINT_GROUPS:
                self._scripted[group].clear()
                self._latency[group] = 0.0
                self._fail_next[group].clear()
                self._rate_limit_next[group].clear()

    @staticmethod
    def _groups(endpoint: str | None) -> tuple[str, ...]:
        if endpoint is None:
            return ENDPOINT_GROUPS
        if endpoint not in ENDPOINT_GROUPS:
            raise ValueError(f"endpoint must be one of {ENDPOINT_GROUPS} or None, not {endpoint!r}")
        return (endpoint,)

    # ------------------------------------------------------------------ tokens
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

    # ------------------------------------------------------------------ counters
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

    # ------------------------------------------------------------------ HTTP entry
    def _handle(self, method: str, raw_path: str, headers: Message[str, str], body: bytes) -> _Response | Canned:
        parts = urlsplit(raw_path)
        path = unquote(parts.path)
        query = parse_qs(parts.query)
        if path.startswith(CONTROL_PREFIX):
            return self._handle_control(method, path, body)
        group = "token" if path == TOKEN_PATH else "api"
        with self._lock:
            self._received.append((group, method, path, parts.query, headers.get("Authorization"), headers.get("Host")))
            latency = self._latency[group]
            if group == "token":
                self._token_arrivals.append(time.time())
            if self._scripted[group]:
                canned = self._scripted[group].popleft()
                self._count_scripted_locked(group, path, headers, canned)
                return canned
        if latency > 0:
            time.sleep(latency)
        if group == "token":
            return self._handle_token(method, headers, body)
        return self._handle_api(method, path, query, headers)

    def _count_scripted_locked(self, group: str, path: str, headers: Message[str, str], canned: Canned) -> None:
        counters = self._counters[group]
        counters["requests"] += 1
        if group == "token":
            basic = _parse_basic(headers.get("Authorization"))
            if basic is not None:
                per_client = counters["by_client"].setdefault(basic[0], {"mints": 0, "requests": 0})
                per_client["requests"] += 1
        else:
            _bump(counters["by_path"], path)
        if canned.action != "stall":
            _bump(counters["status"], str(canned.status))

    # ------------------------------------------------------------------ login host
    def _handle_token(self, method: str, headers: Message[str, str], body: bytes) -> _Response:
        basic = _parse_basic(headers.get("Authorization"))
        with self._lock:
            counters = self._counters["token"]
            counters["requests"] += 1
            if basic is not None:
                per_client = counters["by_client"].setdefault(basic[0], {"mints": 0, "requests": 0})
                per_client["requests"] += 1
            response, error_key = self._token_answer_locked(method, headers, body, basic)
            _bump(counters["status"], str(response.status))
            if error_key is not None:
                _bump(counters["errors"], error_key)
            return response

    def _token_answer_locked(
        self,
        method: str,
        headers: Message[str, str],
        body: bytes,
        basic: tuple[str, str] | None,
    ) -> tuple[_Response, str | None]:
        if self._fail_next["token"]:
            status = self._fail_next["token"].popleft()
            return _server_error(status), f"http_{status}"
        if self._rate_limit_next["token"]:
            self._rate_limit_next["token"].popleft()  # retry_after unused here (see rate_limit_next)
            return self._token_rate_limited(), "rate_limited"
        if method != "POST":
            resp = _oauth_error(405, "invalid_request", f"method {method} not allowed")
            resp.headers["Allow"] = "POST"
            return resp, "invalid_request"
        if basic is None:
            return _oauth_error(401, "invalid_client", MSG_AUTH_FAILED), "invalid_client"
        client_id, secret = basic
        record = self._clients.get(client_id)
        if record is None:
            return _oauth_error(401, "invalid_client", MSG_CLIENT_NOT_FOUND), "invalid_client"
        if not secrets.compare_digest(record.secret.encode(), secret.encode()):
            return _oauth_error(401, "invalid_client", MSG_AUTH_FAILED), "invalid_client"
        if record.state != "active":
            return _oauth_error(401, "invalid_client", MSG_AUTH_FAILED), "invalid_client"
        content_type = (headers.get("Content-Type") or "").split(";")[0].strip().lower()
        if content_type != "application/x-www-form-urlencoded":
            return (
                _oauth_error(
                    400,
                    "invalid_request",
                    "content type must be application/x-www-form-urlencoded",
                ),
                "invalid_request",
            )
        form = parse_qs(body.decode("utf-8", errors="replace"), keep_blank_values=True)
        grant_types = form.get("grant_type", [])
        if not grant_types or not grant_types[0]:
            return (
                _oauth_error(400, "invalid_request", "missing grant_type"),
                "invalid_request",
            )
        if grant_types[0] != "client_credentials" or record.grant_type != "client_credentials":
            return (
                _oauth_error(400, "unauthorized_client", MSG_UNAUTHORIZED_CLIENT),
                "unauthorized_client",
            )
        now = time.time()
        window = self._mint_windows.setdefault(client_id, deque())
        while window and window[0] <= now - WINDOW_SECONDS:
            window.popleft()
        if self.token_rate_limit is not None and len(window) >= self.token_rate_limit:
            return self._token_rate_limited(), "rate_limited"
        window.append(now)
        return self._mint_locked(record, now), None

    def _token_rate_limited(self) -> _Response:
        response = _oauth_error(400, "invalid_request", MSG_TOKEN_RATE_LIMIT)
        configured = self.token_rate_limit_retry_after
        if configured is not None:
            response.headers["Retry-After"] = str(int(configured))
        return response

    def _mint_locked(self, record: OAuthClient, now: float) -> _Response:
        value = secrets.token_urlsafe(60)  # 80 URL-safe chars, opaque, no dots
        while value in self._tokens:  # pragma: no cover - astronomically unlikely
            value = secrets.token_urlsafe(60)
        self._tokens[value] = _Token(
            value=value,
            client_id=record.client_id,
            issued_at=now,
            expires_at=now + record.lifetime,
        )
        self._token_order.append(value)
        counters = self._counters["token"]
        counters["mints"] += 1
        per_client = counters["by_client"].setdefault(record.client_id, {"mints": 0, "requests": 0})
        per_client["mints"] += 1
        return _Response(
            200,
            {
                "access_token": value,
                "token_type": "bearer",
                "expires_in": max(1, record.lifetime - 1),
            },
            {"Cache-Control": "no-store", "Pragma": "no-cache"},
        )

    # ------------------------------------------------------------------ API host
    def _handle_api(
        self,
        method: str,
        path: str,
        query: dict[str, list[str]],
        headers: Message[str, str],
    ) -> _Response:
        with self._lock:
            counters = self._counters["api"]
            counters["requests"] += 1
            _bump(counters["by_path"], path)
            response = self._api_answer_locked(method, path, query, headers)
            _bump(counters["status"], str(response.status))
            return response

    def _api_answer_locked(
        self,
        method: str,
        path: str,
        query: dict[str, list[str]],
        headers: Message[str, str],
    ) -> _Response:
        if self._fail_next["api"]:
            return _server_error(self._fail_next["api"].popleft())
        if self._rate_limit_next["api"]:
            return _too_many_requests(self._rate_limit_next["api"].popleft())

        bearer = _parse_bearer(headers.get("Authorization"))
        if bearer is None:
            return _platform_error(401, "authentication.required", MSG_AUTH_REQUIRED)
        now = time.time()
        token = self._tokens.get(bearer)
        record = self._clients.get(token.client_id) if token is not None else None
        if token is None or record is None or token.revoked or now >= token.expires_at or record.state == "disabled":
            return _platform_error(401, "bad.credentials", MSG_BAD_CREDENTIALS)

        span = self.api_rate_window
        client_window = self._client_windows.setdefault(record.client_id, deque())
        for each in (token.requests, client_window):
            while each and each[0] <= now - span:
                each.popleft()
        window = token.requests if self.rate_limit_scope == "token" else client_window
        # Seconds until the oldest accepted request leaves the window and frees one slot.
        reset = max(1, math.ceil(window[0] + span - now)) if window else max(1, math.ceil(span))
        if len(window) >= self.api_rate_limit:
            self._api_rate_limited += 1
            response = _too_many_requests(reset)
            response.headers.update(
                {
                    "inin-ratelimit-count": str(len(window)),
                    "inin-ratelimit-allowed": str(self.api_rate_limit),
                    "inin-ratelimit-reset": str(reset),
                }
            )
            return response
        token.requests.append(now)
        token.accepted += 1
        client_window.append(now)
        per_client = self._counters["api"]["by_client"].setdefault(record.client_id, {"requests": 0})
        per_client["requests"] += 1

        response = self._route_locked(method, path, query, token, record)
        response.headers.update(
            {
                "inin-ratelimit-count": str(len(window)),
                "inin-ratelimit-allowed": str(self.api_rate_limit),
                "inin-ratelimit-reset": str(reset),
            }
        )
        return response

    def _route_locked(
        self,
        method: str,
        path: str,
        query: dict[str, list[str]],
        token: _Token,
        record: OAuthClient,
    ) -> _Response:
        segments = [s for s in path.split("/") if s]
        if path.rstrip("/") == "/api/v2/organizations/me" and method == "GET":
            return _Response(200, self._organization())
        if path.rstrip("/") == "/api/v2/tokens/me":
            if method in ("GET", "HEAD"):
                body = None if method == "HEAD" else self._token_info(record)
                return _Response(200, body)
            if method == "DELETE":
                token.revoked = True
                return _Response(204)
        if path.rstrip("/") == "/api/v2/routing/queues" and method == "GET":
            return _queues_page(query)
        if segments[:3] == ["api", "v2", "oauth"] and len(segments) >= 5 and segments[3] == "clients":
            target_id = segments[4]
            if len(segments) == 5 and method == "GET":
                if not record.permissions & {VIEW_PERMISSION, EDIT_PERMISSION}:
                    return _missing_permission(VIEW_PERMISSION)
                target = self._clients.get(target_id)
                if target is None:
                    return _not_found(f"OAuth client {target_id} not found")
                return _Response(200, target.to_api(include_secret=False))
            if len(segments) == 6 and segments[5] == "secret" and method == "POST":
                if EDIT_PERMISSION not in record.permissions:
                    return _missing_permission(EDIT_PERMISSION)
                if target_id not in self._clients:
                    return _not_found(f"OAuth client {target_id} not found")
                self._regenerate_locked(target_id)
                return _Response(200, self._clients[target_id].to_api(include_secret=True))
        return _not_found("The requested resource was not found.")

    def _organization(self) -> JsonDict:
        return {
            "id": ORG_ID,
            "name": ORG_NAME,
            "defaultLanguage": "en-us",
            "defaultCountryCode": "US",
            "thirdPartyOrgName": "emulated-org",
            "domain": "emulated",
            "version": 1,
            "state": "active",
            "defaultSiteId": "",
            "deletable": False,
            "selfUri": f"/api/v2/organizations/{ORG_ID}",
        }

    def _token_info(self, record: OAuthClient) -> JsonDict:
        org = {
            "id": record.org_id,
            "name": record.org_name,
            "selfUri": f"/api/v2/organizations/{record.org_id}",
        }
        return {
            "organization": dict(org),
            "homeOrganization": dict(org),
            "authorizedScope": [],
            "OAuthClient": {
                "id": record.client_id,
                "name": record.name,
                "dateCreated": record.date_created,
                "authorizedGrantType": record.grant_type.upper(),
                "scope": [],
                "roleDivisions": [],
                "state": record.state,
                "organization": {"id": record.org_id},
                "selfUri": f"/api/v2/oauth/clients/{record.client_id}",
            },
        }

    # ------------------------------------------------------------------ control plane
    def _handle_control(self, method: str, path: str, body: bytes) -> _Response:
        if path == "/__emulator/counts" and method == "GET":
            return _Response(200, self.counts())
        if path == "/__emulator/health" and method == "GET":
            return _Response(200, {"ok": True})
        if path != "/__emulator/control" or method != "POST":
            return _Response(404, {"ok": False, "error": f"no control route {method} {path}"})
        try:
            payload = json.loads(body or b"{}")
        except json.JSONDecodeError as exc:
            return _Response(400, {"ok": False, "error": f"invalid JSON: {exc}"})
        if not isinstance(payload, dict) or not isinstance(payload.get("op"), str):
            return _Response(400, {"ok": False, "error": 'body must be {"op": "<name>", ...}'})
        op = payload.pop("op")
        handler = self._control_ops().get(op)
        if handler is None:
            return _Response(
                400,
                {
                    "ok": False,
                    "error": f"unknown op {op!r}",
                    "ops": sorted(self._control_ops()),
                },
            )
        try:
            result = handler(payload)
        except KeyError as exc:
            return _Response(404, {"ok": False, "error": str(exc.args[0] if exc.args else exc)})
        except (TypeError, ValueError) as exc:
            return _Response(400, {"ok": False, "error": str(exc)})
        return _Response(200, {"ok": True, "op": op, **result})

    def _control_ops(self) -> dict[str, Callable[[JsonDict], JsonDict]]:
        def add_client(kw: JsonDict) -> JsonDict:
            record = self.add_client(**kw)
            return {
                "client_id": record.client_id,
                "secret": record.secret,
                "name": record.name,
                "lifetime": record.lifetime,
                "state": record.state,
                "grant_type": record.grant_type,
                "permissions": sorted(record.permissions),
            }

        def set_survive(kw: JsonDict) -> JsonDict:
            value = kw.get("value", kw.get("tokens_survive_regeneration"))
            if not isinstance(value, bool):
                raise TypeError('set_tokens_survive_regeneration needs {"value": true|false}')
            self.tokens_survive_regeneration = value
            return {"tokens_survive_regeneration": value}

        def regenerate(kw: JsonDict) -> JsonDict:
            client_id = kw["client_id"]
            return {"client_id": client_id, "secret": self.regenerate_secret(client_id)}

        def revoke_client(kw: JsonDict) -> JsonDict:
            return {"revoked": self.revoke_client_tokens(**kw)}

        def revoke_token(kw: JsonDict) -> JsonDict:
            self.revoke_token(**kw)
            return {}

        def set_latency(kw: JsonDict) -> JsonDict:
            self.set_latency(**kw)
            return {}

        def fail_next(kw: JsonDict) -> JsonDict:
            self.fail_next(**kw)
            return {}

        def rate_limit_next(kw: JsonDict) -> JsonDict:
            self.rate_limit_next(**kw)
            return {}

        def set_api_rate_limit(kw: JsonDict) -> JsonDict:
            self.set_api_rate_limit(**kw)
            return {
                "limit": self.api_rate_limit,
                "window": self.api_rate_window,
                "scope": self.rate_limit_scope,
            }

        def script_next(kw: JsonDict) -> JsonDict:
            endpoint = kw.pop("endpoint", None)
            answers = kw.pop("answers", None)
            if kw or not isinstance(answers, list) or not all(isinstance(a, dict) for a in answers):
                raise TypeError('script_next needs {"endpoint": "token"|"api", "answers": [{Canned fields}, ...]}')
            self.script_next(endpoint, *(Canned(**answer) for answer in answers))
            return {"queued": len(answers)}

        def reset_counters(kw: JsonDict) -> JsonDict:
            self.reset_counters(**kw)
            return {}

        def reset_faults(kw: JsonDict) -> JsonDict:
            self.reset_faults(**kw)
            return {}

        def set_client_state(kw: JsonDict) -> JsonDict:
            self.set_client_state(**kw)
            return {}

        def expire_tokens(kw: JsonDict) -> JsonDict:
            return {"expired": self.expire_tokens(**kw)}

        def issued_tokens(kw: JsonDict) -> JsonDict:
            return {"tokens": self.issued_tokens(**kw)}

        def counts(kw: JsonDict) -> JsonDict:
            if kw:
                raise TypeError("counts takes no arguments")
            return {"counts": self.counts()}

        return {
            "add_client": add_client,
            "set_tokens_survive_regeneration": set_survive,
            "regenerate_secret": regenerate,
            "revoke_client_tokens": revoke_client,
            "revoke_token": revoke_token,
            "set_latency": set_latency,
            "fail_next": fail_next,
            "rate_limit_next": rate_limit_next,
            "set_api_rate_limit": set_api_rate_limit,
            "script_next": script_next,
            "reset_counters": reset_counters,
            "reset_faults": reset_faults,
            "set_client_state": set_client_state,
            "expire_tokens": expire_tokens,
            "issued_tokens": issued_tokens,
            "counts": counts,
        }


# ---------------------------------------------------------------------- helpers
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


def _parse_basic(header: str | None) -> tuple[str, str] | None:
    if not header:
        return None
    scheme, _, encoded = header.strip().partition(" ")
    if scheme.lower() != "basic" or not encoded.strip():
        return None
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None
    client_id, sep, secret = decoded.partition(":")
    if not sep or not client_id:
        return None
    return client_id, secret


def _parse_bearer(header: str | None) -> str | None:
    if not header:
        return None
    scheme, _, value = header.strip().partition(" ")
    value = value.strip()
    if scheme.lower() != "bearer" or not value:
        return None
    return value


def _too_many_requests(retry_after: int) -> _Response:
    seconds = max(1, int(retry_after))
    return _platform_error(
        429,
        "too.many.requests.retry.after",
        f"Rate limit exceeded the maximum. Retry the request in [{seconds}] seconds",
        {"Retry-After": str(seconds)},
    )


def _not_found(message: str) -> _Response:
    return _platform_error(404, "not.found", message)


def _missing_permission(permission: str) -> _Response:
    return _platform_error(
        403,
        "missing.permissions",
        f"Unable to perform the requested action. You are missing the following permission(s): [{permission}]",
    )


def _bad_request(message: str) -> _Response:
    return _platform_error(400, "bad.request", message)


def _queues_page(query: dict[str, list[str]]) -> _Response:
    def int_param(name: str, default: int) -> int | None:
        values = query.get(name)
        if not values or values[0] == "":
            return default
        try:
            return int(values[0])
        except ValueError:
            return None

    page_size = int_param("pageSize", DEFAULT_PAGE_SIZE)
    page_number = int_param("pageNumber", 1)
    if page_size is None or not 1 <= page_size <= MAX_PAGE_SIZE:
        return _bad_request(f"The pageSize must be between 1 and {MAX_PAGE_SIZE}.")
    if page_number is None or page_number < 1:
        return _bad_request("The pageNumber must be a positive integer.")
    total = len(QUEUES)
    page_count = math.ceil(total / page_size)
    start = (page_number - 1) * page_size
    entities = [dict(q) for q in QUEUES[start : start + page_size]]

    def uri(number: int) -> str:
        return f"/api/v2/routing/queues?pageSize={page_size}&pageNumber={number}"

    body: JsonDict = {
        "entities": entities,
        "pageSize": page_size,
        "pageNumber": page_number,
        "total": total,
        "pageCount": page_count,
        "firstUri": uri(1),
        "selfUri": uri(page_number),
        "lastUri": uri(page_count),
    }
    if page_number < page_count:
        body["nextUri"] = uri(page_number + 1)
    if page_number > 1:
        body["previousUri"] = uri(page_number - 1)
    return _Response(200, body)


# ---------------------------------------------------------------------- standalone
def _parse_client_spec(spec: str) -> tuple[str, str, int, list[str]]:
    """``ID:SECRET[:LIFETIME[:PERM,PERM...]]``."""
    parts = spec.split(":", 3)
    if len(parts) < 2 or not parts[0] or not parts[1]:
        raise argparse.ArgumentTypeError(f"--client expects ID:SECRET[:LIFETIME[:PERMS]], got {spec!r}")
    lifetime = 86400
    if len(parts) >= 3 and parts[2]:
        try:
            lifetime = int(parts[2])
        except ValueError:
            raise argparse.ArgumentTypeError(f"bad LIFETIME in {spec!r}") from None
    perms = [p for p in parts[3].split(",") if p] if len(parts) == 4 else []
    return parts[0], parts[1], lifetime, perms


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tests.harness.genesys_emulator",
        description="Run the Genesys Cloud emulator until SIGINT/SIGTERM.",
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 = random free port")
    parser.add_argument(
        "--client",
        action="append",
        default=[],
        type=_parse_client_spec,
        metavar="ID:SECRET[:LIFETIME[:PERMS]]",
        help="register a client (repeatable); PERMS is a comma-separated permission list",
    )
    parser.add_argument("--token-rate-limit", type=int, default=None)
    parser.add_argument("--api-rate-limit", type=int, default=300)
    parser.add_argument("--api-rate-window", type=float, default=WINDOW_SECONDS, help="seconds (sliding window)")
    parser.add_argument("--rate-limit-scope", choices=RATE_LIMIT_SCOPES, default="token")
    parser.add_argument(
        "--revoke-tokens-on-regeneration",
        action="store_true",
        help="tokens do not survive a secret regeneration",
    )
    parser.add_argument("--verbose", action="store_true", help="log every request to stderr")
    args = parser.parse_args(argv)

    emulator = GenesysEmulator(
        host=args.host,
        port=args.port,
        token_rate_limit=args.token_rate_limit,
        api_rate_limit=args.api_rate_limit,
        api_rate_window=args.api_rate_window,
        rate_limit_scope=args.rate_limit_scope,
        tokens_survive_regeneration=not args.revoke_tokens_on_regeneration,
        verbose=args.verbose,
    )
    for client_id, secret, lifetime, perms in args.client:
        emulator.add_client(client_id, secret, lifetime=lifetime, permissions=perms)

    stop = threading.Event()

    def _on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGINT, _on_signal)
    signal.signal(signal.SIGTERM, _on_signal)
    emulator.start()
    try:
        print(f"GENESYS_EMULATOR_URL={emulator.url}", flush=True)
        while not stop.wait(0.5):
            pass
    finally:
        emulator.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
