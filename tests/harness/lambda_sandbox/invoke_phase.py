"""The INVOKE phase: the event to the runtime and to every extension registered for INVOKE, then freeze."""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

from .init_phase import _InitMixin
from .model import InvokeResult, _epoch_ms, _trace_id
from .shutdown_phase import _ShutdownMixin
from .state import _Generation, _Invocation
from .wire import _json_or_text


class _InvokeMixin(_InitMixin, _ShutdownMixin):
    def invoke(self, event: Any, *, timeout_s: float | None = None) -> InvokeResult:
        """Invoke the function synchronously (re-running INIT first if the environment was reset)."""
        with self._op_lock:
            self._check_usable()
            if self._gen is None:
                self._init()
            gen = self._gen
            assert gen is not None
            return self._invoke(gen, event, self.timeout_s if timeout_s is None else timeout_s)

    def _invoke(self, gen: _Generation, event: Any, timeout: float) -> InvokeResult:
        body = event if isinstance(event, bytes) else json.dumps(event).encode()
        request_id = str(uuid.uuid4())
        self._thaw(gen)
        rt = gen.runtime
        with self._cond:
            inv = _Invocation(
                request_id=request_id,
                body=body,
                deadline_ms=_epoch_ms() + int(timeout * 1000),
                arn=self.function_arn,
                trace_id=_trace_id(),
                queued_at=time.monotonic(),
            )
            end = inv.queued_at + timeout
            rt.current = inv
            rt.queue.append(inv)
            ext_events: dict[str, dict[str, Any]] = {}
            for ext in gen.extensions.values():
                if "INVOKE" in ext.events and not ext.dead:
                    ev = {
                        "eventType": "INVOKE",
                        "deadlineMs": inv.deadline_ms,
                        "requestId": request_id,
                        "invokedFunctionArn": inv.arn,
                        "tracing": {"type": "X-Amzn-Trace-Id", "value": inv.trace_id},
                    }
                    ext.queue.append(ev)
                    ext_events[ext.name] = ev
            self.timeline.append((inv.queued_at, f"invoke:{request_id}"))
            self._cond.notify_all()
            self._cond.wait_for(lambda: inv.done or rt.dead, end - time.monotonic())
            done = inv.done
            runtime_rc = rt.proc.returncode if rt.proc is not None else None

        started = inv.delivered_at if inv.delivered_at is not None else inv.queued_at
        if not done:
            duration = (time.monotonic() - started) * 1000
            if rt.dead:
                reason = "FAILURE"
                error: dict[str, Any] = {
                    "errorType": "Runtime.ExitError",
                    "errorMessage": f"RequestId: {request_id} Error: Runtime exited with error: exit status "
                    f"{runtime_rc}",
                }
            else:
                reason = "TIMEOUT"
                error = {
                    "errorType": "Sandbox.Timeout",
                    "errorMessage": f"RequestId: {request_id} Error: Task timed out after {timeout:.2f} seconds",
                }
            self._reset(gen, reason)
            return InvokeResult(request_id, None, error, duration, 0.0, ext_events, reset_reason=reason)

        assert inv.responded_at is not None
        duration = (inv.responded_at - started) * 1000
        with self._cond:
            finished = self._cond.wait_for(lambda: self._invoke_complete(gen), end - time.monotonic())
        post_ms = (time.monotonic() - inv.responded_at) * 1000
        reset_reason = None
        if not finished:
            reset_reason = "TIMEOUT"
            self._reset(gen, reset_reason)
        elif self.freeze:
            self._freeze(gen)
        payload = None if inv.error is not None else _json_or_text(inv.response or b"")
        return InvokeResult(
            request_id=request_id,
            payload=payload,
            error=inv.error,
            duration_ms=duration,
            post_runtime_extensions_ms=post_ms,
            extension_events=ext_events,
            reset_reason=reset_reason,
            raw_payload=inv.response,
        )

    def _invoke_complete(self, gen: _Generation) -> bool:
        rt = gen.runtime
        if not (rt.dead or (rt.waiting and not rt.queue)):
            return False
        return all(ext.idle for ext in gen.extensions.values())
