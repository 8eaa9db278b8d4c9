"""The extension's localhost HTTP API.

``GET /health``             -> {"ready": true, "token": "starting|fresh|stale|expiring|invalid"}; no header
``GET /token[?slot=n]``     -> {"access_token", "token_type", "expires_at", "lifetime", "version",
                               "fingerprint", "api_url", "slot", "slots", "pool_mode", "opened"}
``POST /token/invalidate``  {"token_hash": sha256 hex, "slot": n} or {"token": "..."} -> the fresh token

Every path but ``/health`` needs ``X-Aws-Parameters-Secrets-Token: $AWS_SESSION_TOKEN`` (the
SSRF guard of AWS's Parameters and Secrets extension): without it, 403 and an empty body.
``X-Genesys-Timeout-Ms`` bounds how long a request may wait for a refresh. Errors are
``{"error": kind, "message": ...}`` with 503 (unavailable, rate_limit) or 502 (the rest).

This module imports the standard library only: the server is bound and the extension registered
before ``genesys_auth`` is imported (:mod:`.service`). A request that arrives in between waits
for the token service to be attached, bounded like any other wait.
"""

from __future__ import annotations

import hashlib
import hmac
import http.server
import json
import logging
import socket
import threading
import time

TYPE_CHECKING = False  # typing stays unloaded before registering (mypy treats this as true)
if TYPE_CHECKING:
    from typing import Any

    from .service import TokenService

log = logging.getLogger("genesys_token")

#: The same names as ``genesys_auth.extension_client`` (a test checks), kept here so that the
#: server needs nothing from the library until it serves a token.
TOKEN_HEADER = "X-Aws-Parameters-Secrets-Token"  # noqa: S105 - a header name, not a value
TIMEOUT_HEADER = "X-Genesys-Timeout-Ms"

_RETRYABLE = {"unavailable", "rate_limit"}
_ENDPOINTS = {("GET", "/token"), ("POST", "/token/invalidate")}


