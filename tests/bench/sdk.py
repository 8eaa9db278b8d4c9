"""The official SDK: cold import from the SDK layer (python3.12) and managed vs plain SDK calls.

Cold import is measured as Lambda sees it: a fresh python3.12 process, a read-only layer
(nothing compiled at import time is kept), the SDK layer and the library layer on ``sys.path``.
Three builds of the same layer, each against the first as baseline: the SDK's own files without
bytecode, the SDK's own files with the layer's bytecode, and the layer as ``make build`` makes
it (bytecode and lazy ``__init__`` files). Per call: ``RoutingApi.get_routing_queues`` against the
local emulator through ``genesys_auth.sdk.api_client`` vs the plain SDK with a fixed token.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests.harness.aws import MotoServer, create_credentials_secret
from tests.harness.genesys_emulator import GenesysEmulator

ROOT = Path(__file__).resolve().parents[2]
IMPORT_REPEATS = 3
COLD_IMPORT = """
import sys, time
started = time.perf_counter()
import PureCloudPlatformClientV2
from PureCloudPlatformClientV2 import RoutingApi, ApiClient
import genesys_auth.sdk
elapsed = time.perf_counter() - started
models = sum(1 for name in sys.modules if name.startswith("PureCloudPlatformClientV2.models."))
# VmHWM, not ru_maxrss: Linux carries ru_maxrss over from the parent across fork + exec.
with open("/proc/self/status") as status:
    peak_kib = next(int(line.split()[1]) for line in status if line.startswith("VmHWM:"))
