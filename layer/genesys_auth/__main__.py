"""``python -m genesys_auth``: the ``genesys-auth`` command (doctor, token, cache)."""

from __future__ import annotations

import sys

from .cli import main

if __name__ == "__main__":
    sys.exit(main())
