"""A function for the extension's end-to-end tests (runs in the LambdaSandbox with both layers).

At import (function init) it asks the extension's /health and records the answer, then builds its
client. Handler ops: "token" (time spent in client.token_info()), "call" (a Platform API call),
"probe" (requests to the extension without/with a wrong/with the right header), "invalidate"
(forget the current token, then get one again). It never returns a token, only fingerprints.
"""

from __future__ import annotations

import json
import os
import time
import urllib.error
import urllib.request
from typing import Any

PORT = int(os.environ.get("GENESYS_TOKEN_EXTENSION_PORT", "2780"))
BASE = f"http://127.0.0.1:{PORT}"


def _get(path: str, headers: dict[str, str] | None = None) -> tuple[int, bytes]:
    request = urllib.request.Request(BASE + path, headers=headers or {})  # noqa: S310 - fixed http://127.0.0.1
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(request, timeout=2) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as err:
        return err.code, err.read()
    except OSError as err:
        return 0, type(err).__name__.encode()


_status, _body = _get("/health")
INIT_HEALTH: dict[str, Any] = {"status": _status, "body": json.loads(_body) if _status == 200 else None}

from genesys_auth import GenesysClient  # noqa: E402 - after the health probe, on purpose

client = GenesysClient.from_env()


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    op = event.get("op", "token")
    out: dict[str, Any] = {"source": client.provider.source.name, "init_health": INIT_HEALTH}
    if op == "probe":
        session = os.environ["AWS_SESSION_TOKEN"]
        header = "X-Aws-Parameters-Secrets-Token"
        for name, headers in (("none", {}), ("wrong", {header: session + "x"}), ("right", {header: session})):
            status, body = _get("/token", headers)
            out[name] = {"status": status, "body_length": len(body)}
        return out
    if op == "invalidate":
        client.invalidate(client.token())
    started = time.perf_counter()
    with client.deadline(context):
        token = client.token_info()
        out["token_s"] = time.perf_counter() - started
        if op == "call":
            out["status"] = client.get("/api/v2/organizations/me").status_code
    out.update(
        fingerprint=token.fingerprint,
        in_process_mints=client.minter.mints,
        extension_failures=getattr(client.provider.source, "failures", None),
        counts=dict(client.metrics.counts),
    )
    return out
