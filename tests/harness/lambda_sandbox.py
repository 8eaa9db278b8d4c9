"""A Docker-free local AWS Lambda execution environment for tests.

One loopback HTTP server (random port) emulates the Lambda Runtime API (2018-06-01) and the Extensions API
(2020-01-01).  Every file in ``<opt>/extensions/`` is started as a real OS process, like Lambda does, and the
function runs under AWS's runtime interface client (``python -m awslambdaric <handler>``, cwd = task root).

Lifecycle emulated (see shared/reference/aws-lambda.md, section 2):

* INIT: all extensions start in parallel and must ``POST /extension/register``; the runtime process is started
  only after every extension has registered; init completes when the runtime and every extension have called
  their ``next``.  Bounded by ``init_timeout_s``.
* INVOKE: the event goes to the runtime and an INVOKE event to every extension registered for it, at the same
  time.  The invoke phase ends when the runtime has answered and has called ``next`` again and every live
  extension has called ``next``.  Then the whole environment is frozen (SIGSTOP on every process group) until
  the next invoke or shutdown thaws it (SIGCONT).
* A failed invoke (timeout, runtime crash) resets the environment like Lambda: the runtime is killed, the
  extensions get SHUTDOWN with reason TIMEOUT/FAILURE, and the next ``invoke()`` re-initialises everything.
* SHUTDOWN: SIGTERM to the runtime, a SHUTDOWN event to extensions registered for it, and SIGKILL for whatever is
  still running after ``shutdown_budget_s``.

All synchronisation inside the server uses one ``threading.Condition``; the only waits on processes are
``Event.wait(timeout)`` on a per-process watcher thread and a blocking ``waitid(WSTOPPED)`` to confirm a freeze.
Linux only (process groups, ``/proc``, ``waitid``).
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import http.server
import json
import os
import secrets
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
import weakref
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = [
    "HIDDEN_FROM_EXTENSIONS",
    "InvokeResult",
    "LambdaSandbox",
    "SandboxError",
    "SandboxInitError",
    "ShutdownResult",
    "process_state",
]

RUNTIME_API_VERSION = "2018-06-01"
EXTENSION_API_VERSION = "2020-01-01"
ACCOUNT_ID = "123456789012"
MAX_EXTENSIONS = 10
MAX_RESPONSE_BYTES = 6 * 1024 * 1024
EXECUTION_ENV = "AWS_Lambda_python3.12"

#: Variables Lambda gives the runtime process but not extensions (runtimes-extensions-api.md).
HIDDEN_FROM_EXTENSIONS: frozenset[str] = frozenset(
    {
        "AWS_EXECUTION_ENV",
        "AWS_LAMBDA_LOG_GROUP_NAME",
        "AWS_LAMBDA_LOG_STREAM_NAME",
        "AWS_XRAY_CONTEXT_MISSING",
        "AWS_XRAY_DAEMON_ADDRESS",
        "LAMBDA_RUNTIME_DIR",
        "LAMBDA_TASK_ROOT",
        "_AWS_XRAY_DAEMON_ADDRESS",
        "_AWS_XRAY_DAEMON_PORT",
        "_HANDLER",
    }
)

# Keys of the caller's ``env`` that cannot override the sandbox's own value (PATH/PYTHONPATH are merged instead).
_PROTECTED_ENV = frozenset({"AWS_LAMBDA_RUNTIME_API", "_HANDLER", "LAMBDA_TASK_ROOT", "PATH", "PYTHONPATH"})
_VALID_EVENTS = frozenset({"INVOKE", "SHUTDOWN"})
_LOG_TAIL_CHARS = 6000


class SandboxError(RuntimeError):
    """Misuse of the sandbox or an unexpected state."""


class SandboxInitError(SandboxError):
    """The INIT phase failed: runtime or extension init error, crash, or ``init_timeout_s`` exceeded."""

    def __init__(
        self,
        reason: str,
        *,
        logs: Mapping[str, str],
        init_error: dict[str, Any] | None = None,
    ) -> None:
        self.reason = reason
        self.logs = dict(logs)
        self.init_error = init_error
        parts = [reason]
        if init_error is not None:
            parts.append(f"init error: {json.dumps(init_error)}")
        for name, text in self.logs.items():
            tail = text[-_LOG_TAIL_CHARS:]
            parts.append(f"--- {name} output (last {len(tail)} chars) ---\n{tail}")
        super().__init__("\n".join(parts))


@dataclass
class InvokeResult:
    request_id: str
    #: Decoded JSON response of the handler (text if it was not JSON); None on error.
    payload: Any  # None on error; typed Any (not Any | None) so callers can index it without narrowing
    #: The body the runtime posted to ``/invocation/{id}/error``, or a sandbox-made error
    #: (``Sandbox.Timeout``, ``Runtime.ExitError``, ``Function.ResponseSizeTooLarge``).
    error: dict[str, Any] | None
    #: Event handed to the runtime -> runtime posted its response/error.
    duration_ms: float
    #: Runtime response -> the runtime and all live extensions called ``next`` again.
    post_runtime_extensions_ms: float
    #: INVOKE event queued for each extension registered for INVOKE, by extension name.
    extension_events: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: Set when the environment was reset after this invoke ("TIMEOUT" or "FAILURE"); the next invoke re-inits.
    reset_reason: str | None = None
    raw_payload: bytes | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


@dataclass
class ShutdownResult:
    reason: str
    elapsed_ms: float
    #: Extension name -> exit code (negative = signal), None if the sandbox had to SIGKILL it after the budget.
    exit_codes: dict[str, int | None]
    #: Names of processes SIGKILLed because they outlived the budget ("runtime" included if it had to be).
    killed: list[str]
    runtime_exit_code: int | None = None


def process_state(pid: int) -> str | None:
    """Single-letter state of a process from /proc/<pid>/stat ('T' = stopped), or None if it is gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat[stat.rindex(")") + 2]


