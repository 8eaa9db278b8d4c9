"""`make demo` stage: one scheduled rotation in the middle of the example function's traffic.

Sets up the rotation's world (OAuth clients A and B with A active, the admin client, the app and
admin secrets, the token table), then runs ``invocations`` invocations of functions/example on
``threads`` threads against two containers: one warm from the start, one cold that first serves
after the rotation. Halfway, the rotation function (functions/rotation, called as EventBridge
Scheduler would) swaps the secret to B. The warm container keeps its valid token of A (A is not
regenerated); the cold one mints with B. Every invocation must succeed.
"""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from tests.harness.aws import MotoServer, patched_environ
from tests.harness.genesys_emulator import GenesysEmulator
from tests.harness.handler import Context, load_handler
from tests.harness.rotation import load_rotation_app, make_rotation_world


@dataclass
class RotationDemo:
    rows: list[tuple[str, object]] = field(default_factory=list)
    failed: bool = True


def run(moto: MotoServer, emulator: GenesysEmulator, invocations: int, threads: int) -> RotationDemo:
    with patched_environ(moto.env()):
        world = make_rotation_world(moto, emulator)
    rotation = load_rotation_app()
    with patched_environ(world.consumer_env()):
        warm = load_handler(name="example_app_rotation_warm")
        cold = load_handler(name="example_app_rotation_cold")
    results: list[dict[str, Any]] = []
    outcome: dict[str, Any] = {}
    lock = threading.Lock()
    rotated = threading.Event()
    half = invocations // 2

    def invoke(n: int) -> None:
        if n == half:
            try:
                outcome.update(rotation.handler(world.scheduled_event(), Context(60.0, "rotation")))
            except Exception as exc:  # reported below; the message never holds a secret
                outcome.update(status="failed", error=str(exc))
            rotated.set()
        container = warm if n < half or n % 2 else cold
        if container is cold:
            rotated.wait()  # the cold container starts after the rotation; the warm one serves meanwhile
        result = container.handler({"path": "/api/v2/organizations/me"}, Context(3.0, f"req-{n}"))
        with lock:
            results.append(result)

    started = time.monotonic()
    with patched_environ(world.env()), ThreadPoolExecutor(threads) as pool:
        list(pool.map(invoke, range(invocations)))
    elapsed = time.monotonic() - started
    by_client = emulator.counts()["api"]["by_client"]
    ok = sum(1 for r in results if r.get("ok"))
    demo = RotationDemo()
    demo.rows = [
        ("invocations", len(results)),
        ("succeeded", ok),
        ("failed calls", len(results) - ok),
        ("rotation", outcome.get("status", "not run")),
        ("secret regenerations", world.regenerations()),
        ("active client now", "B" if world.value()["client_id"] == world.b.client_id else "A"),
        ("API calls on client A", by_client.get(world.a.client_id, {}).get("requests", 0)),
        ("API calls on client B", by_client.get(world.b.client_id, {}).get("requests", 0)),
        ("wall time", f"{elapsed:.2f} s"),
    ]
    demo.failed = (
        ok != invocations
        or outcome.get("status") != "rotated"
        or world.regenerations() != 1
        or world.value()["client_id"] != world.b.client_id
    )
    return demo


def report(invocations: int, threads: int) -> bool:
    """Run the stage on its own moto server and emulator, print its rows; True if it failed."""
    print(f"\nrotation: {invocations} invocations on {threads} threads, one scheduled rotation A -> B halfway")
    moto = MotoServer().start()
    emulator = GenesysEmulator().start()
    try:
        demo = run(moto, emulator, invocations, threads)
    finally:
        emulator.stop()
        moto.stop()
    width = max(len(name) for name, _ in demo.rows)
    for name, value in demo.rows:
        print(f"  {name:<{width}}  {value}")
    return demo.failed


if __name__ == "__main__":
    raise SystemExit(1 if report(200, 16) else 0)
