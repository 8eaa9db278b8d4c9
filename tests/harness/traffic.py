"""A consumer process for the rotation tests and demo: one `GenesysClient.from_env()` calling
`GET /api/v2/organizations/me` in a loop, like a warm Lambda container under steady traffic.

Prints JSON lines on stdout: ``{"event": "ready"}`` after its first successful call,
``{"event": "client", "client_id": ...}`` whenever its token belongs to another OAuth client, and at the
end ``{"event": "done", "ok": n, "failed": n, "errors": {kind: n}, "clients": [...]}``. It stops when
a line arrives on stdin (or stdin closes), or after ``--max-calls`` / ``--max-seconds``. Never
prints a token or a secret.

    python -m tests.harness.traffic [--pace 0.01]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from genesys_auth import GenesysAuthError, GenesysClient

ROOT = Path(__file__).resolve().parents[2]


def _client_in_use(client: GenesysClient, seen: dict[str, str | None]) -> str | None:
    """The OAuth client of the token this process uses now (asks tokens/me once per new token).

    Whatever tier the token came from (memory, shared table, a mint), this is the client the
    traffic really runs on.
    """
    try:
        fp = client.token_info().fingerprint
        if fp not in seen:
            body = client.get("/api/v2/tokens/me").json()
            seen[fp] = body.get("OAuthClient", {}).get("id")
        return seen[fp]
    except (GenesysAuthError, ValueError):
        return None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--pace", type=float, default=0.01, help="seconds between calls")
    parser.add_argument("--max-calls", type=int, default=100_000)
    parser.add_argument("--max-seconds", type=float, default=60.0)
    args = parser.parse_args(argv)

    stop = threading.Event()

    def watch_stdin() -> None:
        sys.stdin.readline()
        stop.set()

    threading.Thread(target=watch_stdin, daemon=True).start()

    def say(**fields: object) -> None:
        sys.stdout.write(json.dumps(fields) + "\n")
        sys.stdout.flush()

    client = GenesysClient.from_env()
    ok = failed = 0
    errors: dict[str, int] = {}
    clients: list[str] = []
    seen: dict[str, str | None] = {}
    ready = False
    started = time.monotonic()
    calls = 0
    while not stop.is_set() and calls < args.max_calls and time.monotonic() - started < args.max_seconds:
        calls += 1
        try:
            response = client.get("/api/v2/organizations/me")
            good = response.status_code == 200
            kind = f"http_{response.status_code}"
        except GenesysAuthError as exc:
            good, kind = False, exc.kind
        if good:
            ok += 1
        else:
            failed += 1
            errors[kind] = errors.get(kind, 0) + 1
        current = _client_in_use(client, seen)
        if current is not None and (not clients or clients[-1] != current):
            clients.append(current)
            say(event="client", client_id=current)
        if good and not ready:
            ready = True
            say(event="ready")
        stop.wait(args.pace)
    say(
        event="done",
        ok=ok,
        failed=failed,
        errors=errors,
        clients=clients,
        mints=client.minter.mints,
        secret_reads=client.secrets.reads,
        replays=client.replays,
    )
    return 0


class Fleet:
    """``n`` traffic processes; waits on what they report (no sleeping), collects their reports."""

    def __init__(
        self, n: int, env: Mapping[str, str], *, pace: float = 0.01, feed: Callable[[str], None] | None = None
    ) -> None:
        self.n = n
        self.feed = feed
        self._cond = threading.Condition()
        self.ready: set[int] = set()
        self.client_of: dict[int, str] = {}
        self.done: dict[int, dict[str, Any]] = {}
        child_env = {**os.environ, **env, "PYTHONPATH": str(ROOT)}
        self.procs = [
            subprocess.Popen(
                [sys.executable, "-m", "tests.harness.traffic", "--pace", str(pace)],
                cwd=ROOT,
                env=child_env,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for _ in range(n)
        ]
        self.stderr: list[str] = ["" for _ in range(n)]
        self._threads = [threading.Thread(target=self._read, args=(i,), daemon=True) for i in range(n)]
        self._threads += [threading.Thread(target=self._read_err, args=(i,), daemon=True) for i in range(n)]
        for thread in self._threads:
            thread.start()

    def _read(self, i: int) -> None:
        stdout = self.procs[i].stdout
        assert stdout is not None
        for line in stdout:
            if self.feed:
                self.feed(line)
            try:
                message = json.loads(line)
            except ValueError:
                continue
            with self._cond:
                if message.get("event") == "ready":
                    self.ready.add(i)
                elif message.get("event") == "client":
                    self.client_of[i] = message["client_id"]
                elif message.get("event") == "done":
                    self.done[i] = message
                self._cond.notify_all()
        with self._cond:
            self.done.setdefault(i, {"event": "done", "ok": 0, "failed": 1, "errors": {"died": 1}, "clients": []})
            self._cond.notify_all()

    def _read_err(self, i: int) -> None:
        stderr = self.procs[i].stderr
        assert stderr is not None
        text = stderr.read()
        self.stderr[i] = text
        if self.feed and text:
            self.feed(text)

    def wait_for(self, predicate: Callable[[], bool], timeout: float, what: str) -> None:
        with self._cond:
            if not self._cond.wait_for(lambda: predicate() or len(self.done) == self.n, timeout):
                raise TimeoutError(f"traffic fleet: timed out waiting for {what}")
            if not predicate():
                raise RuntimeError(f"traffic fleet: processes ended before {what}: {self.stderr}")

    def wait_ready(self, timeout: float = 30.0) -> None:
        self.wait_for(lambda: len(self.ready) == self.n, timeout, "every process's first call")

    def wait_all_on(self, client_id: str, timeout: float = 30.0) -> None:
        self.wait_for(
            lambda: all(self.client_of.get(i) == client_id for i in range(self.n)),
            timeout,
            f"every process to mint with client {client_id}",
        )

    def stop(self, timeout: float = 30.0) -> list[dict[str, Any]]:
        for proc in self.procs:
            if proc.stdin and not proc.stdin.closed:
                try:
                    proc.stdin.write("stop\n")
                    proc.stdin.close()
                except OSError:
                    pass
        with self._cond:
            self._cond.wait_for(lambda: len(self.done) == self.n, timeout)
        for proc in self.procs:
            try:
                proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        for thread in self._threads:
            thread.join(timeout=5)
        return [self.done.get(i, {"failed": 1, "errors": {"no report": 1}}) for i in range(self.n)]


if __name__ == "__main__":
    sys.exit(main())
