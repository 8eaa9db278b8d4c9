"""The HTTP server: one stdlib ``ThreadingHTTPServer`` for both host roles, and scripted answers on the wire."""

from __future__ import annotations

import json
import socket
import struct
import sys
import traceback
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any

from .answers import _server_error
from .model import Canned, _Response

if TYPE_CHECKING:
    from .emulator import GenesysEmulator


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
