"""The loopback server of one generation, and the routing of its requests to the two APIs."""

from __future__ import annotations

import http.server
import socket
import threading
from typing import Any

from .extensions_api import _ExtensionsApiMixin
from .model import EXTENSION_API_VERSION, RUNTIME_API_VERSION
from .runtime_api import _RuntimeApiMixin
from .state import _Generation
from .wire import _read_body, _reply, _Server


class _ServerMixin(_RuntimeApiMixin, _ExtensionsApiMixin):
    def _start_server(self, gen: _Generation) -> None:
        sandbox = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def setup(self) -> None:
                super().setup()
                # Headers and body go out in separate writes; without this, Nagle + delayed ACK add ~40 ms.
                self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

            def log_message(self, format: str, *args: Any) -> None:
                return

            def do_GET(self) -> None:
                sandbox._dispatch(gen, self, "GET")

            def do_POST(self) -> None:
                sandbox._dispatch(gen, self, "POST")

        server = _Server(("127.0.0.1", 0), Handler)
        gen.server = server
        gen.thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, name="sandbox-api", daemon=True
        )
        gen.thread.start()

    def _stop_server(self, gen: _Generation) -> None:
        with self._cond:
            gen.retired = True
            self._cond.notify_all()
        if gen.server is not None:
            gen.server.shutdown()
            gen.server.server_close()

    def _dispatch(self, gen: _Generation, h: http.server.BaseHTTPRequestHandler, method: str) -> None:
        path = h.path.split("?", 1)[0].rstrip("/")
        body = _read_body(h) if method == "POST" else b""
        rt_prefix = f"/{RUNTIME_API_VERSION}/runtime/"
        ext_prefix = f"/{EXTENSION_API_VERSION}/extension/"
        if path.startswith(rt_prefix):
            rest = path[len(rt_prefix) :]
            if method == "GET" and rest == "invocation/next":
                return self._runtime_next(gen, h)
            if method == "POST" and rest == "init/error":
                return self._runtime_init_error(gen, h, body)
            parts = rest.split("/")
            if method == "POST" and len(parts) == 3 and parts[0] == "invocation":
                if parts[2] == "response":
                    return self._runtime_response(gen, h, parts[1], body)
                if parts[2] == "error":
                    return self._runtime_error(gen, h, parts[1], body)
        elif path.startswith(ext_prefix):
            rest = path[len(ext_prefix) :]
            if method == "POST" and rest == "register":
                return self._ext_register(gen, h, body)
            if method == "GET" and rest == "event/next":
                return self._ext_next(gen, h)
            if method == "POST" and rest in ("init/error", "exit/error"):
                return self._ext_error(gen, h, rest.split("/")[0], body)
        _reply(h, 404, {"errorType": "NotFound", "errorMessage": f"{method} {h.path} is not emulated"})