def _epoch_ms() -> int:
    return int(time.time() * 1000)


def _trace_id() -> str:
    return f"Root=1-{int(time.time()):08x}-{secrets.token_hex(12)};Parent={secrets.token_hex(8)};Sampled=0"


class _Proc:
    """A child process in its own session (= process group) plus a watcher thread that reaps it."""

    def __init__(self, name: str, popen: subprocess.Popen[bytes], on_exit: Callable[[_Proc], None]) -> None:
        self.name = name
        self.popen = popen
        self.pid = popen.pid
        self.exited = threading.Event()
        self.returncode: int | None = None
        self._thread = threading.Thread(
            target=self._watch, args=(on_exit,), name=f"sandbox-reaper-{name}-{popen.pid}", daemon=True
        )
        self._thread.start()

    def _watch(self, on_exit: Callable[[_Proc], None]) -> None:
        rc = self.popen.wait()
        self.returncode = rc
        self.exited.set()
        on_exit(self)

    @property
    def alive(self) -> bool:
        return not self.exited.is_set()

    def signal_group(self, sig: int) -> bool:
        if not self.alive:
            return False
        try:
            os.killpg(self.pid, sig)
        except (ProcessLookupError, PermissionError):
            return False
        return True

    def wait_stopped(self) -> None:
        """Block until the (SIGSTOPped) leader is really stopped, or has exited; does not reap it."""
        if not self.alive:
            return
        with contextlib.suppress(ChildProcessError, OSError):
            os.waitid(os.P_PID, self.pid, os.WSTOPPED | os.WEXITED | os.WNOWAIT)

    def kill(self, timeout: float = 10.0) -> None:
        self.signal_group(signal.SIGKILL)
        self.exited.wait(timeout)


def _kill_session(sid: int) -> None:
    """SIGKILL processes left over in session ``sid`` (orphaned children of an exited leader)."""
    me = os.getpid()
    try:
        entries = os.listdir("/proc")
    except OSError:
        return
    for entry in entries:
        if not entry.isdigit() or int(entry) == me:
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2 :].split()
        if len(fields) > 3 and fields[3] == str(sid):  # state ppid pgrp session
            with contextlib.suppress(OSError):
                os.kill(int(entry), signal.SIGKILL)