class TokenServer(http.server.ThreadingHTTPServer):
    """Binds ``127.0.0.1:<port>`` in the constructor, so it can be ready before ``register``;
    serves tokens once :meth:`attach` has given it the token service."""

    daemon_threads = True
    block_on_close = False
    #: socketserver's default backlog of 5 (and even 128) drops SYNs when 200 callers arrive at once: 1 s retransmits.
    request_queue_size = 1024

    def __init__(self, port: int, session_token: str, *, max_wait: float) -> None:
        self.session_token = session_token
        self.max_wait = max_wait
        self.service: TokenService | None = None
        #: (kind, message) when the token service could not be built.
        self.failure: tuple[str, str] | None = None
        self._settled = threading.Event()
        super().__init__(("127.0.0.1", port), _Handler)
        self._thread: threading.Thread | None = None

    def attach(self, service: TokenService, *, max_wait: float | None = None) -> None:
        """Start serving tokens (and wake the requests waiting for it)."""
        if max_wait is not None:
            self.max_wait = max_wait
        self.service = service
        self._settled.set()

    def fail(self, kind: str, message: str) -> None:
        """The token service cannot be built: waiting and later requests get this error."""
        self.failure = (kind, message)
        self._settled.set()

    def wait_for_service(self, seconds: float) -> TokenService | None:
        self._settled.wait(max(0.0, seconds))
        return self.service

    def start(self) -> None:
        self._thread = threading.Thread(
            target=self.serve_forever, kwargs={"poll_interval": 0.05}, name="genesys-token-http", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        self.shutdown()
        self.server_close()

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that hangs up mid-request is routine; never log a traceback with request data.
        import sys

        exc = sys.exc_info()[1]
        log.info("connection ended while serving a request (%s)", type(exc).__name__ if exc else "unknown")


#: Largest request body read (an invalidation is ~80 bytes).
MAX_BODY_BYTES = 4096
#: Longest wait a caller may ask for (Lambda's own maximum timeout).
MAX_TIMEOUT_MS = 900_000
#: Highest pool slot a caller may name (``GENESYS_TOKEN_POOL_MAX`` caps it further).
MAX_SLOT = 64


class _BadRequest(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: TokenServer

    def setup(self) -> None:
        super().setup()
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("%s %s", self.command, (self.path or "").split("?", 1)[0][:200])

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """The stdlib's own errors (malformed request line, unknown method...) as JSON, not HTML."""
        self.close_connection = True
        self._send(code, {"error": "bad_request", "message": f"HTTP {code}"})

    def do_GET(self) -> None:
        self._route()

    do_POST = do_HEAD = do_PUT = do_DELETE = do_PATCH = do_OPTIONS = do_GET

    def _route(self) -> None:
        path = self.path.split("?", 1)[0].rstrip("/")
        if path == "/health" and self.command == "GET":
            service = self.server.service
            self._send(200, {"ready": True, "token": service.state().value if service is not None else "starting"})
            return
        # The guard comes first: nothing of an unauthenticated request is read or parsed.
        if not self._authorized():
            self.close_connection = self.headers.get("Content-Length") not in (None, "0")
            self._send(403, None)
            return
        try:
            body = self._body()
            seconds = self._wait_seconds()
            slot = self._slot()
        except _BadRequest as bad:
            self.close_connection = True
            self._send(bad.status, {"error": "bad_request", "message": bad.message})
            return
        if (self.command, path) not in _ENDPOINTS:
            self._send(404, {"error": "not_found", "message": f"{self.command} {path[:100]} is not an endpoint"})
            return
        invalidate = path == "/token/invalidate"
        digest = _digest(body) if invalidate else None
        if invalidate and digest is None:
            self._send(400, {"error": "bad_request", "message": 'send {"token_hash": "<sha256 hex>"}'})
            return
        if invalidate:
            slot = _body_slot(body)
        started = time.monotonic()
        service = self.server.wait_for_service(seconds)
        if service is None:
            self._send_unready(seconds)
            return
        if slot >= service.pool_max:
            self._send(
                400,
                {"error": "bad_request", "message": f"slot must be below GENESYS_TOKEN_POOL_MAX ({service.pool_max})"},
            )
            return
        # Loaded by the service module before it was attached: these are lookups, not imports.
        from genesys_auth import GenesysAuthError
        from genesys_auth.deadline import Deadline

        deadline = Deadline.after(max(0.0, seconds - (time.monotonic() - started)))
        try:
            token = service.invalidate(digest, deadline, slot) if digest is not None else service.token(deadline, slot)
            self._send(200, service.describe(token, slot))
        except GenesysAuthError as exc:
            self._send(503 if exc.kind in _RETRYABLE else 502, {"error": exc.kind, "message": str(exc)})
        except Exception as exc:
            log.error("unexpected %s serving %s", type(exc).__name__, path[:100])
            self._send(500, {"error": "internal", "message": type(exc).__name__})

    def _send_unready(self, seconds: float) -> None:
        if self.server.failure is not None:
            kind, message = self.server.failure
            self._send(503 if kind in _RETRYABLE else 502, {"error": kind, "message": message})
            return
        self._send(
            503,
            {
                "error": "unavailable",
                "message": f"genesys-token is still starting after the {seconds * 1000:.0f} ms this request "
                "could wait; retry, or allow more time in X-Genesys-Timeout-Ms",
            },
        )

    def _authorized(self) -> bool:
        expected = self.server.session_token
        given = self.headers.get(TOKEN_HEADER, "")
        return bool(expected) and hmac.compare_digest(given.encode(), expected.encode())

    def _wait_seconds(self) -> float:
        seconds = self.server.max_wait
        raw = self.headers.get(TIMEOUT_HEADER)
        if raw is not None:
            if not raw.strip().isdigit() or int(raw) > MAX_TIMEOUT_MS:
                raise _BadRequest(400, f"{TIMEOUT_HEADER} must be whole milliseconds, 0 to {MAX_TIMEOUT_MS}")
            seconds = min(seconds, int(raw) / 1000.0)
        return seconds

    def _slot(self) -> int:
        query = self.path.split("?", 1)[1] if "?" in self.path else ""
        for part in query.split("&"):
            name, _, value = part.partition("=")
            if name == "slot":
                if not value.isdigit() or int(value) >= MAX_SLOT:
                    raise _BadRequest(400, "slot must be a whole number below GENESYS_TOKEN_POOL_MAX")
                return int(value)
        return 0

    def _body(self) -> bytes:
        raw = self.headers.get("Content-Length")
        if raw is None:
            if self.headers.get("Transfer-Encoding"):
                raise _BadRequest(411, "send a Content-Length (chunked bodies are not accepted)")
            return b""
        if not raw.strip().isdigit():
            raise _BadRequest(400, "Content-Length must be a whole number of bytes")
        length = int(raw)
        if length > MAX_BODY_BYTES:
            raise _BadRequest(413, f"request body over {MAX_BODY_BYTES} bytes")
        return self.rfile.read(length) if length > 0 else b""

    def _send(self, status: int, body: dict[str, Any] | None) -> None:
        data = json.dumps(body).encode() if body is not None else b""
        self.send_response(status)
        if body is not None:
            self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Cache-Control", "no-store")
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)


def _body_slot(body: bytes) -> int:
    try:
        data = json.loads(body) if body else None
    except (ValueError, RecursionError):
        return 0
    slot = data.get("slot") if isinstance(data, dict) else None
    return slot if isinstance(slot, int) and not isinstance(slot, bool) and 0 <= slot < MAX_SLOT else 0


def _digest(body: bytes) -> str | None:
    """The SHA-256 hex of the token to forget, from ``{"token_hash": ...}`` or ``{"token": ...}``."""
    try:
        data = json.loads(body) if body else None
    except (ValueError, RecursionError):
        return None
    if not isinstance(data, dict):
        return None
    value = data.get("token_hash")
    if isinstance(value, str):
        value = value.lower()
        return value if len(value) == 64 and all(c in "0123456789abcdef" for c in value) else None
    if isinstance(data.get("token"), str) and data["token"]:
        # SHA-256 hex, as genesys_auth.fingerprint.token_hash (a test checks they agree).
        return hashlib.sha256(data["token"].encode()).hexdigest()
    return None
