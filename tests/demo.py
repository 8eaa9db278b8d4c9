"""`make demo`: the example function under load, on emulated AWS and Genesys (loopback only).

Starts moto server and the Genesys emulator, creates the credentials secret, then runs the
example handler (functions/example/app.py, exactly as Lambda would import it) for a batch of
invocations from several threads. Halfway through, every token of the client is revoked, as an
admin would in the Genesys UI, so the report shows the 401 being recovered from.
"""

from __future__ import annotations

import argparse
import os
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from tests import demo_rotation
from tests.harness.aws import MotoServer, app_env, create_credentials_secret, patched_environ
from tests.harness.genesys_emulator import GenesysEmulator
from tests.harness.handler import Context, load_handler


def run_inprocess(invocations: int, threads: int) -> dict[str, Any]:
    moto = MotoServer().start()
    emulator = GenesysEmulator().start()
    try:
        oauth = emulator.add_client(name="demo-app")
        secret_id = create_credentials_secret(moto, oauth.client_id, oauth.secret, name="genesys/demo-app")
        env = app_env(moto, emulator.url, secret_id)
        with patched_environ(env):
            app = load_handler()
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


def run_containers(containers: int, calls: int) -> dict[str, Any]:
    """Cold containers (separate processes) all at once: with the shared table, then without."""
    from tests.harness.aws import create_token_table
    from tests.harness.container import broadcast, start_containers

    moto = MotoServer().start()
    emulator = GenesysEmulator().start()
    report: dict[str, Any] = {}
    try:
        emulator.set_latency(0.3, endpoint="token")  # a realistic mint, so the race is real
        oauth = emulator.add_client(name="demo-fleet")
        secret_id = create_credentials_secret(moto, oauth.client_id, oauth.secret, name="genesys/demo-fleet")
        base = app_env(moto, emulator.url, secret_id)
        for label, extra in (("shared", {"GENESYS_TOKEN_TABLE": create_token_table(moto)}), ("naive", {})):
            emulator.reset_counters()
            fleet = start_containers({**base, **extra}, containers)
            try:
                results = []
                for _ in range(calls):
                    results += broadcast(fleet, op="get", path="/api/v2/organizations/me", deadline_s=20)
                last = broadcast(fleet, op="stats")
            finally:
                for container in fleet:
                    container.stop()
            report[label] = {
                "calls": len(results),
                "ok": sum(1 for r in results if r.get("status") == 200),
                "mints": emulator.counts()["token"]["mints"],
                "secret_reads": sum(r["secret_reads"] for r in last),
                "ddb_per_container": sum(r["ddb_requests"] for r in last) / containers,
            }
    finally:
        emulator.stop()
        moto.stop()
    return report


def burst_report() -> bool:
    """A burst at 5x one token's rate limit: naive, one shared token, and the pool side by side.
    Returns True if the pool failed a call."""
    from tests.bench import pool

    load = 5.0
    print(
        f"\nburst: {load:g}x one token's limit ({pool.LIMIT} requests per {pool.WINDOW:.0f} s, scaled down) "
        f"from {pool.CONTAINERS} containers for {pool.SECONDS:.0f} s"
    )
    moto = MotoServer().start()
    columns: dict[str, tuple[int, int, int]] = {}
    try:
        with patched_environ(moto.env()):
            for mode in ("naive", "shared-1", "pool"):
                emulator = GenesysEmulator(api_rate_limit=pool.LIMIT, api_rate_window=pool.WINDOW).start()
                try:
                    ok, failed, mints = pool.offer_mode(moto, emulator, mode, load)
                finally:
                    emulator.stop()
                columns[mode] = (ok, failed, mints)
    finally:
        moto.stop()
    print(f"  {'':<14}  {'naive (token each)':>18}  {'one shared token':>16}  {'token pool':>10}")
    for index, name in ((0, "succeeded"), (1, "failed calls"), (2, "token mints")):
        values = [columns[mode][index] for mode in ("naive", "shared-1", "pool")]
        print(f"  {name:<14}  {values[0]:>18}  {values[1]:>16}  {values[2]:>10}")
    return columns["pool"][1] > 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--invocations", type=int, default=200)
    parser.add_argument("--threads", type=int, default=16)
    parser.add_argument("--containers", type=int, default=20)
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

    print(f"\nshared token cache: {args.containers} cold containers (separate processes) at once, 3 calls each")
    fleet = run_containers(args.containers, calls=3)
    print(f"  {'':<22}  {'with GENESYS_TOKEN_TABLE':>24}  {'memory only (naive)':>20}")
    for key, name in (
        ("calls", "API calls"),
        ("ok", "succeeded"),
        ("mints", "token mints"),
        ("secret_reads", "secret reads"),
        ("ddb_per_container", "DynamoDB req/container"),
    ):
        shared, naive = fleet["shared"][key], fleet["naive"][key]
        fmt = "{:.1f}" if isinstance(shared, float) else "{}"
        print(f"  {name:<22}  {fmt.format(shared):>24}  {fmt.format(naive):>20}")
    failed = failed or any(fleet[k]["ok"] != fleet[k]["calls"] for k in fleet) or fleet["shared"]["mints"] != 1

    failed = demo_rotation.report(args.invocations, args.threads) or failed  # tests/demo_rotation.py
    failed = burst_report() or failed

    print(
        "\nresult:",
        "FAILED"
        if failed
        else "OK: every call succeeded; one mint served every container; the rotation failed no call; "
        "the pool carried a burst one token could not",
    )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
