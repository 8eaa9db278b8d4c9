"""In-process emulator of the Genesys Cloud login (OAuth) and Platform API hosts.

One real HTTP server (stdlib ``ThreadingHTTPServer``) serves both host roles on
one base URL, so a client can be configured with
``GENESYS_LOGIN_URL = GENESYS_API_URL = emulator.url``.

What it implements (endpoints, bodies, error texts, rate-limit headers) and the
choices made where Genesys's behaviour is not verified are written down in
``tests/harness/README.md``; the ``GenesysEmulator`` docstring lists the choices.

Modules, one concern each:

* ``model``: OAuth clients, tokens, answers, scripted answers (``Canned``), constants
* ``answers``: the error bodies of the login host and of the API host
* ``state``: the shared state behind one lock
* ``clients``: clients, tokens, secrets, counters and the request log
* ``limits``: the per-token/per-client API limit and injected faults
* ``oauth``: ``POST /oauth/token``
* ``api``: the Platform API routes
* ``control``: the ``/__emulator/`` control plane
* ``server``: the HTTP server and the wire side of scripted answers
* ``emulator``: ``GenesysEmulator`` (lifecycle and request routing)
* ``cli``: ``python -m tests.harness.genesys_emulator --help``
"""

from __future__ import annotations

from .cli import main
from .emulator import GenesysEmulator
from .model import (
    CANNED_ACTIONS,
    CLIENT_STATES,
    ENDPOINT_GROUPS,
    ORG_ID,
    ORG_NAME,
    RATE_LIMIT_SCOPES,
    RECEIVED_MAX,
    Canned,
    OAuthClient,
)

__all__ = [
    "CANNED_ACTIONS",
    "CLIENT_STATES",
    "ENDPOINT_GROUPS",
    "ORG_ID",
    "ORG_NAME",
    "RATE_LIMIT_SCOPES",
    "RECEIVED_MAX",
    "Canned",
    "GenesysEmulator",
    "OAuthClient",
    "main",
]
