"""SHUTDOWN, and the reset after a failed invoke: SIGTERM/SHUTDOWN events, then SIGKILL after the budget."""

from __future__ import annotations

import signal
import time

from .model import ShutdownResult, _epoch_ms
from .processes import _kill_session, _Proc, _ProcessesMixin
from .server import _ServerMixin
from .state import _Generation


class _ShutdownMixin(_ProcessesMixin, _ServerMixin):
    def _reset(self, gen: _Generation, reason: str) -> None:
        """Lambda's reset after a failed invoke: kill the runtime, SHUTDOWN the extensions, re-init next time."""
        self._mark(f"reset:{reason}")
        result = self._terminate(gen, reason, graceful_runtime=False)
        self.resets.append(result)
        with self._cond:
            if self._gen is gen:
                self._gen = None

    def kill_extension(self, name: str) -> None:
        """SIGKILL one extension's process group (it will get no more events)."""
        gen = self._gen
        ext = gen.extensions.get(name) if gen is not None else None
        if ext is None or ext.proc is None:
            raise KeyError(f"no running extension named {name!r}")
        ext.killed = True
        ext.proc.kill()
        _kill_session(ext.proc.pid)
        self._mark(f"extension_killed:{name}")
        with self._cond:
            self._cond.notify_all()

    def shutdown(self, reason: str = "SPINDOWN") -> ShutdownResult:
        """Run the SHUTDOWN phase; idempotent (later calls return the first result)."""
        with self._op_lock:
            if self._shutdown_result is not None:
                return self._shutdown_result
            gen = self._gen
            if gen is None:
                result = ShutdownResult(reason, 0.0, {}, [])
            else:
                self._mark("shutdown")
                result = self._terminate(gen, reason, graceful_runtime=True)
                with self._cond:
                    self._gen = None
            self._shutdown_result = result
            return result

    def _terminate(self, gen: _Generation, reason: str, *, graceful_runtime: bool) -> ShutdownResult:
        t0 = time.monotonic()
        deadline = t0 + self.shutdown_budget_s
        deadline_ms = _epoch_ms() + int(self.shutdown_budget_s * 1000)
        self._thaw(gen)
        rt = gen.runtime
        expected: list[_Proc] = []
        if rt.proc is not None and rt.proc.alive:
            if graceful_runtime:
                rt.proc.signal_group(signal.SIGTERM)
                expected.append(rt.proc)
            else:
                rt.proc.kill()
        with self._cond:
            gen.phase = "shutdown"
            for ext in gen.extensions.values():
                if ext.dead or ext.proc is None:
                    continue
                if "SHUTDOWN" in ext.events:
                    ext.queue.append({"eventType": "SHUTDOWN", "shutdownReason": reason, "deadlineMs": deadline_ms})
                    expected.append(ext.proc)
            self._cond.notify_all()
        for proc in expected:
            proc.exited.wait(max(0.0, deadline - time.monotonic()))
        killed: list[str] = []
        for proc in gen.procs():
            if proc.alive:
                proc.kill()
                killed.append(proc.name)
                self._mark(f"killed:{proc.name}")
        for proc in gen.procs():
            _kill_session(proc.pid)
        self._stop_server(gen)
        exit_codes: dict[str, int | None] = {}
        for name, ext in gen.extensions.items():
            if ext.proc is not None:
                exit_codes[name] = None if name in killed else ext.proc.returncode
        runtime_rc = None
        if rt.proc is not None and "runtime" not in killed:
            runtime_rc = rt.proc.returncode
        self._frozen = False
        return ShutdownResult(
            reason=reason,
            elapsed_ms=(time.monotonic() - t0) * 1000,
            exit_codes=exit_codes,
            killed=killed,
            runtime_exit_code=runtime_rc,
        )
