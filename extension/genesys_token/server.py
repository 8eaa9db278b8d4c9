"""The extension's localhost HTTP API and the token logic behind it.

``GET /health``             -> {"ready": true, "token": "fresh|stale|expiring|invalid"}; no header needed
``GET /token``              -> {"access_token", "token_type", "expires_at", "lifetime", "version",
                               "fingerprint", "api_url"}
``POST /token/invalidate``  {"token_hash": sha256 hex} or {"token": "..."} -> the fresh token

Every path but ``/health`` needs ``X-Aws-Parameters-Secrets-Token: $AWS_SESSION_TOKEN`` (the
SSRF guard of AWS's Parameters and Secrets extension): without it, 403 and an empty body.
``X-Genesys-Timeout-Ms`` bounds how long a request may wait for a refresh. Errors are
``{"error": kind, "message": ...}`` with 503 (unavailable, rate_limit) or 502 (the rest).
"""

from __future__ import annotations

import hmac
import http.server
import json
import logging
import socket
import sys
import threading
from typing import Any

from genesys_auth import GenesysAuthError, Token, TokenProvider, TokenState
from genesys_auth.deadline import Deadline
from genesys_auth.extension_client import TIMEOUT_HEADER, TOKEN_HEADER
from genesys_auth.fingerprint import token_hash

log = logging.getLogger("genesys_token")

_RETRYABLE = {"unavailable", "rate_limit"}


class TokenService:
    """The extension's view of its token provider: serve without waiting, refresh ahead."""

    def __init__(self, provider: TokenProvider) -> None:
        self.provider = provider
        self.policy = provider.policy

    def state(self) -> TokenState:
        return self.policy.state(self.provider.current)

    def token(self, deadline: Deadline) -> Token:
        """The current token while it is outside the mandatory window, else a refreshed one.

        A request never triggers an advisory refresh: that runs after INVOKE (:meth:`refresh_ahead`),
        so the caller does not wait for it."""
        return self.provider.token_now() or self.provider.token(deadline)

    def invalidate(self, digest: str, deadline: Deadline) -> Token:
        """Forget the token with this hash if it is still current, then return a fresh one.

        Concurrent invalidations of one token refresh once: the second finds a newer token (or the
        refresh in flight) and the provider's single-flight hands it the same result."""
        current = self.provider.current
        if current is not None and hmac.compare_digest(current.hash, digest):
            self.provider.invalidate(current.access_token)
        return self.provider.token(deadline)

    def refresh_ahead(self, deadline: Deadline) -> None:
        """After an INVOKE event: refresh now if the token is in its advisory window (or worse)."""
        if self.state() is TokenState.FRESH:
            return
        try:
            token = self.provider.token(deadline)
        except GenesysAuthError as exc:
            log.warning("refresh after INVOKE failed (%s: %s)", exc.kind, exc)
            return
        log.debug("after INVOKE: token fp=%s is %s", token.fingerprint, self.state().value)


class TokenServer(http.server.ThreadingHTTPServer):
    """Binds ``127.0.0.1:<port>`` in the constructor, so it can be ready before ``register``."""

    daemon_threads = True
    block_on_close = False
    #: socketserver's default backlog of 5 drops connections when a burst of callers arrives at once.
    request_queue_size = 128

    def __init__(self, port: int, service: TokenService, session_token: str, *, max_wait: float) -> None:
        self.service = service
        self.session_token = session_token
        self.max_wait = max_wait
        super().__init__(("127.0.0.1", port), _Handler)
        self._thread: threading.Thread | None = None

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
        exc = sys.exc_info()[1]
        log.info("connection ended while serving a request (%s)", type(exc).__name__ if exc else "unknown")


#: Largest request body read (an invalidation is ~80 bytes).
MAX_BODY_BYTES = 4096
#: Longest wait a caller may ask for (Lambda's own maximum timeout).
MAX_TIMEOUT_MS = 900_000


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
        service = self.server.service
        if path == "/health" and self.command == "GET":
            self._send(200, {"ready": True, "token": service.state().value})
            return
        # The guard comes first: nothing of an unauthenticated request is read or parsed.
        if not self._authorized():
            self.close_connection = self.headers.get("Content-Length") not in (None, "0")
            self._send(403, None)
            return
        try:
            body = self._body()
            deadline = self._deadline()
        except _BadRequest as bad:
            self.close_connection = True
            self._send(bad.status, {"error": "bad_request", "message": bad.message})
            return
        try:
            if path == "/token" and self.command == "GET":
                self._send_token(service.token(deadline))
            elif path == "/token/invalidate" and self.command == "POST":
                digest = _digest(body)
                if digest is None:
                    self._send(400, {"error": "bad_request", "message": 'send {"token_hash": "<sha256 hex>"}'})
                    return
                self._send_token(service.invalidate(digest, deadline))
            else:
                self._send(404, {"error": "not_found", "message": f"{self.command} {path[:100]} is not an endpoint"})
        except GenesysAuthError as exc:
            self._send(503 if exc.kind in _RETRYABLE else 502, {"error": exc.kind, "message": str(exc)})
        except Exception as exc:
            log.error("unexpected %s serving %s", type(exc).__name__, path[:100])
            self._send(500, {"error": "internal", "message": type(exc).__name__})

    def _authorized(self) -> bool:
        expected = self.server.session_token
        given = self.headers.get(TOKEN_HEADER, "")
        return bool(expected) and hmac.compare_digest(given.encode(), expected.encode())

    def _deadline(self) -> Deadline:
        seconds = self.server.max_wait
        raw = self.headers.get(TIMEOUT_HEADER)
        if raw is not None:
            if not raw.strip().isdigit() or int(raw) > MAX_TIMEOUT_MS:
                raise _BadRequest(400, f"{TIMEOUT_HEADER} must be whole milliseconds, 0 to {MAX_TIMEOUT_MS}")
            seconds = min(seconds, int(raw) / 1000.0)
        return Deadline.after(seconds)

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

    def _send_token(self, token: Token) -> None:
        self._send(200, token.to_dict())

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
    if isinstance(data.get("token"), str):
        return token_hash(data["token"])
    return None
