"""Zero-downtime rotation of a Genesys Cloud OAuth client secret: the alternating-client swap.

The app secret holds the active client and names its standby (``alternate_client_id``). A rotation
regenerates the *standby's* secret with a separate admin client, stores the swapped credentials as
AWSPENDING, proves them (token + ``GET /api/v2/tokens/me``) and promotes them to AWSCURRENT. The
client that was active keeps working, so tokens and cached secrets in flight stay valid.

Modules: ``config`` (environment), ``errors`` (the rotation's failure kinds), ``guard`` (how soon
the next rotation may run), ``lease`` (one scheduled rotation at a time: the library's item lease on
a ``rotation#`` item), ``versions`` (the app secret's versions in Secrets Manager), ``genesys``
(regeneration and verification calls), ``steps`` (the four-step protocol) and ``handler`` (the
Lambda entry points). Stage names, the secret format, the environment readers, AWS error codes and
the lease primitive come from the ``genesys_auth`` library.
"""

from __future__ import annotations

from .errors import RotationError, RotationRefused
from .handler import handler

__all__ = ["RotationError", "RotationRefused", "handler"]
