"""The library's logger: its own name, a NullHandler, never the root logger."""

from __future__ import annotations

import logging

logger = logging.getLogger("genesys_auth")
logger.addHandler(logging.NullHandler())
