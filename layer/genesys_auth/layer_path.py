"""Where the Lambda layer keeps genesys_auth's dependencies, and where they join ``sys.path`` (at import).

The layer puts nothing but ``genesys_auth`` under ``/opt/python``: requests, urllib3 and
Powertools live in ``/opt/genesys-auth/lib``. Lambda unpacks layers into one ``/opt`` with later
layers overwriting earlier files, so a dependency under ``/opt/python`` would overwrite, or be
overwritten by, the same package of another layer (the official Powertools layer ships
``aws_lambda_powertools`` there). The directory joins ``sys.path`` right after the entry
``genesys_auth`` was imported from: the function's own packages and every layer's
``/opt/python`` win over ours, and ours win over the runtime's bundled copies (urllib3 comes with
the runtime's boto3; ``DeadlineRetry`` was tested with the version the layer ships). Outside the
layer (pip-installed) there is no such directory and nothing changes.
"""

from __future__ import annotations

import os
import sys

#: Relative to the directory that holds the ``genesys_auth`` package (``/opt/python``).
LAYER_LIB = os.path.join(os.pardir, "genesys-auth", "lib")


def add_layer_dependencies() -> str | None:
    """Put the layer's dependency directory on ``sys.path`` (once); returns it, or None if absent."""
    home = os.path.dirname(os.path.dirname(os.path.realpath(__file__)))
    lib = os.path.realpath(os.path.join(home, LAYER_LIB))
    if not os.path.isdir(lib):
        return None
    real = [os.path.realpath(entry) if entry else "" for entry in sys.path]
    if lib in real:
        return lib
    position = real.index(home) + 1 if home in real else len(sys.path)
    sys.path.insert(position, lib)
    return lib


add_layer_dependencies()  # at import: ``genesys_auth`` imports this module before anything else
