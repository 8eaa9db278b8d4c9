"""Cold-start storm: N containers (separate processes) asking for a token at once.

Shared = GENESYS_TOKEN_TABLE set; naive = every container mints for itself, as the official SDK
and most tutorials do. Same emulator, same 300 ms mint latency, same run.
"""

from __future__ import annotations

import statistics

from tests.harness.aws import MotoServer, app_env, create_credentials_secret, create_token_table
from tests.harness.container import broadcast, start_containers
from tests.harness.genesys_emulator import GenesysEmulator

SIZES = (1, 10, 50)


def _p(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def run() -> list[tuple[str, str]]:
    moto = MotoServer().start()
    emulator = GenesysEmulator().start()
    rows: list[tuple[str, str]] = []
    try:
        emulator.set_latency(0.3, endpoint="token")
        rows.append(("N  mode", "mints  ddb req/container  time-to-token p50 / p99"))
        for n in SIZES:
            for mode in ("naive", "shared"):
                oauth = emulator.add_client()
                secret_id = create_credentials_secret(moto, oauth.client_id, oauth.secret)
                env = app_env(moto, emulator.url, secret_id)
                if mode == "shared":
                    env["GENESYS_TOKEN_TABLE"] = create_token_table(moto)
                fleet = start_containers(env, n)
                try:
                    results = broadcast(fleet, op="token", deadline_s=30)
                finally:
                    for container in fleet:
                        container.stop()
                failed = sum(1 for r in results if not r["ok"])
                times = [r["elapsed_ms"] for r in results]
                ddb = statistics.mean(r["ddb_requests"] for r in results)
                rows.append(
                    (
                        f"{n:<2} {mode}",
                        f"{emulator.mints(oauth.client_id):>5}  {ddb:>17.1f}  "
                        f"{_p(times, 0.5):>8.0f} / {_p(times, 0.99):.0f} ms"
                        + (f"  ({failed} failed)" if failed else ""),
                    )
                )
    finally:
        emulator.stop()
        moto.stop()
    rows.append(("note", "time-to-token includes each process's first boto3 import; 2 cores shared by N processes"))
    return rows
