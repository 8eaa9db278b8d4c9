"""The two settings the extension needs before it registers, read without importing genesys_auth.

Binding the port and bounding early requests cannot wait for the library (importing it loads
requests). The rules are those of ``genesys_auth.config.Settings`` (a test checks they agree);
the library reads the same variables again once it is imported.
"""

from __future__ import annotations

import os

TYPE_CHECKING = False  # typing and dataclasses stay unloaded before registering
if TYPE_CHECKING:
    from collections.abc import Mapping

DEFAULT_PORT = 2780
DEFAULT_MAX_WAIT_SECONDS = 30.0


class StartupConfig:
    def __init__(self, port: int = DEFAULT_PORT, max_wait: float = DEFAULT_MAX_WAIT_SECONDS) -> None:
        self.port = port
        self.max_wait = max_wait

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> StartupConfig:
        """Raises ValueError with the library's wording for a bad value."""
        env = os.environ if environ is None else environ
        port = int(_number(env, "GENESYS_TOKEN_EXTENSION_PORT", DEFAULT_PORT))
        if not 0 < port < 65536:  # bind() would raise OverflowError, which is no configuration report
            raise ValueError("GENESYS_TOKEN_EXTENSION_PORT must be a TCP port number, 1 to 65535")
        return cls(port=port, max_wait=_number(env, "GENESYS_MAX_WAIT_SECONDS", DEFAULT_MAX_WAIT_SECONDS))


def _number(env: Mapping[str, str], name: str, default: float) -> float:
    value = env.get(name, "").strip()
    if not value:
        return default
    try:
        number = float(value)
    except ValueError:
        raise ValueError(f"{name} must be a number") from None
    if number < 0:
        raise ValueError(f"{name} must not be negative")
    return number
