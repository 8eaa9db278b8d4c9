"""How soon after a rotation the next one may run.

A rotation regenerates the standby client, which is the client that was *active before the last
rotation*. Until every token minted with it has expired, regenerating it can break those tokens
(Genesys does not document whether issued tokens survive a regeneration) and the old secret still
sits in caches. After the last switch at ``T``:

* a process may keep using the secret it read just before ``T`` for ``secret_max_age`` seconds
  (``GENESYS_SECRET_MAX_AGE``, the consumers' cache age), so it can still mint with the old client
  until ``T + secret_max_age``;
* a token minted then stays valid for ``token_lifetime`` seconds (the clients'
  ``accessTokenValiditySeconds``; tokens in the shared DynamoDB cache or the extension are bounded
  by the same lifetime).

So the next rotation may start at ``T + token_lifetime + secret_max_age + margin``; the margin
covers clock skew, Lambda timeouts of the last consumers and the rotation's own duration. With the
defaults (86400 + 300 + 900 s) that is 24 h 20 min, far below a 30-day schedule.

``T`` is the later of the last rotation recorded in the lease item and, when AWSPREVIOUS holds the
standby client, the creation time of the AWSCURRENT version (the switch away from the standby).
When neither says the standby was ever active (first rotation after setup), nothing is guarded.
"""

from __future__ import annotations

from dataclasses import dataclass

# The consumers' secret cache age is the library's: the guard must wait out whatever the library
# keeps a secret for, so it follows any change of that default.
from genesys_auth.credentials import DEFAULT_SECRET_MAX_AGE

DEFAULT_TOKEN_LIFETIME = 86400.0
DEFAULT_MARGIN = 900.0


@dataclass(frozen=True)
class GuardPolicy:
    token_lifetime: float = DEFAULT_TOKEN_LIFETIME
    secret_max_age: float = DEFAULT_SECRET_MAX_AGE
    margin: float = DEFAULT_MARGIN

    @property
    def min_interval(self) -> float:
        return self.token_lifetime + self.secret_max_age + self.margin

    def with_observed_lifetime(self, observed: float | None) -> GuardPolicy:
        """Never trust a configured lifetime shorter than one Genesys actually issued."""
        if observed is None or observed <= self.token_lifetime:
            return self
        return GuardPolicy(token_lifetime=observed, secret_max_age=self.secret_max_age, margin=self.margin)


@dataclass(frozen=True)
class GuardDecision:
    allowed: bool
    last_switch: float | None
    next_allowed_at: float | None
    reason: str


def last_switch(
    *,
    recorded_rotation: float | None,
    current_created: float | None,
    previous_client_id: str | None,
    standby_client_id: str,
) -> float | None:
    """When the standby client last stopped being the active one, as far as we can tell."""
    candidates: list[float] = []
    if recorded_rotation is not None:
        candidates.append(recorded_rotation)
    if current_created is not None and previous_client_id is not None and previous_client_id == standby_client_id:
        candidates.append(current_created)
    return max(candidates) if candidates else None


def check(policy: GuardPolicy, switched_at: float | None, now: float) -> GuardDecision:
    if switched_at is None:
        return GuardDecision(True, None, None, "the standby client has not been active in this secret's history")
    next_allowed = switched_at + policy.min_interval
    if now >= next_allowed:
        return GuardDecision(
            True, switched_at, next_allowed, "the standby client's tokens and cached secrets have expired"
        )
    return GuardDecision(
        False,
        switched_at,
        next_allowed,
        f"the standby client was active until {now - switched_at:.0f} s ago; its tokens and cached secrets may "
        f"still be in use for up to {policy.min_interval:.0f} s (token lifetime {policy.token_lifetime:.0f} + "
        f"secret cache {policy.secret_max_age:.0f} + margin {policy.margin:.0f}); next rotation allowed in "
        f"{next_allowed - now:.0f} s, or pass force",
    )
