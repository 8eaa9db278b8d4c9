"""Core library figures: warm token() cost, warm client.get() vs a bare requests.Session, import cost."""

from __future__ import annotations

import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any

import requests

from tests.harness.aws import MotoServer, create_credentials_secret
from tests.harness.genesys_emulator import GenesysEmulator


def _per_call(fn: Callable[[], Any], n: int, rounds: int = 5) -> float:
    """Median over rounds of the mean seconds per call."""
    samples = []
    for _ in range(rounds):
        started = time.perf_counter()
        for _ in range(n):
            fn()
        samples.append((time.perf_counter() - started) / n)
    return statistics.median(samples)


def _import_ms(statement: str, repeats: int = 7) -> float:
    code = f"import time; t=time.perf_counter(); {statement}; print((time.perf_counter()-t)*1000)"
    values = [
        float(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout)
        for _ in range(repeats)
    ]
    return statistics.median(values)


def run() -> list[tuple[str, str]]:
    from genesys_auth import GenesysClient, Settings

    rows: list[tuple[str, str]] = []
    moto = MotoServer().start()
    emulator = GenesysEmulator(api_rate_limit=10**9).start()
    try:
        oauth = emulator.add_client()
        secret_id = create_credentials_secret(moto, oauth.client_id, oauth.secret)
        import os

        os.environ.update(moto.env())
        client = GenesysClient(Settings(secret_id=secret_id, login_url=emulator.url, api_url=emulator.url))
        client.token()

        # token() warm hit vs a plain attribute read (the floor of "no work at all").
        class Holder:
            value = "x"

        holder = Holder()
        hit = _per_call(client.token, 200_000)
        floor = _per_call(lambda: holder.value, 200_000)
        rows.append(("token() warm hit", f"{hit * 1e9:.0f} ns/call ({hit / floor:.1f}x a bare attribute read)"))

        # Warm GET against the local emulator vs a bare session with a fixed header.
        bare = requests.Session()
        header = {"Authorization": f"Bearer {client.token()}"}
        url = f"{emulator.url}/api/v2/organizations/me"
        bare.get(url, headers=header, timeout=5)
        client.get("/api/v2/organizations/me")
        ours_samples, bare_samples = [], []
        for _ in range(9):  # interleaved rounds so drift hits both sides alike
            bare_samples.append(_per_call(lambda: bare.get(url, headers=header, timeout=5), 200, rounds=1))
            ours_samples.append(_per_call(lambda: client.get("/api/v2/organizations/me"), 200, rounds=1))
        ours, base = statistics.median(ours_samples), statistics.median(bare_samples)
        rows.append(
            (
                "client.get() warm vs bare Session.get",
                f"{ours * 1e6:.0f} us vs {base * 1e6:.0f} us = {ours / base:.3f}x (goal <= 1.05)",
            )
        )
    finally:
        emulator.stop()
        moto.stop()

    requests_ms = _import_ms("import requests")
    ours_ms = _import_ms("import genesys_auth")
    rows.append(
        (
            "import genesys_auth",
            f"{ours_ms:.0f} ms vs {requests_ms:.0f} ms for import requests alone ({ours_ms / requests_ms:.2f}x)",
        )
    )
    pulled = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys, genesys_auth; print('boto3' in sys.modules, 'aws_lambda_powertools' in sys.modules)",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    rows.append(("import pulls in boto3 / powertools", f"{pulled[0]} / {pulled[1]} (must be False / False)"))
    return rows