print(elapsed, peak_kib, models)
"""


def _build_layers() -> Any:
    sys.path.insert(0, str(ROOT / "extension"))
    try:
        import build_layers
    finally:
        sys.path.remove(str(ROOT / "extension"))
    return build_layers


def _lazy_view(eager: Path, lazy: Path, build_layers: Any, python: str) -> None:
    """The ``eager`` layer (compiled) with the lazy __init__ files: symlinks for all else, no copy."""
    (lazy / build_layers.SDK_LAYER).symlink_to(eager / build_layers.SDK_LAYER)
    packages = set(build_layers.LAZY_PACKAGES)
    for package in sorted(packages):
        (lazy / "python" / package / "__pycache__").mkdir(parents=True)
        for entry in (eager / "python" / package).iterdir():
            relative = f"{package}/{entry.name}"
            if entry.name in ("__init__.py", "__pycache__") or relative in packages:
                continue
            (lazy / "python" / relative).symlink_to(entry)
        for cached in (eager / "python" / package / "__pycache__").iterdir():
            if not cached.name.startswith("__init__."):
                (lazy / "python" / package / "__pycache__" / cached.name).symlink_to(cached)
        # The eager build's own __init__, minus the sys.path lines it was given.
        source = (eager / "python" / package / "__init__.py").read_text().replace(build_layers._SDK_LIB_PATH, "")
        (lazy / "python" / package / "__init__.py").write_text(build_layers.lazy_init_source(source, package))
    inits = [str(lazy / "python" / package / "__init__.py") for package in sorted(packages)]
    subprocess.run(
        [python, "-m", "compileall", "-q", "--invalidation-mode", "unchecked-hash", *inits],
        check=True,
        stdout=subprocess.DEVNULL,
    )


def _cold_import(
    python: str, sdk_site: Path, library_site: Path, *, bytecode: bool, empty: Path
) -> tuple[float, float, int]:
    """Median seconds, median RSS (MiB) and models imported over fresh processes."""
    env = {
        "PATH": os.environ.get("PATH", ""),
        "PYTHONPATH": os.pathsep.join([str(sdk_site), str(library_site)]),
        "PYTHONDONTWRITEBYTECODE": "1",  # /opt is read-only in Lambda
        "HOME": str(empty),  # the SDK's config-file watcher looks under ~
    }
    if not bytecode:
        env["PYTHONPYCACHEPREFIX"] = str(empty)  # look for .pyc only where there are none
    samples = []
    for _ in range(IMPORT_REPEATS):
        out = subprocess.run(
            [python, "-c", COLD_IMPORT], env=env, capture_output=True, text=True, check=True
        ).stdout.split()
        samples.append((float(out[0]), int(out[1]) / 1024, int(out[2])))
    return (
        statistics.median(s[0] for s in samples),
        statistics.median(s[1] for s in samples),
        samples[-1][2],
    )


def _du_mib(path: Path) -> float:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file() and not p.is_symlink()) / 2**20


def _import_rows() -> list[tuple[str, str]]:
    build_layers = _build_layers()
    python, version = build_layers.target_python()
    rows: list[tuple[str, str]] = []
    with tempfile.TemporaryDirectory(prefix="bench-sdk-") as tmp:
        root = Path(tmp)
        library = build_layers.build_library(root / "library", python=python) / "python"
        eager = build_layers.build_sdk(root / "eager", python=python, lazy_init=False)
        lazy = root / "lazy"
        lazy.mkdir()
        _lazy_view(eager, lazy, build_layers, python)
        empty = root / "empty"
        empty.mkdir()
        source_mib = sum(p.stat().st_size for p in eager.rglob("*.py")) / 2**20
        pyc_mib = sum(p.stat().st_size for p in eager.rglob("*.pyc")) / 2**20
        rows.append(
            (
                "SDK layer size (unzipped)",
                f"{_du_mib(eager):.0f} MiB ({source_mib:.0f} MiB .py, {pyc_mib:.0f} MiB .pyc)",
            )
        )
        base_s, base_rss, base_models = _cold_import(python, eager / "python", library, bytecode=False, empty=empty)
        pyc_s, pyc_rss, _ = _cold_import(python, eager / "python", library, bytecode=True, empty=empty)
        lazy_s, lazy_rss, lazy_models = _cold_import(python, lazy / "python", library, bytecode=True, empty=empty)
    rows.append(
        ("cold import (python " + version + ")", "import PureCloudPlatformClientV2 + RoutingApi + genesys_auth.sdk")
    )
    rows.append(
        (
            "  SDK's own files, no bytecode",
            f"{base_s:.2f} s, RSS {base_rss:.0f} MiB, {base_models} model modules (baseline)",
        )
    )
    rows.append(("  + layer bytecode", f"{pyc_s:.2f} s ({pyc_s / base_s:.2f}x), RSS {pyc_rss:.0f} MiB"))
    rows.append(
        (
            "  + lazy __init__ (the SDK layer)",
            f"{lazy_s:.2f} s ({lazy_s / base_s:.2f}x), RSS {lazy_rss:.0f} MiB, {lazy_models} model modules",
        )
    )
    return rows


def _per_call(fn: Callable[[], Any], n: int) -> float:
    started = time.perf_counter()
    for _ in range(n):
        fn()
    return (time.perf_counter() - started) / n


def _bare_requests_client(token: str) -> Any:
    """The SDK on a bare ``requests.Session`` with a fixed token: what requests itself costs."""
    import requests
    from PureCloudPlatformClientV2.abstract_http_client import AbstractHttpClient

    from genesys_auth.sdk import _SdkResponse

    class BareRequests(AbstractHttpClient):  # type: ignore[misc]
        def __init__(self) -> None:
            super().__init__()
            self.session = requests.Session()

        def request(self, options: Any) -> Any:
            headers = {**options.headers, "Authorization": f"Bearer {token}"}
            response = self.session.request(options.method, options.url, params=options.query_params, headers=headers)
            return _SdkResponse(response)

    return BareRequests()


def _call_rows() -> list[tuple[str, str]]:
    from PureCloudPlatformClientV2 import ApiClient, RoutingApi

    from genesys_auth import GenesysClient, Settings
    from genesys_auth.sdk import api_client

    moto = MotoServer().start()
    emulator = GenesysEmulator(api_rate_limit=10**9).start()
    try:
        oauth = emulator.add_client()
        secret_id = create_credentials_secret(moto, oauth.client_id, oauth.secret)
        os.environ.update(moto.env())
        client = GenesysClient(Settings(secret_id=secret_id, login_url=emulator.url, api_url=emulator.url))
        managed = RoutingApi(api_client(client))
        plain_client = ApiClient(host=emulator.url)
        plain_client.access_token = client.token()
        plain = RoutingApi(plain_client)
        bare_client = ApiClient(host=emulator.url)
        bare_client.set_http_client(_bare_requests_client(client.token()))
        bare = RoutingApi(bare_client)
        calls = {
            "managed": managed.get_routing_queues,
            "plain": plain.get_routing_queues,
            "bare": bare.get_routing_queues,
        }
        samples: dict[str, list[float]] = {name: [] for name in calls}
        for call in calls.values():
            call()
        for _ in range(15):  # interleaved rounds so drift (and other load) hits all sides alike
            for name, call in calls.items():
                samples[name].append(_per_call(call, 40))
        ours, plain_s, bare_s = (statistics.median(samples[name]) for name in ("managed", "plain", "bare"))
    finally:
        emulator.stop()
        moto.stop()
    return [
        (
            "get_routing_queues() managed vs plain SDK",
            f"{ours * 1e6:.0f} us vs {plain_s * 1e6:.0f} us = {ours / plain_s:.3f}x (goal <= 1.05)",
        ),
        (
            "  managed vs the SDK on a bare requests.Session",
            f"{ours * 1e6:.0f} us vs {bare_s * 1e6:.0f} us = {ours / bare_s:.3f}x (what genesys_auth adds beyond requests)",
        ),
    ]


def run() -> list[tuple[str, str]]:
    return _call_rows() + _import_rows()