def _finalize(procs: list[_Proc], tmp: str | None) -> None:
    for proc in procs:
        proc.signal_group(signal.SIGKILL)
    if tmp is not None:
        shutil.rmtree(tmp, ignore_errors=True)


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


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A killed runtime/extension resets its connection; that is expected, not worth a traceback.
        if isinstance(sys.exc_info()[1], ConnectionError):
            return
        super().handle_error(request, client_address)


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


class LambdaSandbox:
    """A local Lambda execution environment; see the module docstring."""

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

    # ------------------------------------------------------------------ filesystem

    def _prepare_dirs(self, layers: list[Path]) -> None:
        self.opt_dir.mkdir()
        self.runtime_dir.mkdir()
        self.bin_dir.mkdir()
        self.log_dir.mkdir(parents=True, exist_ok=True)
        for layer in layers:
            if not layer.is_dir():
                raise SandboxError(f"layer {layer} is not a directory")
            # Later layers win, like Lambda's layer merge order.
            shutil.copytree(
                layer,
                self.opt_dir,
                symlinks=True,
                dirs_exist_ok=True,
                ignore=shutil.ignore_patterns("__pycache__", "*.pyc"),
            )
        ext_dir = self.opt_dir / "extensions"
        if ext_dir.is_dir():
            for item in ext_dir.iterdir():
                if item.is_file():
                    item.chmod(item.stat().st_mode | 0o111)
        for name in ("python", "python3"):
            wrapper = self.bin_dir / name
            wrapper.write_text(f'#!/bin/sh\nexec {shlex.quote(self.python)} "$@"\n')
            wrapper.chmod(0o755)

    def _discover_extensions(self) -> list[Path]:
        ext_dir = self.opt_dir / "extensions"
        if not ext_dir.is_dir():
            return []
        return sorted(p for p in ext_dir.iterdir() if p.is_file())

    def _log_path(self, name: str) -> Path:
        path = self._log_names.get(name)
        if path is None:
            safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in name) or "process"
            path = self.log_dir / f"{safe}.log"
            self._log_names[name] = path
        return path

    # ------------------------------------------------------------------ environment

    def _build_envs(self, port: int) -> tuple[dict[str, str], dict[str, str]]:
        user = dict(self.user_env)
        pythonpath = [str(self.opt_dir / "python")]
        site_dirs = sorted((self.opt_dir / "python" / "lib").glob("python3*/site-packages"))
        pythonpath += [str(p) for p in site_dirs]
        pythonpath.append(str(self.task_root))
        if user.get("PYTHONPATH"):
            pythonpath.append(user["PYTHONPATH"])
        path = [str(self.bin_dir), str(Path(self.python).parent), str(self.opt_dir / "bin")]
        path += ["/usr/local/bin", "/usr/bin", "/bin"]
        if user.get("PATH"):
            path.append(user["PATH"])

        env: dict[str, str] = {
            "LANG": "C.UTF-8",
            "TZ": ":UTC",
            "PYTHONUNBUFFERED": "1",
            "PYTHONDONTWRITEBYTECODE": "1",
            "AWS_LAMBDA_FUNCTION_NAME": self.function_name,
            "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(self.memory_mb),
            "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{self.function_name}",
            "AWS_LAMBDA_LOG_STREAM_NAME": self._log_stream,
            "AWS_LAMBDA_INITIALIZATION_TYPE": "on-demand",
            "AWS_REGION": self.region,
            "AWS_DEFAULT_REGION": self.region,
            "AWS_ACCESS_KEY_ID": "ASIA" + secrets.token_hex(8).upper(),
            "AWS_SECRET_ACCESS_KEY": secrets.token_urlsafe(30),
            "AWS_SESSION_TOKEN": self.session_token,
            "AWS_EXECUTION_ENV": EXECUTION_ENV,
            "LAMBDA_RUNTIME_DIR": str(self.runtime_dir),
        }
        if "AWS_ACCESS_KEY_ID" in user:
            # Whoever sets a key id sets its secret too; do not pair it with a random secret.
            env.pop("AWS_SECRET_ACCESS_KEY")
        env.update({k: v for k, v in user.items() if k not in _PROTECTED_ENV})
        env.update(
            {
                "AWS_LAMBDA_RUNTIME_API": f"127.0.0.1:{port}",
                "_HANDLER": self.handler,
                "LAMBDA_TASK_ROOT": str(self.task_root),
                "PATH": ":".join(path),
                "PYTHONPATH": ":".join(pythonpath),
            }
        )
        ext_env = {k: v for k, v in env.items() if k not in HIDDEN_FROM_EXTENSIONS}
        return env, ext_env

    @property
    def runtime_env(self) -> dict[str, str]:
        """Environment of the current (or last) runtime process."""
        return dict(self._runtime_env)

    @property
    def extension_env(self) -> dict[str, str]:
        """Environment of the current (or last) extension processes."""
        return dict(self._extension_env)

    # ------------------------------------------------------------------ bookkeeping

    def _mark(self, name: str) -> None:
        with self._cond:
            self.timeline.append((time.monotonic(), name))

    def timeline_names(self) -> list[str]:
        with self._cond:
            return [name for _, name in self.timeline]

    def first(self, name: str) -> float | None:
        """Monotonic time of the first timeline event called ``name``."""
        with self._cond:
            return next((t for t, n in self.timeline if n == name), None)

    def logs(self) -> dict[str, str]:
        """Captured stdout+stderr per process name ("runtime" and the extension names)."""
        out: dict[str, str] = {}
        for name, path in list(self._log_names.items()):
            try:
                out[name] = path.read_text(errors="replace")
            except OSError:
                out[name] = ""
        return out

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

    def _on_exit(self, proc: _Proc) -> None:
        with self._cond:
            label = "runtime_exited" if proc.name == "runtime" else f"extension_exited:{proc.name}"
            self.timeline.append((time.monotonic(), f"{label}"))
            self._cond.notify_all()

    def _spawn(self, name: str, argv: list[str], *, cwd: Path, env: dict[str, str]) -> _Proc:
        log_path = self._log_path(name)
        with open(log_path, "ab") as log:
            popen = subprocess.Popen(
                argv,
                cwd=str(cwd),
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                close_fds=True,
            )
        proc = _Proc(name, popen, self._on_exit)
        self._all_procs.append(proc)
        return proc

    # ------------------------------------------------------------------ HTTP server

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

    @staticmethod
    def _read_body(h: http.server.BaseHTTPRequestHandler) -> bytes:
        if "chunked" in h.headers.get("Transfer-Encoding", "").lower():
            chunks: list[bytes] = []
            while True:
                size_line = h.rfile.readline()
                size = int(size_line.split(b";", 1)[0].strip() or b"0", 16)
                if size == 0:
                    while h.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return b"".join(chunks)
                chunks.append(h.rfile.read(size))
                h.rfile.readline()
        length = int(h.headers.get("Content-Length") or 0)
        return h.rfile.read(length) if length > 0 else b""

    @staticmethod
    def _reply(
        h: http.server.BaseHTTPRequestHandler,
        status: int,
        body: Any = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        if isinstance(body, bytes):
            data = body
        elif body is None:
            data = b""
        else:
            data = json.dumps(body).encode()
        try:
            h.send_response(status)
            h.send_header("Content-Type", "application/json")
            for key, value in (headers or {}).items():
                h.send_header(key, value)
            h.send_header("Content-Length", str(len(data)))
            h.end_headers()
            h.wfile.write(data)
            h.wfile.flush()
        except OSError:
            h.close_connection = True

    @staticmethod
    def _json_or_text(raw: bytes) -> Any:
        if not raw:
            return None
        try:
            return json.loads(raw)
        except ValueError:
            return raw.decode(errors="replace")

    def _dispatch(self, gen: _Generation, h: http.server.BaseHTTPRequestHandler, method: str) -> None:
        path = h.path.split("?", 1)[0].rstrip("/")
        body = self._read_body(h) if method == "POST" else b""
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
        self._reply(h, 404, {"errorType": "NotFound", "errorMessage": f"{method} {h.path} is not emulated"})

    # --- Runtime API

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
            self._reply(h, 500, {"errorType": "Sandbox.Retired", "errorMessage": "environment is shutting down"})
            h.close_connection = True
            return
        self._reply(
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
            self._reply(h, 400, {"errorType": "InvalidRequestID", "errorMessage": "Invalid request ID"})
        elif inv.error is not None:
            self._reply(h, 413, {"errorType": "RequestEntityTooLarge", "errorMessage": inv.error["errorMessage"]})
        else:
            self._reply(h, 202, {"status": "OK"})

    def _error_body(self, h: http.server.BaseHTTPRequestHandler, body: bytes) -> dict[str, Any]:
        header_type = h.headers.get("Lambda-Runtime-Function-Error-Type")
        parsed = self._json_or_text(body)
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
            self._reply(h, 400, {"errorType": "InvalidRequestID", "errorMessage": "Invalid request ID"})
        else:
            self._reply(h, 202, {"status": "OK"})

    def _runtime_init_error(self, gen: _Generation, h: http.server.BaseHTTPRequestHandler, body: bytes) -> None:
        error = self._error_body(h, body)
        with self._cond:
            if gen.runtime.init_error is None:
                gen.runtime.init_error = error
            self.timeline.append((time.monotonic(), "runtime_init_error"))
            self._cond.notify_all()
        self._reply(h, 202, {"status": "OK"})

    # --- Extensions API

    def _ext_register(self, gen: _Generation, h: http.server.BaseHTTPRequestHandler, body: bytes) -> None:
        name = h.headers.get("Lambda-Extension-Name", "")
        parsed = self._json_or_text(body)
        events = parsed.get("events") if isinstance(parsed, dict) else None
        if not isinstance(events, list) or not all(isinstance(e, str) and e in _VALID_EVENTS for e in events):
            self._reply(h, 400, {"errorType": "InvalidEventType", "errorMessage": f"bad events in {parsed!r}"})
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
            self._reply(h, 403, {"errorType": err_type, "errorMessage": message})
            return
        reply: dict[str, Any] = {
            "functionName": self.function_name,
            "functionVersion": "$LATEST",
            "handler": self.handler,
        }
        if "accountId" in h.headers.get("Lambda-Extension-Accept-Feature", ""):
            reply["accountId"] = ACCOUNT_ID
        self._reply(h, 200, reply, {"Lambda-Extension-Identifier": ext.identifier})

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
            self._reply(h, 403, {"errorType": "Extension.Unknown", "errorMessage": "unknown or failed extension"})
            return
        if event is None:
            self._reply(h, 500, {"errorType": "Sandbox.Retired", "errorMessage": "environment is shutting down"})
            h.close_connection = True
            return
        self._reply(h, 200, event, {"Lambda-Extension-Event-Identifier": str(uuid.uuid4())})

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
                        "body": self._json_or_text(body),
                    }
                )
                self.timeline.append((time.monotonic(), f"extension_{kind}_error:{ext.name}"))
                self._cond.notify_all()
        if ext is None:
            self._reply(h, 403, {"errorType": "Extension.Unknown", "errorMessage": "unknown extension identifier"})
        else:
            self._reply(h, 202, {"status": "OK"})

    # ------------------------------------------------------------------ freezing

    def _freeze(self, gen: _Generation) -> None:
        procs = [p for p in gen.procs() if p.alive]
        for proc in procs:
            proc.signal_group(signal.SIGSTOP)
        for proc in procs:
            proc.wait_stopped()
        self._frozen = True
        self._mark("frozen")

    def _thaw(self, gen: _Generation) -> None:
        for proc in gen.procs():
            proc.signal_group(signal.SIGCONT)
        if self._frozen:
            self._frozen = False
            self._mark("thawed")

    # ------------------------------------------------------------------ INIT

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

    # ------------------------------------------------------------------ INVOKE

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
        payload = None if inv.error is not None else self._json_or_text(inv.response or b"")
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

    def _reset(self, gen: _Generation, reason: str) -> None:
        """Lambda's reset after a failed invoke: kill the runtime, SHUTDOWN the extensions, re-init next time."""
        self._mark(f"reset:{reason}")
        result = self._terminate(gen, reason, graceful_runtime=False)
        self.resets.append(result)
        with self._cond:
            if self._gen is gen:
                self._gen = None

    # ------------------------------------------------------------------ SHUTDOWN

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

    # ------------------------------------------------------------------ cleanup

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
