"""The Secrets Manager four-step protocol for the alternating-client swap.

Each step is idempotent on ``ClientRequestToken`` (the version id):

* ``createSecret``: if the version already holds a value, do nothing (regenerating is *not*
  idempotent in Genesys: a second call would kill the secret stored in AWSPENDING). Otherwise
  regenerate the standby client's secret and store the swapped credentials as AWSPENDING:
  ``{"client_id": standby, "client_secret": new, "alternate_client_id": previously active}``
  plus every other field of the current value (``region``...).
* ``setSecret``: nothing. Genesys generates the secret itself, so "create" and "set" are one call
  (made in createSecret, which has to store its answer: the secret is shown only once).
* ``testSecret``: mint a token with the AWSPENDING credentials; ``GET /api/v2/tokens/me`` must name
  the standby client and the organization of the current credentials.
* ``finishSecret``: move AWSCURRENT to the version (AWSPREVIOUS follows automatically) and remove
  AWSPENDING from it.

Guards, as in AWS's rotation template: a version that is already AWSCURRENT is done; any other
version must carry AWSPENDING, except that createSecret may create a new version when no other
rotation is pending. Nothing here touches AWSCURRENT before finishSecret, so any failure leaves
the current credentials in place.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from .errors import PendingRejected, RotationError, RotationRefused
from .genesys import Genesys, Identity
from .guard import GuardDecision, GuardPolicy, check, last_switch
from .lease import LeaseRecord
from .versions import CURRENT, PENDING, PREVIOUS, AppSecret, Described, SecretVersion

log = logging.getLogger(__name__)

STEPS = ("createSecret", "setSecret", "testSecret", "finishSecret")


def _noop_fence(token: str) -> None:
    return None


def _noop_lifetime(lifetime: float) -> None:
    return None


class Rotator:
    def __init__(
        self,
        secret: AppSecret,
        genesys: Genesys,
        guard: GuardPolicy,
        *,
        lease_record: Callable[[], LeaseRecord | None] = lambda: None,
        before_regenerate: Callable[[str], None] = _noop_fence,
        on_lifetime: Callable[[float], None] = _noop_lifetime,
    ) -> None:
        self.secret = secret
        self.genesys = genesys
        self.guard = guard
        self.lease_record = lease_record
        self.before_regenerate = before_regenerate
        self.on_lifetime = on_lifetime

    def run_step(self, step: str, token: str, *, force: bool = False) -> Any:
        if step == "createSecret":
            return self.create(token, force=force)
        if step == "setSecret":
            return self.set(token)
        if step == "testSecret":
            return self.test(token)
        if step == "finishSecret":
            return self.finish(token)
        raise RotationError(f"unknown Step {step!r}; expected one of {', '.join(STEPS)}")

    # -- the protocol's guard ---------------------------------------------------------------------

    def _admit(self, step: str, token: str, described: Described) -> bool:
        """True if the version is already AWSCURRENT (the step has nothing to do)."""
        labels = described.labels(token)
        if CURRENT in labels:
            log.info("%s: version %s is already AWSCURRENT; nothing to do", step, token)
            return True
        if token not in described.stages:
            if step != "createSecret":
                raise RotationError(f"{step}: version {token} does not exist in the secret; run createSecret first")
            other = described.interrupted()
            if other is not None:
                raise RotationError(
                    f"createSecret: another rotation is in progress (version {other} is AWSPENDING); finish it with "
                    "its token, or send the scheduled event, which resumes it"
                )
            return False
        if PENDING not in labels:
            raise RotationError(
                f"{step}: version {token} is not staged AWSPENDING (labels: {labels or 'none'}); it cannot be rotated to"
            )
        return False

    # -- steps ------------------------------------------------------------------------------------

    def create(self, token: str, *, force: bool = False) -> str:
        described = self.secret.describe()
        if self._admit("createSecret", token, described):
            return "current"
        if token in described.stages and self.secret.read(stage=PENDING, version_id=token) is not None:
            log.info("createSecret: version %s already holds the pending credentials; not regenerating", token)
            return "exists"
        current = self._current()
        standby = self._standby(current)
        if not force:
            decision = self.decide(described, current)
            if not decision.allowed:
                raise RotationRefused(
                    f"rotation refused: {decision.reason}", next_allowed_at=decision.next_allowed_at or 0
                )
        self.before_regenerate(token)
        new_secret = self.genesys.regenerate(standby)
        pending = dict(current.data)
        pending.update(client_id=standby, client_secret=new_secret, alternate_client_id=current.creds.client_id)
        try:
            self.secret.put_pending(token, pending)
        except RotationError as exc:
            raise RotationError(
                f"{exc}; client {standby}'s new secret is lost (Genesys shows it once), the next rotation "
                "regenerates it again. AWSCURRENT is unchanged"
            ) from None
        log.info(
            "createSecret: version %s staged AWSPENDING: active client %s -> %s",
            token,
            current.creds.client_id,
            standby,
        )
        return "created"

    def set(self, token: str) -> str:
        # Genesys generates secrets itself (no API sets a chosen value), so the regeneration made
        # in createSecret already "set" it; there is nothing left to do on Genesys.
        described = self.secret.describe()
        if self._admit("setSecret", token, described):
            return "current"
        log.info(
            "setSecret: version %s: nothing to do (Genesys set the secret when createSecret regenerated it)", token
        )
        return "nothing"

    def test(self, token: str) -> Identity | None:
        described = self.secret.describe()
        if self._admit("testSecret", token, described):
            return None
        pending = self.secret.read(stage=PENDING, version_id=token)
        if pending is None:
            raise RotationError(f"testSecret: version {token} holds no value; run createSecret first")
        current = self._current()
        identity = self.genesys.identify(pending.creds, pending=True)
        if identity.client_id != pending.creds.client_id:
            raise PendingRejected(
                f"testSecret: a token minted with version {token} belongs to client {identity.client_id}, "
                f"not {pending.creds.client_id}"
            )
        expected = self._organization(current)
        if expected is None or identity.organization_id != expected:
            raise RotationError(
                f"testSecret: client {pending.creds.client_id} belongs to organization {identity.organization_id}, "
                f"not {expected} (the current client's); both clients must live in the same organization"
            )
        self.on_lifetime(identity.lifetime)
        log.info("testSecret: version %s works: client %s, organization %s", token, identity.client_id, expected)
        return identity

    def finish(self, token: str) -> str:
        described = self.secret.describe()
        labels = described.labels(token)
        if CURRENT in labels:
            if PENDING in labels:
                self.secret.move_stage(PENDING, to=None, remove_from=token)
            log.info("finishSecret: version %s is already AWSCURRENT", token)
            return "current"
        self._admit("finishSecret", token, described)
        current = described.version_with(CURRENT)
        self.secret.move_stage(CURRENT, to=token, remove_from=current)
        self.secret.move_stage(PENDING, to=None, remove_from=token)
        log.info("finishSecret: version %s is AWSCURRENT (was %s, now AWSPREVIOUS)", token, current)
        return "finished"

    # -- helpers ----------------------------------------------------------------------------------

    def abandon(self, token: str) -> None:
        """Drop AWSPENDING from a version Genesys rejects, so the next run starts afresh."""
        try:
            self.secret.move_stage(PENDING, to=None, remove_from=token)
            log.warning("abandoned pending version %s: Genesys rejects its credentials", token)
        except RotationError as exc:
            log.warning("could not abandon pending version %s: %s", token, exc)

    def decide(self, described: Described, current: SecretVersion | None = None) -> GuardDecision:
        current = current or self._current()
        standby = self._standby(current)
        previous = self.secret.read(stage=PREVIOUS) if described.version_with(PREVIOUS) else None
        record = self.lease_record()
        policy = self.guard.with_observed_lifetime(record.token_lifetime if record else None)
        switched = last_switch(
            recorded_rotation=record.rotated_at if record else None,
            current_created=current.created,
            previous_client_id=previous.creds.client_id if previous else None,
            standby_client_id=standby,
        )
        return check(policy, switched, time.time())

    def _current(self) -> SecretVersion:
        current = self.secret.read(stage=CURRENT)
        if current is None:
            raise RotationError("the app secret has no AWSCURRENT version")
        return current

    @staticmethod
    def _standby(current: SecretVersion) -> str:
        standby = current.creds.alternate_client_id
        if standby is None:
            raise RotationError(
                "the app secret has no alternate_client_id: add the standby OAuth client's id (same roles and "
                "divisions as client_id) to the secret; see the README's Rotation section"
            )
        if standby == current.creds.client_id:
            raise RotationError("the app secret's alternate_client_id equals its client_id; name a second client")
        return standby

    def _organization(self, current: SecretVersion) -> str | None:
        try:
            return self.genesys.identify(current.creds, pending=False).organization_id
        except RotationError as exc:
            log.warning("%s; comparing with the admin client's organization instead", exc)
            return self.genesys.admin_organization()
