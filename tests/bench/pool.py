"""Throughput under a rate limit: naive (a token per container), one shared token, and the pool.

Offered load as a multiple of one token's limit (the emulator scaled down to 20 requests per 5 s,
so a run takes seconds); 4 containers (clients with their own memory tier, in one process) share
the load. Same emulator, same run; the naive column is the baseline.
"""

from __future__ import annotations

import threading
import time

from genesys_auth import GenesysAuthError, GenesysClient, Settings
from tests.harness.aws import MotoServer, create_credentials_secret, create_token_table, patched_environ
from tests.harness.genesys_emulator import GenesysEmulator

LIMIT, WINDOW = 20, 5.0
CONTAINERS = 4
LOADS = (0.5, 2.0, 5.0, 10.0)
SECONDS = 5.0
ME = "/api/v2/organizations/me"


def _p(values: list[float], q: float) -> float:
    ordered = sorted(values) or [0.0]
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def _offer(clients: list[GenesysClient], rate: float) -> tuple[int, int, list[float]]:
    """``rate`` calls a second in all, spread over the clients, for SECONDS; (ok, failed, latencies)."""
    per_client = rate / len(clients)
    ok = failed = 0
    latencies: list[float] = []
    lock = threading.Lock()

    def run(client: GenesysClient) -> None:
        nonlocal ok, failed
        started = time.monotonic()
        for i in range(int(per_client * SECONDS)):
            delay = started + i / per_client - time.monotonic()
            if delay > 0:
                time.sleep(delay)  # pacing the offered load
            t = time.monotonic()
            try:
                good = client.get(ME, deadline=5).status_code == 200
            except GenesysAuthError:
                good = False
            with lock:
                latencies.append(time.monotonic() - t)
                ok, failed = (ok + 1, failed) if good else (ok, failed + 1)

    threads = [threading.Thread(target=run, args=(client,)) for client in clients]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return ok, failed, latencies


def offer_mode(moto: MotoServer, emulator: GenesysEmulator, mode: str, load: float) -> tuple[int, int, int]:
    """One mode at one load on a fresh emulator: (ok, failed, mints). ``mode``: naive, shared-1, pool."""
    oauth = emulator.add_client()
    secret_id = create_credentials_secret(moto, oauth.client_id, oauth.secret)
    settings = Settings(
        secret_id=secret_id,
        login_url=emulator.url,
        api_url=emulator.url,
        token_table=create_token_table(moto) if mode != "naive" else None,
        pool_max=8 if mode == "pool" else 1,  # naive: a token per container, as naive code does
    )
    clients = [GenesysClient(settings) for _ in range(CONTAINERS)]
    ok, failed, latencies = _offer(clients, load * LIMIT / WINDOW)
    offer_mode.latencies = latencies  # type: ignore[attr-defined]
    return ok, failed, emulator.mints()


def run() -> list[tuple[str, str]]:
    moto = MotoServer().start()
    rows: list[tuple[str, str]] = [("load  mode", "failed/calls  429s  mints  p99")]
    try:
        with patched_environ(moto.env()):
            for load in LOADS:
                for mode in ("naive", "shared-1", "pool"):
                    emulator = GenesysEmulator(api_rate_limit=LIMIT, api_rate_window=WINDOW).start()
                    try:
                        ok, failed, mints = offer_mode(moto, emulator, mode, load)
                        latencies: list[float] = offer_mode.latencies  # type: ignore[attr-defined]
                        rows.append(
                            (
                                f"{load:>4}x {mode}",
                                f"{failed:>6}/{ok + failed:<5} {emulator.counts()['api']['status'].get('429', 0):>5}"
                                f"  {mints:>5}  {_p(latencies, 0.99) * 1000:.0f} ms",
                            )
                        )
                    finally:
                        emulator.stop()
    finally:
        moto.stop()
    rows.append(("note", f"limit {LIMIT} per {WINDOW:.0f} s per token; {CONTAINERS} containers; pool max 8"))
    return rows
