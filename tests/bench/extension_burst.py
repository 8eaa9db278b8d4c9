"""The genesys-token extension's localhost API under 200 concurrent GET /token (goal: p99 < 250 ms).

Baseline: one GET /token at a time, same server, same run.
"""

from __future__ import annotations

import http.client
import os
import threading
import time

from genesys_auth import Settings, build_provider
from genesys_auth.extension_client import TOKEN_HEADER
from tests.harness.aws import MotoServer, app_env, create_credentials_secret
from tests.harness.genesys_emulator import GenesysEmulator

CALLERS = 200


def _get(port: int, session: str) -> float:
    started = time.monotonic()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request("GET", "/token", headers={TOKEN_HEADER: session})
        response = conn.getresponse()
        response.read()
        assert response.status == 200
    finally:
        conn.close()
    return time.monotonic() - started


def _p(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def serve() -> int:
    """Child process: the extension's server over a provider built from the environment; prints
    its port once the token is in memory, serves until stdin closes."""
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "extension"))
    from genesys_token.server import TokenServer
    from genesys_token.service import TokenService

    service = TokenService(build_provider(Settings.from_env(), use_extension=False))
    server = TokenServer(0, os.environ["AWS_SESSION_TOKEN"], max_wait=5)
    server.attach(service)
    server.start()
    service.token(__import__("genesys_auth").Deadline.after(10))
    print(server.server_address[1], flush=True)
    sys.stdin.read()
    server.stop()
    return 0


def run() -> list[tuple[str, str]]:
    import subprocess
    import sys

    moto = MotoServer().start()
    emulator = GenesysEmulator().start()
    try:
        oauth = emulator.add_client()
        secret_id = create_credentials_secret(moto, oauth.client_id, oauth.secret)
        env = {**os.environ, **app_env(moto, emulator.url, secret_id)}
        session = env["AWS_SESSION_TOKEN"]
        # The extension is its own process in Lambda: it must not share this process's GIL with
        # the 200 callers.
        child = subprocess.Popen(
            [sys.executable, "-m", "tests.bench.extension_burst"],
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        try:
            assert child.stdout is not None
            port = int(child.stdout.readline())
            alone = [_get(port, session) for _ in range(50)]
            times: list[float] = []
            errors: list[str] = []
            go = threading.Event()

            def caller() -> None:
                go.wait()
                try:
                    times.append(_get(port, session))
                except (OSError, AssertionError) as exc:
                    errors.append(type(exc).__name__)

            threads = [threading.Thread(target=caller) for _ in range(CALLERS)]
            for thread in threads:
                thread.start()
            go.set()
            for thread in threads:
                thread.join()
        finally:
            if child.stdin is not None:
                child.stdin.close()
            child.wait(10)
    finally:
        emulator.stop()
        moto.stop()
    return [
        ("one caller at a time p50 / p99 (baseline)", f"{_p(alone, 0.5) * 1000:.1f} / {_p(alone, 0.99) * 1000:.1f} ms"),
        (
            f"{CALLERS} concurrent callers p50 / p99",
            f"{_p(times, 0.5) * 1000:.1f} / {_p(times, 0.99) * 1000:.1f} ms ({len(times)}/{CALLERS} served, {len(errors)} failed)",
        ),
        ("p99 concurrent / p99 alone", f"{_p(times, 0.99) / _p(alone, 0.99):.1f}x"),
    ]


if __name__ == "__main__":
    import sys

    sys.exit(serve())
