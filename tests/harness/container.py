"""One emulated Lambda container: a separate OS process with its own GenesysClient.

The parent drives it over stdin/stdout, one JSON object a line, so tests synchronise on answers
instead of sleeping. The process builds its client at import time (a cold start), prints
``{"event": "ready"}`` and then executes commands:

    {"op": "token", "deadline_s": 10}
    {"op": "get", "path": "/api/v2/organizations/me", "deadline_s": 10}
    {"op": "loop", "path": "...", "seconds": 5, "deadline_s": 3}   # call repeatedly, report counts
    {"op": "burst", "path": "...", "n": 40, "deadline_s": 5}      # n calls back to back
    {"op": "paced", "path": "...", "rate": 2, "seconds": 15}     # an offered load, calls a second
    {"op": "stats"}
    {"op": "exit"}

Every answer carries this container's counters: mints, secret reads, DynamoDB requests.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from typing import Any

from genesys_auth import GenesysAuthError, GenesysClient


def _counters(client: GenesysClient) -> dict[str, Any]:
    source = client.provider.source
    store = getattr(source, "store", None)
    return {
        "mints": client.minter.mints,
        "secret_reads": client.secrets.reads,
        "ddb_requests": getattr(store, "requests", 0),
        "replays": client.replays,
        "metrics": dict(client.metrics.counts),
        "pool": client.provider.pool.snapshot(),
    }


def _calls(client: GenesysClient, command: dict[str, Any]) -> dict[str, Any]:
    """``burst``: ``n`` calls back to back; ``paced``: ``rate`` calls a second for ``seconds``."""
    ok = failed = 0
    errors: dict[str, int] = {}
    slowest = 0.0
    paced = command["op"] == "paced"
    total = int(command["rate"] * command["seconds"]) if paced else int(command["n"])
    started = time.monotonic()
    for i in range(total):
        if paced:
            delay = started + i / float(command["rate"]) - time.monotonic()
            if delay > 0:
                time.sleep(delay)  # pacing the offered load, not synchronisation
        call_started = time.monotonic()
        try:
            status = client.get(command["path"], deadline=float(command.get("deadline_s", 5))).status_code
        except GenesysAuthError as err:
            failed += 1
            errors[err.kind] = errors.get(err.kind, 0) + 1
        else:
            if status == 200:
                ok += 1
            else:
                failed += 1
                errors[str(status)] = errors.get(str(status), 0) + 1
        slowest = max(slowest, time.monotonic() - call_started)
    return {"ok_calls": ok, "failed_calls": failed, "errors": errors, "slowest_ms": slowest * 1000}


def _run(client: GenesysClient, command: dict[str, Any]) -> dict[str, Any]:
    op = command["op"]
    deadline = float(command.get("deadline_s", 10))
    started = time.monotonic()
    answer: dict[str, Any] = {"op": op}
    try:
        if op == "token":
            info = client.token_info(deadline=deadline)
            answer.update(fp=info.fingerprint, version=info.version)
        elif op == "get":
            response = client.get(command["path"], deadline=deadline)
            answer.update(status=response.status_code, fp=client.token_info().fingerprint)
        elif op == "loop":
            ok = failed = 0
            errors: dict[str, int] = {}
            end = time.monotonic() + float(command["seconds"])
            while time.monotonic() < end:
                try:
                    status = client.get(command["path"], deadline=float(command.get("deadline_s", 3))).status_code
                    if status == 200:
                        ok += 1
                    else:
                        failed += 1
                        errors[str(status)] = errors.get(str(status), 0) + 1
                except GenesysAuthError as err:
                    failed += 1
                    errors[err.kind] = errors.get(err.kind, 0) + 1
            answer.update(ok_calls=ok, failed_calls=failed, errors=errors)
        elif op in ("burst", "paced"):
            answer.update(_calls(client, command))
        elif op != "stats":
            raise ValueError(f"unknown op {op}")
        answer["ok"] = True
    except GenesysAuthError as err:
        answer.update(ok=False, error=err.kind, message=str(err))
    answer["elapsed_ms"] = (time.monotonic() - started) * 1000
    answer.update(_counters(client))
    return answer


def main() -> int:
    import logging

    # The library's own log lines go to stderr, which the parent feeds to the leak watch.
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(name)s %(levelname)s %(message)s")
    for noisy in ("botocore", "boto3", "urllib3"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    client = GenesysClient.from_env()
    if os.environ.get("GENESYS_TEST_WARM_BOTO3") == "1":
        # Tests of the pool measure load spreading, not 10 processes importing boto3 at once.
        import boto3  # noqa: F401
    print(json.dumps({"event": "ready"}), flush=True)
    for line in sys.stdin:
        command = json.loads(line)
        if command["op"] == "exit":
            break
        print(json.dumps(_run(client, command)), flush=True)
    return 0


class Container:
    """Parent-side handle of one container process."""

    def __init__(self, env: Mapping[str, str], *, name: str = "container") -> None:
        import os

        self.name = name
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tests.harness.container"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, **env},
        )
        self.transcript: list[str] = []

    def _read(self) -> dict[str, Any]:
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError(f"{self.name} exited: {self.stderr_text()[-2000:]}")
        self.transcript.append(line)
        answer: dict[str, Any] = json.loads(line)
        return answer

    def wait_ready(self) -> None:
        answer = self._read()
        assert answer == {"event": "ready"}, answer

    def send(self, **command: Any) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps(command) + "\n")
        self.proc.stdin.flush()

    def receive(self) -> dict[str, Any]:
        return self._read()

    def call(self, **command: Any) -> dict[str, Any]:
        self.send(**command)
        return self.receive()

    def stop(self) -> str:
        """End the process; returns everything it wrote (for the leak watch)."""
        if self.proc.poll() is None:
            try:
                self.send(op="exit")
                self.proc.wait(timeout=10)
            except (OSError, subprocess.TimeoutExpired):
                self.proc.kill()
                self.proc.wait()
        return "".join(self.transcript) + self.stderr_text()

    def stderr_text(self) -> str:
        if self.proc.poll() is None or self.proc.stderr is None:
            return ""
        return self.proc.stderr.read()


def start_containers(env: Mapping[str, str], n: int) -> list[Container]:
    """Start ``n`` containers and wait until every one of them is ready (cold start done)."""
    containers = [Container(env, name=f"container-{i}") for i in range(n)]
    for container in containers:
        container.wait_ready()
    return containers


def broadcast(containers: Sequence[Container], **command: Any) -> list[dict[str, Any]]:
    """Send the same command to all at once, then collect every answer."""
    for container in containers:
        container.send(**command)
    return [container.receive() for container in containers]


if __name__ == "__main__":
    sys.exit(main())
