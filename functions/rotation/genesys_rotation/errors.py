"""Errors of the rotation function. Messages name clients, versions and fields, never a secret."""

from __future__ import annotations

from genesys_auth import GenesysAuthError


class RotationError(GenesysAuthError):
    """A rotation step failed; AWSCURRENT is unchanged. ``kind`` is the metric/log dimension."""

    kind = "failed"


class RotationRefused(RotationError):
    """The guard refused a new rotation: the client to regenerate may still be in use."""

    kind = "refused"

    def __init__(self, message: str, *, next_allowed_at: float) -> None:
        super().__init__(message)
        self.next_allowed_at = next_allowed_at


class PendingRejected(RotationError):
    """Genesys rejects the AWSPENDING credentials (regenerated again since, or wrong client).

    The pending version cannot become good by retrying; the scheduled run abandons it so the next
    delivery starts a fresh rotation.
    """

    kind = "pending_rejected"


class LeaseLost(RotationError):
    """Another invocation took the rotation lease over; this one must not write any more."""

    kind = "lease_lost"
