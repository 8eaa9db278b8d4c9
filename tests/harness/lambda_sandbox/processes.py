"""OS processes: each runtime/extension in its own session, reaped by a watcher thread, frozen with SIGSTOP."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path

from .layers import _LayersMixin
from .state import _Generation


def process_state(pid: int) -> str | None:
    """Single-letter state of a process from /proc/<pid>/stat ('T' = stopped), or None if it is gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat[stat.rindex(")") + 2]


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


class _ProcessesMixin(_LayersMixin):
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
