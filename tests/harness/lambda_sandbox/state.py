"""Records of one execution environment (its generation, runtime, extensions, invocations) and the sandbox's fields."""

from __future__ import annotations

import threading
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .wire import _Server

if TYPE_CHECKING:
    from .model import ShutdownResult
    from .processes import _Proc


@dataclass(eq=False)
class _Invocation:
    request_id: str
    body: bytes
    deadline_ms: int
    arn: str
    trace_id: str
    queued_at: float
    delivered_at: float | None = None
    responded_at: float | None = None
    response: bytes | None = None
    error: dict[str, Any] | None = None

    @property
    def done(self) -> bool:
        return self.responded_at is not None


@dataclass(eq=False)
class _Extension:
    name: str
    path: Path
    proc: _Proc | None = None
    identifier: str | None = None
    events: tuple[str, ...] = ()
    queue: deque[dict[str, Any]] = field(default_factory=deque)
    waiting: bool = False
    next_calls: int = 0
    errored: bool = False
    killed: bool = False

    @property
    def registered(self) -> bool:
        return self.identifier is not None

    @property
    def dead(self) -> bool:
        return self.proc is None or not self.proc.alive

    @property
    def idle(self) -> bool:
        # An extension that reported an error gets no more events (it should exit), so it is not waited for.
        return self.dead or self.errored or (self.waiting and not self.queue)


@dataclass(eq=False)
class _Runtime:
    proc: _Proc | None = None
    queue: deque[_Invocation] = field(default_factory=deque)
    waiting: bool = False
    next_calls: int = 0
    current: _Invocation | None = None
    init_error: dict[str, Any] | None = None

    @property
    def dead(self) -> bool:
        return self.proc is None or not self.proc.alive


class _Generation:
    """One execution-environment lifetime: its own server, runtime and extension processes."""

    def __init__(self, number: int) -> None:
        self.number = number
        self.phase = "extension_init"
        self.retired = False
        self.extensions: dict[str, _Extension] = {}
        self.runtime = _Runtime()
        self.server: _Server | None = None
        self.thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        assert self.server is not None
        return int(self.server.server_address[1])

    def procs(self) -> list[_Proc]:
        found = [ext.proc for ext in self.extensions.values() if ext.proc is not None]
        if self.runtime.proc is not None:
            found.append(self.runtime.proc)
        return found


class _SandboxState:
    """The fields every part of the sandbox reads; ``LambdaSandbox.__init__`` sets them."""

    handler: str
    task_root: Path
    function_name: str
    memory_mb: int
    timeout_s: float
    init_timeout_s: float
    shutdown_budget_s: float
    python: str
    freeze: bool
    user_env: dict[str, str]
    timeline: list[tuple[float, str]]
    extension_errors: list[dict[str, Any]]
    resets: list[ShutdownResult]
    init_duration_ms: float | None
    opt_dir: Path
    runtime_dir: Path
    bin_dir: Path
    log_dir: Path
    session_token: str
    region: str
    function_arn: str
    _cond: threading.Condition
    _op_lock: threading.Lock
    _gen: _Generation | None
    _generations: int
    _frozen: bool
    _shutdown_result: ShutdownResult | None
    _closed: bool
    _all_procs: list[_Proc]
    _runtime_env: dict[str, str]
    _extension_env: dict[str, str]
    _log_names: dict[str, Path]
    _log_stream: str

    def _mark(self, name: str) -> None:
        with self._cond:
            self.timeline.append((time.monotonic(), name))
