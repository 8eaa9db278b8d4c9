"""`make demo`: the example function under load, on emulated AWS and Genesys (loopback only).

Starts moto server and the Genesys emulator, creates the credentials secret, then runs the
example handler (functions/example/app.py, exactly as Lambda would import it) for a batch of
invocations from several threads. Halfway through, every token of the client is revoked, as an
admin would in the Genesys UI, so the report shows the 401 being recovered from.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import ModuleType
from typing import Any

from tests.harness.aws import MotoServer, create_credentials_secret, patched_environ
from tests.harness.genesys_emulator import GenesysEmulator

ROOT = Path(__file__).resolve().parent.parent


class Context:
    """The two things a handler reads from Lambda's context object."""

    def __init__(self, timeout_s: float, request_id: str) -> None:
        self.deadline = time.monotonic() + timeout_s
        self.aws_request_id = request_id

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self.deadline - time.monotonic()) * 1000))


def load_handler(path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location("example_app", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def run_inprocess(invocations: int, threads: int) -> dict[str, Any]:
    moto = MotoServer().start()
    emulator = GenesysEmulator().start()
    try:
        oauth = emulator.add_client(name="demo-app")
        secret_id = create_credentials_secret(moto, oauth.client_id, oauth.secret, name="genesys/demo-app")
        env = {
            **moto.env(),
            "GENESYS_SECRET_ID": secret_id,
            "GENESYS_LOGIN_URL": emulator.url,
            "GENESYS_API_URL": emulator.url,
        }
        with patched_environ(env):
            app = load_handler(ROOT / "functions" / "example" / "app.py")
            results: list[dict[str, Any]] = []
            lock = threading.Lock()
            revoked = threading.Event()

            def invoke(n: int) -> None:
                if n == invocations // 2 and not revoked.is_set():
                    revoked.set()
                    emulator.revoke_client_tokens(oauth.client_id)
                result = app.handler({"path": "/api/v2/organizations/me"}, Context(3.0, f"req-{n}"))
                with lock:
                    results.append(result)

            started = time.monotonic()
            with ThreadPoolExecutor(threads) as pool:
                list(pool.map(invoke, range(invocations)))
            elapsed = time.monotonic() - started
            client = app.client
        counts = emulator.counts()
        return {
            "invocations": len(results),
            "ok": sum(1 for r in results if r.get("ok")),
            "errors": sum(1 for r in results if not r.get("ok")),
            "mints": counts["token"]["mints"],
            "secret_reads": client.secrets.reads,
            "recovered_401": client.replays,
            "api_401": counts["api"]["status"].get("401", 0),
            "elapsed_s": elapsed,
        }
    finally:
        emulator.stop()
        moto.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--invocations", type=int, default=200)
    parser.add_argument("--threads", type=int, default=16)
    args = parser.parse_args(argv)
    os.environ.pop("GENESYS_TOKEN_TABLE", None)

    print(f"genesys_auth demo: {args.invocations} invocations of functions/example on {args.threads} threads")
    print("emulated AWS (moto server) and Genesys Cloud (tests/harness) on 127.0.0.1; all tokens revoked halfway\n")
    report = run_inprocess(args.invocations, args.threads)
    rows = [
        ("invocations", report["invocations"]),
        ("succeeded", report["ok"]),
        ("errors", report["errors"]),
        ("token mints", report["mints"]),
        ("secret reads", report["secret_reads"]),
        ("401s seen by the API", report["api_401"]),
        ("401s recovered (replayed once)", report["recovered_401"]),
        ("wall time", f"{report['elapsed_s']:.2f} s"),
    ]
    width = max(len(name) for name, _ in rows)
    for name, value in rows:
        print(f"  {name:<{width}}  {value}")
    failed = report["errors"] > 0 or report["ok"] != args.invocations
    print("\nresult:", "FAILED" if failed else "OK: every invocation succeeded")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
