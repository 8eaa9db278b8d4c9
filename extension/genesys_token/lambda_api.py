"""The Lambda Extensions API (2020-01-01) as this extension uses it: register, next, errors."""

from __future__ import annotations

import http.client
import json

# typing and dataclasses stay unloaded: this module is imported before the extension registers,
# and they cost more than a hand-written __init__ (mypy treats TYPE_CHECKING as true).
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

API_VERSION = "2020-01-01"


class ExtensionsApiError(RuntimeError):
    """Lambda refused a call (after which an extension should exit)."""


class ExtensionsApi:
    """``AWS_LAMBDA_RUNTIME_API`` is ``host:port``; ``name`` must be the bootstrap's file name."""

    def __init__(self, runtime_api: str, name: str, identifier: str | None = None) -> None:
        self.runtime_api = runtime_api
        self.name = name
        self.identifier = identifier

    def register(self, events: tuple[str, ...] = ("INVOKE", "SHUTDOWN")) -> dict[str, Any]:
        status, headers, body = self._call(
            "POST", "/extension/register", {"events": list(events)}, {"Lambda-Extension-Name": self.name}
        )
        if status != 200:
            raise ExtensionsApiError(f"register answered HTTP {status}: {body!r}")
        self.identifier = headers.get("Lambda-Extension-Identifier")
        if not self.identifier:
            raise ExtensionsApiError("register answered without Lambda-Extension-Identifier")
        return body if isinstance(body, dict) else {}

    def next_event(self) -> dict[str, Any]:
        """Block until Lambda has an event for us (no timeout, as the API requires)."""
        status, _, body = self._call("GET", "/extension/event/next", None, self._id_header())
        if status != 200 or not isinstance(body, dict):
            raise ExtensionsApiError(f"event/next answered HTTP {status}")
        return body

    def init_error(self, reason: str, message: str) -> None:
        self._error("init", reason, message)

    def exit_error(self, reason: str, message: str) -> None:
        self._error("exit", reason, message)

    def _error(self, phase: str, reason: str, message: str) -> None:
        headers = {**self._id_header(), "Lambda-Extension-Function-Error-Type": f"Extension.{reason}"}
        body = {"errorMessage": message, "errorType": f"Extension.{reason}", "stackTrace": []}
        self._call("POST", f"/extension/{phase}/error", body, headers)

    def _id_header(self) -> dict[str, str]:
        return {"Lambda-Extension-Identifier": self.identifier or ""}

    def _call(
        self, method: str, path: str, body: dict[str, Any] | None, headers: dict[str, str]
    ) -> tuple[int, http.client.HTTPMessage, Any]:
        conn = http.client.HTTPConnection(self.runtime_api, timeout=None)
        try:
            data = json.dumps(body).encode() if body is not None else None
            send = {"Content-Type": "application/json", **headers} if data is not None else headers
            conn.request(method, f"/{API_VERSION}{path}", body=data, headers=send)
            response = conn.getresponse()
            raw = response.read()
        finally:
            conn.close()
        try:
            parsed: Any = json.loads(raw) if raw else None
        except ValueError:
            parsed = raw.decode(errors="replace")
        return response.status, response.headers, parsed
