"""The Extensions API (2020-01-01): register, event/next, init and exit errors."""

from __future__ import annotations

import http.server
import time
import uuid
from typing import Any

from .model import _VALID_EVENTS, ACCOUNT_ID
from .state import _Extension, _Generation, _SandboxState
from .wire import _json_or_text, _reply


class _ExtensionsApiMixin(_SandboxState):
    def _ext_register(self, gen: _Generation, h: http.server.BaseHTTPRequestHandler, body: bytes) -> None:
        name = h.headers.get("Lambda-Extension-Name", "")
        parsed = _json_or_text(body)
        events = parsed.get("events") if isinstance(parsed, dict) else None
        if not isinstance(events, list) or not all(isinstance(e, str) and e in _VALID_EVENTS for e in events):
            _reply(h, 400, {"errorType": "InvalidEventType", "errorMessage": f"bad events in {parsed!r}"})
            return
        with self._cond:
            ext = gen.extensions.get(name)
            problem = None
            if gen.phase != "extension_init":
                problem = ("Extension.InvalidState", "registration is only possible during extension init")
            elif ext is None:
                problem = ("Extension.InvalidExtensionName", f"no executable named {name!r} in /opt/extensions")
            elif ext.registered:
                problem = ("Extension.AlreadyRegistered", f"{name} is already registered")
            if problem is None and ext is not None:
                ext.identifier = str(uuid.uuid4())
                ext.events = tuple(dict.fromkeys(events))
                self.timeline.append((time.monotonic(), f"extension_registered:{name}"))
                self._cond.notify_all()
        if problem is not None or ext is None or ext.identifier is None:
            err_type, message = problem or ("Extension.Unknown", "registration failed")
            _reply(h, 403, {"errorType": err_type, "errorMessage": message})
            return
        reply: dict[str, Any] = {
            "functionName": self.function_name,
            "functionVersion": "$LATEST",
            "handler": self.handler,
        }
        if "accountId" in h.headers.get("Lambda-Extension-Accept-Feature", ""):
            reply["accountId"] = ACCOUNT_ID
        _reply(h, 200, reply, {"Lambda-Extension-Identifier": ext.identifier})

    def _ext_by_id(self, gen: _Generation, h: http.server.BaseHTTPRequestHandler) -> _Extension | None:
        identifier = h.headers.get("Lambda-Extension-Identifier")
        if not identifier:
            return None
        return next((e for e in gen.extensions.values() if e.identifier == identifier), None)

    def _ext_next(self, gen: _Generation, h: http.server.BaseHTTPRequestHandler) -> None:
        with self._cond:
            ext = self._ext_by_id(gen, h)
            event: dict[str, Any] | None = None
            if ext is not None and not ext.errored:
                ext.waiting = True
                ext.next_calls += 1
                self.timeline.append((time.monotonic(), f"extension_next:{ext.name}"))
                self._cond.notify_all()
                while not ext.queue and not gen.retired and not ext.dead:
                    self._cond.wait()
                ext.waiting = False
                if ext.queue:
                    event = ext.queue.popleft()
                    self.timeline.append((time.monotonic(), f"extension_event:{ext.name}:{event['eventType']}"))
        if ext is None or (ext.errored and event is None):
            _reply(h, 403, {"errorType": "Extension.Unknown", "errorMessage": "unknown or failed extension"})
            return
        if event is None:
            _reply(h, 500, {"errorType": "Sandbox.Retired", "errorMessage": "environment is shutting down"})
            h.close_connection = True
            return
        _reply(h, 200, event, {"Lambda-Extension-Event-Identifier": str(uuid.uuid4())})

    def _ext_error(self, gen: _Generation, h: http.server.BaseHTTPRequestHandler, kind: str, body: bytes) -> None:
        with self._cond:
            ext = self._ext_by_id(gen, h)
            if ext is not None:
                ext.errored = True
                self.extension_errors.append(
                    {
                        "extension": ext.name,
                        "kind": kind,
                        "errorType": h.headers.get("Lambda-Extension-Function-Error-Type"),
                        "body": _json_or_text(body),
                    }
                )
                self.timeline.append((time.monotonic(), f"extension_{kind}_error:{ext.name}"))
                self._cond.notify_all()
        if ext is None:
            _reply(h, 403, {"errorType": "Extension.Unknown", "errorMessage": "unknown extension identifier"})
        else:
            _reply(h, 202, {"status": "OK"})
