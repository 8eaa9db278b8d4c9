"""genesys-token extension: init-to-ready time and resident memory vs a bare http.server extension.

Both extensions run from a layer in the local Lambda sandbox (bash bootstrap -> python3), bind a localhost
server and then register, so "ready" is measured from the sandbox starting the process to its registration
(the server answers from before that point). The bare baseline is the minimum any Python extension with an HTTP
API costs; the difference is what genesys_auth, requests and boto3 add. Memory is VmRSS after INIT (ours has read
the secret and minted by then, against moto and the Genesys emulator on loopback).
"""

from __future__ import annotations

import os
import socket
import statistics
import sys
import tempfile
import textwrap
from pathlib import Path

from tests.harness.aws import MotoServer, create_credentials_secret, patched_environ
from tests.harness.genesys_emulator import GenesysEmulator
from tests.harness.lambda_sandbox import LambdaSandbox

ROOT = Path(__file__).resolve().parents[2]
ROUNDS = 5

BARE_EXTENSION = textwrap.dedent(
    """
    import http.client, http.server, json, os, sys, threading

    class Health(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b'{"ready": true}')

    server = http.server.ThreadingHTTPServer(("127.0.0.1", int(os.environ["BARE_PORT"])), Health)
    threading.Thread(target=server.serve_forever, daemon=True).start()

    def call(method, path, body=None, headers=None):
        conn = http.client.HTTPConnection(os.environ["AWS_LAMBDA_RUNTIME_API"])
        conn.request(method, "/2020-01-01/extension" + path, body=body, headers=headers or {})
        response = conn.getresponse()
        return response, response.read()

    response, _ = call("POST", "/register", json.dumps({"events": ["INVOKE", "SHUTDOWN"]}),
                       {"Lambda-Extension-Name": sys.argv[1]})
    ident = {"Lambda-Extension-Identifier": response.getheader("Lambda-Extension-Identifier")}
    while json.loads(call("GET", "/event/next", headers=ident)[1])["eventType"] != "SHUTDOWN":
        pass
    """
)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _bare_layer(root: Path) -> Path:
    layer = root / "bare-layer"
    (layer / "bare").mkdir(parents=True)
    (layer / "bare" / "extension.py").write_text(BARE_EXTENSION)
    (layer / "extensions").mkdir()
    bootstrap = layer / "extensions" / "bare"
    bootstrap.write_text('#!/bin/bash\nexec python3 "$(dirname "$0")/../bare/extension.py" "$(basename "$0")"\n')
    bootstrap.chmod(0o755)
    return layer


def _rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for {pid}")


def _measure(name: str, layer: Path, task_root: Path, env: dict[str, str]) -> tuple[float, float, int]:
    """(ms to registration, ms to the first event/next = end of its INIT, VmRSS KiB after INIT)."""
    box = LambdaSandbox(handler="app.handler", task_root=task_root, layers=[layer], env=env)
    try:
        box.start()
        started = box.first(f"extension_started:{name}")
        registered = box.first(f"extension_registered:{name}")
        first_next = box.first(f"extension_next:{name}")
        assert started is not None and registered is not None and first_next is not None
        rss = _rss_kib(box.extension_pids[name])
    finally:
        box.close()
    return (registered - started) * 1000, (first_next - started) * 1000, rss


def run() -> list[tuple[str, str]]:
    sys.path.insert(0, str(ROOT / "extension"))
    import build_layers

    sys.path.remove(str(ROOT / "extension"))
    rows: list[tuple[str, str]] = []
    with tempfile.TemporaryDirectory(prefix="bench-extension-") as tmp:
        root = Path(tmp)
        try:
            ours_layer = build_layers.build(root / "layers", only="genesys-token")["genesys-token"]
        except build_layers.TargetPythonMissing as exc:  # the layer build compiles with the Lambda target's Python
            print(f"  SKIPPED, no figures: {exc}", file=sys.stderr)
            return [("genesys-token extension", f"SKIPPED, no figures: {exc}")]
        bare_layer = _bare_layer(root)
        task_root = root / "fn"
        task_root.mkdir()
        (task_root / "app.py").write_text("def handler(event, context):\n    return {}\n")

        moto = MotoServer().start()
        emulator = GenesysEmulator().start()
        try:
            oauth = emulator.add_client()
            with patched_environ(moto.env()):
                secret_id = create_credentials_secret(moto, oauth.client_id, oauth.secret)
            base_env = {k: v for k, v in moto.env().items() if k != "AWS_SESSION_TOKEN"}
            ours_env = {
                **base_env,
                "GENESYS_SECRET_ID": secret_id,
                "GENESYS_LOGIN_URL": emulator.url,
                "GENESYS_API_URL": emulator.url,
            }
            ours, bare = [], []
            for _ in range(ROUNDS):  # interleaved, so drift hits both alike
                bare.append(_measure("bare", bare_layer, task_root, {**base_env, "BARE_PORT": str(_free_port())}))
                port = str(_free_port())
                ours.append(
                    _measure("genesys-token", ours_layer, task_root, {**ours_env, "GENESYS_TOKEN_EXTENSION_PORT": port})
                )
        finally:
            emulator.stop()
            moto.stop()

    def median(samples: list[tuple[float, float, int]], i: int) -> float:
        return statistics.median(s[i] for s in samples)

    ready, bare_ready = median(ours, 0), median(bare, 0)
    rows.append(
        (
            "extension start -> ready (server bound, registered)",
            f"{ready:.0f} ms vs {bare_ready:.0f} ms for a bare http.server extension (+{ready - bare_ready:.0f} ms)",
        )
    )
    rows.append(
        (
            "extension start -> token in memory (end of its INIT)",
            f"{median(ours, 1):.0f} ms (secret read + mint on loopback) vs {median(bare, 1):.0f} ms bare",
        )
    )
    rss, bare_rss = median(ours, 2) / 1024, median(bare, 2) / 1024
    rows.append(
        (
            "extension resident memory (VmRSS after INIT)",
            f"{rss:.1f} MiB vs {bare_rss:.1f} MiB bare (+{rss - bare_rss:.1f} MiB)",
        )
    )
    rows.append(("rounds (medians)", f"{ROUNDS} each, {os.cpu_count()} cores"))
    return rows
