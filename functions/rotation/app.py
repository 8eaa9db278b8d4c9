"""Lambda handler of the rotation function (``Handler: app.handler``).

The code lives in the ``genesys_rotation`` package beside this file; the ``genesys_auth`` library
comes from the layer. See ``genesys_rotation/__init__.py`` and the README's Rotation section.
"""

from __future__ import annotations

from genesys_rotation import handler

__all__ = ["handler"]
