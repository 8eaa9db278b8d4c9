"""A function for the Powertools-layer coexistence test: uses Powertools itself and genesys_auth.

It reports where each shared package was imported from and which version, and makes one Platform
API call (the secret read goes through Powertools' SecretsProvider). Never returns a token.
"""

from __future__ import annotations

import sys
from typing import Any

# First: importing genesys_auth puts the layer's own requests/urllib3/Powertools on sys.path (after
# every layer's /opt/python), which this function then also uses when no Powertools layer is attached.
from genesys_auth import GenesysClient

# isort: split
import aws_lambda_powertools
from aws_lambda_powertools import Logger
from aws_lambda_powertools.shared.version import VERSION as POWERTOOLS_VERSION

logger = Logger(service="powertools-coexistence")
client = GenesysClient.from_env()


def _origin(name: str) -> str | None:
    module = sys.modules.get(name)
    return getattr(module, "__file__", None)


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    with client.deadline(context):
        status = client.get("/api/v2/organizations/me").status_code
    import requests
    import urllib3

    logger.info("called Genesys", extra={"status": status})
    return {
        "status": status,
        "fingerprint": client.token_info().fingerprint,
        "powertools_version": POWERTOOLS_VERSION,
        "powertools_file": aws_lambda_powertools.__file__,
        "requests_file": requests.__file__,
        "urllib3_file": urllib3.__file__,
        "urllib3_version": urllib3.__version__,
        "genesys_auth_file": _origin("genesys_auth"),
        "sys_path": sys.path,
    }
