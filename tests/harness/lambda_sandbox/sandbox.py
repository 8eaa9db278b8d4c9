"""``LambdaSandbox``: the facade over the parts, its constructor, bookkeeping and cleanup."""

from __future__ import annotations

import datetime as _dt
import secrets
import sys
import tempfile
import threading
import uuid
import weakref
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from .invoke_phase import _InvokeMixin
from .model import ACCOUNT_ID, ShutdownResult
from .processes import _finalize, _Proc
from .state import _Generation


class LambdaSandbox(_InvokeMixin):
    """A local Lambda execution environment; the package docstring describes the lifecycle it emulates."""

    def __init__(
        self,
        *,
        handler: str,
        task_root: Path,
        layers: Sequence[Path] = (),
        env: Mapping[str, str] | None = None,
        function_name: str = "sandbox-fn",
        memory_mb: int = 256,
        timeout_s: float = 30.0,
        init_timeout_s: float = 10.0,
        shutdown_budget_s: float = 2.0,
        python: str = sys.executable,
        freeze: bool = True,
        log_dir: Path | None = None,
    ) -> None:
        self.handler = handler
        self.task_root = Path(task_root).resolve()
        self.function_name = function_name
        self.memory_mb = memory_mb
        self.timeout_s = timeout_s
        self.init_timeout_s = init_timeout_s
        self.shutdown_budget_s = shutdown_budget_s
        self.python = python
        self.freeze = freeze
        self.user_env: dict[str, str] = dict(env or {})

        self.timeline: list[tuple[float, str]] = []
        self.extension_errors: list[dict[str, Any]] = []
        self.resets: list[ShutdownResult] = []
        self.init_duration_ms: float | None = None

        self._cond = threading.Condition()
        self._op_lock = threading.Lock()
        self._gen: _Generation | None = None
        self._generations = 0
        self._frozen = False
        self._shutdown_result: ShutdownResult | None = None
        self._closed = False
        self._all_procs: list[_Proc] = []
        self._runtime_env: dict[str, str] = {}
        self._extension_env: dict[str, str] = {}

        self._tmp = tempfile.mkdtemp(prefix="lambda-sandbox-")
        self._finalizer = weakref.finalize(self, _finalize, self._all_procs, self._tmp)
        tmp = Path(self._tmp)
        self.opt_dir: Path = tmp / "opt"
        self.runtime_dir: Path = tmp / "runtime"
        self.bin_dir: Path = tmp / "bin"
        self.log_dir: Path = Path(log_dir) if log_dir is not None else tmp / "logs"
        self._log_names: dict[str, Path] = {}

        self.session_token = self.user_env.get("AWS_SESSION_TOKEN") or secrets.token_urlsafe(48)
        self.region = self.user_env.get("AWS_REGION") or self.user_env.get("AWS_DEFAULT_REGION") or "us-east-1"
        self.function_arn = f"arn:aws:lambda:{self.region}:{ACCOUNT_ID}:function:{function_name}"
        self._log_stream = f"{_dt.datetime.now(_dt.UTC):%Y/%m/%d}/[$LATEST]{uuid.uuid4().hex}"

        try:
            self._prepare_dirs([Path(layer) for layer in layers])
        except BaseException:
            self._finalizer()
            raise

    def timeline_names(self) -> list[str]:
        with self._cond:
            return [name for _, name in self.timeline]

    def first(self, name: str) -> float | None:
        """Monotonic time of the first timeline event called ``name``."""
        with self._cond:
            return next((t for t, n in self.timeline if n == name), None)

    @property
    def port(self) -> int | None:
        gen = self._gen
        return gen.port if gen is not None and gen.server is not None else None

    @property
    def runtime_pid(self) -> int | None:
        gen = self._gen
        if gen is None or gen.runtime.proc is None:
            return None
        return gen.runtime.proc.pid

    @property
    def extension_pids(self) -> dict[str, int]:
        gen = self._gen
        if gen is None:
            return {}
        return {name: ext.proc.pid for name, ext in gen.extensions.items() if ext.proc is not None}

    @property
    def extension_names(self) -> list[str]:
        return [p.name for p in self._discover_extensions()]

    def close(self) -> None:
        """Shut down (if still running), stop the server and delete the temporary directory."""
        if self._closed:
            return
        try:
            self.shutdown()
        finally:
            self._closed = True
            for proc in self._all_procs:
                proc.kill()
            self._finalizer()

    def __enter__(self) -> LambdaSandbox:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
