"""The Runtime API (2018-06-01) as the runtime interface client calls it."""

from __future__ import annotations

import http.server
import time
from typing import Any

from .model import MAX_RESPONSE_BYTES
from .state import _Generation, _Invocation, _SandboxState
from .wire import _json_or_text, _reply


class _RuntimeApiMixin(_SandboxState):
    def _runtime_next(self, gen: _Generation, h: http.server.BaseHTTPRequestHandler) -> None:
        rt = gen.runtime
        with self._cond:
            rt.waiting = True
            rt.next_calls += 1
            self.timeline.append((time.monotonic(), "runtime_init_done" if rt.next_calls == 1 else "runtime_next"))
            self._cond.notify_all()
            while not rt.queue and not gen.retired and not rt.dead:
                self._cond.wait()
            rt.waiting = False
            if not rt.queue:
                inv = None
            else:
                inv = rt.queue.popleft()
                inv.delivered_at = time.monotonic()
                self.timeline.append((inv.delivered_at, f"runtime_event:{inv.request_id}"))
        if inv is None:
            _reply(h, 500, {"errorType": "Sandbox.Retired", "errorMessage": "environment is shutting down"})
            h.close_connection = True
            return
        _reply(
            h,
            200,
            inv.body,
            {
                "Lambda-Runtime-Aws-Request-Id": inv.request_id,
                "Lambda-Runtime-Deadline-Ms": str(inv.deadline_ms),
                "Lambda-Runtime-Invoked-Function-Arn": inv.arn,
                "Lambda-Runtime-Trace-Id": inv.trace_id,
            },
        )

    def _current_invocation(self, gen: _Generation, request_id: str) -> _Invocation | None:
        inv = gen.runtime.current
        if inv is None or inv.request_id != request_id or inv.done:
            return None
        return inv

    def _runtime_response(
        self, gen: _Generation, h: http.server.BaseHTTPRequestHandler, request_id: str, body: bytes
    ) -> None:
        with self._cond:
            inv = self._current_invocation(gen, request_id)
            if inv is not None:
                if len(body) > MAX_RESPONSE_BYTES:
                    inv.error = {
                        "errorType": "Function.ResponseSizeTooLarge",
                        "errorMessage": f"Response payload size ({len(body)} bytes) exceeded maximum allowed "
                        f"payload size ({MAX_RESPONSE_BYTES} bytes).",
                    }
                else:
                    inv.response = body
                inv.responded_at = time.monotonic()
                self.timeline.append((inv.responded_at, f"runtime_response:{request_id}"))
                self._cond.notify_all()
        if inv is None:
            _reply(h, 400, {"errorType": "InvalidRequestID", "errorMessage": "Invalid request ID"})
        elif inv.error is not None:
            _reply(h, 413, {"errorType": "RequestEntityTooLarge", "errorMessage": inv.error["errorMessage"]})
        else:
            _reply(h, 202, {"status": "OK"})

    def _error_body(self, h: http.server.BaseHTTPRequestHandler, body: bytes) -> dict[str, Any]:
        header_type = h.headers.get("Lambda-Runtime-Function-Error-Type")
        parsed = _json_or_text(body)
        error: dict[str, Any] = dict(parsed) if isinstance(parsed, dict) else {"errorMessage": parsed}
        if not error.get("errorType"):
            error["errorType"] = header_type or "Runtime.Unknown"
        return error

    def _runtime_error(
        self, gen: _Generation, h: http.server.BaseHTTPRequestHandler, request_id: str, body: bytes
    ) -> None:
        error = self._error_body(h, body)
        with self._cond:
            inv = self._current_invocation(gen, request_id)
            if inv is not None:
                inv.error = error
                inv.responded_at = time.monotonic()
                self.timeline.append((inv.responded_at, f"runtime_response:{request_id}"))
                self.timeline.append((inv.responded_at, f"runtime_error:{request_id}"))
                self._cond.notify_all()
        if inv is None:
            _reply(h, 400, {"errorType": "InvalidRequestID", "errorMessage": "Invalid request ID"})
        else:
            _reply(h, 202, {"status": "OK"})

    def _runtime_init_error(self, gen: _Generation, h: http.server.BaseHTTPRequestHandler, body: bytes) -> None:
        error = self._error_body(h, body)
        with self._cond:
            if gen.runtime.init_error is None:
                gen.runtime.init_error = error
            self.timeline.append((time.monotonic(), "runtime_init_error"))
            self._cond.notify_all()
        _reply(h, 202, {"status": "OK"})
