"""The INIT phase: extensions start and register, then the runtime starts; both must reach ``next``."""

from __future__ import annotations

import signal
import time

from .model import MAX_EXTENSIONS, SandboxError, SandboxInitError
from .processes import _kill_session, _ProcessesMixin
from .server import _ServerMixin
from .state import _Extension, _Generation


class _InitMixin(_ProcessesMixin, _ServerMixin):
    def start(self) -> None:
        """Run the INIT phase (no-op if the environment is already initialised)."""
        with self._op_lock:
            self._check_usable()
            if self._gen is None:
                self._init()

    def _check_usable(self) -> None:
        if self._closed or self._shutdown_result is not None:
            raise SandboxError("the sandbox has been shut down")

    def _init(self) -> None:
        t0 = time.monotonic()
        self._generations += 1
        gen = _Generation(self._generations)
        ext_paths = self._discover_extensions()
        if len(ext_paths) > MAX_EXTENSIONS:
            raise SandboxInitError(f"{len(ext_paths)} extensions; Lambda allows {MAX_EXTENSIONS}", logs={})
        gen.extensions = {p.name: _Extension(p.name, p) for p in ext_paths}
        self._start_server(gen)
        self._runtime_env, self._extension_env = self._build_envs(gen.port)
        with self._cond:
            self._gen = gen
        self._mark("init_start")
        try:
            failure = self._run_init(gen, t0 + self.init_timeout_s)
        except BaseException:
            self._abort(gen)
            raise
        if failure is not None:
            init_error = gen.runtime.init_error
            if init_error is None:
                ext_errors = [e for e in self.extension_errors if e["kind"] == "init"]
                init_error = ext_errors[-1] if ext_errors else None
            self._abort(gen)  # kill first, so that the logs are complete
            raise SandboxInitError(failure, logs=self.logs(), init_error=init_error)
        self.init_duration_ms = (time.monotonic() - t0) * 1000
        self._mark("init_done")
        if self.freeze:
            self._freeze(gen)

    def _run_init(self, gen: _Generation, deadline: float) -> str | None:
        """Extension init, then runtime + function init; returns None when ready, else why it failed."""
        for ext in gen.extensions.values():  # all extensions start in parallel
            ext.proc = self._spawn(ext.name, [str(ext.path)], cwd=self.opt_dir, env=self._extension_env)
            self._mark(f"extension_started:{ext.name}")
        with self._cond:
            self._cond.wait_for(lambda: self._registration_outcome(gen) is not None, deadline - time.monotonic())
            outcome = self._registration_outcome(gen)
            if outcome is None:
                missing = [e.name for e in gen.extensions.values() if not e.registered]
                return f"init timed out after {self.init_timeout_s}s: extensions not registered: {missing}"
            if outcome != "ok":
                return outcome
            gen.phase = "runtime_init"
        # Lambda starts runtime init once every extension has registered.
        gen.runtime.proc = self._spawn(
            "runtime",
            [self.python, "-m", "awslambdaric", self.handler],
            cwd=self.task_root,
            env=self._runtime_env,
        )
        self._mark("runtime_started")
        with self._cond:
            self._cond.wait_for(lambda: self._init_outcome(gen) is not None, deadline - time.monotonic())
            outcome = self._init_outcome(gen)
            if outcome is None:
                pending = [e.name for e in gen.extensions.values() if not e.waiting]
                if gen.runtime.next_calls == 0:
                    pending.insert(0, "runtime")
                return f"init timed out after {self.init_timeout_s}s; not ready: {pending}"
            if outcome != "ok":
                return outcome
            gen.phase = "ready"
        return None

    def _registration_outcome(self, gen: _Generation) -> str | None:
        for ext in gen.extensions.values():
            if ext.errored:
                return f"extension {ext.name} reported an init error"
            if ext.dead and not ext.registered:
                rc = ext.proc.returncode if ext.proc is not None else None
                return f"Extension.Crash: {ext.name} exited ({rc}) before registering"
        if all(ext.registered for ext in gen.extensions.values()):
            return "ok"
        return None

    def _init_outcome(self, gen: _Generation) -> str | None:
        rt = gen.runtime
        if rt.init_error is not None:
            return f"runtime init error: {rt.init_error.get('errorType')}"
        for ext in gen.extensions.values():
            if ext.errored:
                return f"extension {ext.name} reported an init error"
            if ext.dead:
                rc = ext.proc.returncode if ext.proc is not None else None
                return f"Extension.Crash: {ext.name} exited ({rc}) during init"
        if rt.dead:
            rc = rt.proc.returncode if rt.proc is not None else None
            return f"Runtime.ExitError: runtime exited ({rc}) during init"
        if rt.next_calls >= 1 and all(ext.waiting for ext in gen.extensions.values()):
            return "ok"
        return None

    def _abort(self, gen: _Generation) -> None:
        """Kill everything of a failed INIT (no SHUTDOWN phase: the environment never became ready)."""
        for proc in gen.procs():
            proc.signal_group(signal.SIGCONT)
            proc.kill()
        for proc in gen.procs():
            _kill_session(proc.pid)
        self._mark("init_failed")
        self._stop_server(gen)
        with self._cond:
            if self._gen is gen:
                self._gen = None
        self._frozen = False
