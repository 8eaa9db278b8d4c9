"""Example consumer: calls GET /api/v2/organizations/me with the layer's managed token.

The client is built once per container (module scope, no network I/O) and shared by every
invocation; each invocation bounds its waits by the Lambda deadline.

The event ``{"doctor": true}`` answers with ``genesys-auth doctor``'s JSON report instead, run with
this function's role and configuration (``events/doctor.json``); it never contains a secret or token.
"""

from __future__ import annotations

from typing import Any

from genesys_auth import GenesysAuthError, GenesysClient

client = GenesysClient.from_env()


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    if isinstance(event, dict) and event.get("doctor") is True:
        from genesys_auth.doctor import lambda_report

        return lambda_report(context, scan_regions=event.get("scan_regions") is True)
    path = event.get("path", "/api/v2/organizations/me") if isinstance(event, dict) else "/api/v2/organizations/me"
    try:
        with client.deadline(context):
            response = client.get(path)
    except GenesysAuthError as err:
        # The message is safe to return: it never contains a token or a secret.
        return {"ok": False, "error": err.kind, "message": str(err)}
    body = response.json() if response.content else None
    return {
        "ok": response.ok,
        "status": response.status_code,
        "organization": body.get("name") if isinstance(body, dict) else None,
        "token": client.token_info().fingerprint,
    }
