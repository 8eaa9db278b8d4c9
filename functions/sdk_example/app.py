"""Example consumer of the official SDK on the managed token: lists routing queues with RoutingApi.

The only Genesys-specific change from plain SDK code is how the ApiClient is made
(``api_client(client)`` instead of ``ApiClient().get_client_credentials_token(id, secret)``).
Both objects are built once per container at module scope (no network I/O); each invocation
bounds its waits by the Lambda deadline. Attach GenesysAuthLayer and GenesysSdkLayer.
"""

from __future__ import annotations

from typing import Any

from PureCloudPlatformClientV2 import RoutingApi
from PureCloudPlatformClientV2.rest import ApiException

from genesys_auth import GenesysAuthError, GenesysClient
from genesys_auth.sdk import api_client

client = GenesysClient.from_env()
api = api_client(client)
routing = RoutingApi(api)


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    page_size = int(event.get("pageSize", 25)) if isinstance(event, dict) else 25
    try:
        with client.deadline(context):
            queues = routing.get_routing_queues(page_size=page_size)
    except ApiException as err:
        # The cause, when the library classified the answer, says which kind (see genesys_auth.sdk).
        cause = err.__cause__
        kind = cause.kind if isinstance(cause, GenesysAuthError) else "api"
        return {"ok": False, "status": err.status, "error": kind, "reason": err.reason}
    except GenesysAuthError as err:
        # No token could be had (configuration, secret, credentials); the message is safe to return.
        return {"ok": False, "error": err.kind, "message": str(err)}
    return {
        "ok": True,
        "total": queues.total,
        "queues": [queue.name for queue in queues.entities or []],
        "token": client.token_info().fingerprint,
    }
