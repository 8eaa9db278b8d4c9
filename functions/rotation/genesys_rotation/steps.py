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
from dataclasses import dataclass
from typing import Any

from genesys_auth.credentials import CURRENT, PENDING, PREVIOUS

from .errors import PendingRejected, RotationError, RotationRefused
from .genesys import Genesys, Identity
from .guard import GuardDecision, GuardPolicy, check, last_switch
from .lease import LeaseRecord
from .versions import AppSecret, Described, SecretVersion

log = logging.getLogger(__name__)

STEPS = ("createSecret", "setSecret", "testSecret", "finishSecret")


def _no_record() -> LeaseRecord | None:
    return None


def _noop_fence(version_id: str) -> None:
    return None


def _noop_lifetime(lifetime: float) -> None:
    return None


@dataclass
class Rotator:
    """The four steps on one app secret. The hooks connect it to the scheduled run's lease:
    ``lease_record`` feeds the guard, ``before_regenerate`` fences the regeneration and
    ``on_lifetime`` keeps the token lifetime Genesys issued."""

    secret: AppSecret
    genesys: Genesys
    guard: GuardPolicy
    lease_record: Callable[[], LeaseRecord | None] = _no_record
    before_regenerate: Callable[[str], None] = _noop_fence
    on_lifetime: Callable[[float], None] = _noop_lifetime

    def run_step(self, step: str, version_id: str, *, force: bool = False) -> Any:
        if step == "createSecret":
            return self.create(version_id, force=force)
        if step == "setSecret":
            return self.set(version_id)
        if step == "testSecret":
            return self.test(version_id)
        if step == "finishSecret":
            return self.finish(version_id)
        raise RotationError(f"unknown Step {step!r}; expected one of {', '.join(STEPS)}")

    # -- the protocol's guard ---------------------------------------------------------------------

    def _admit(self, step: str, version_id: str, described: Described) -> bool:
        """True if the version is already AWSCURRENT (the step has nothing to do)."""
        labels = described.labels(version_id)
        if CURRENT in labels:
            log.info("%s: version %s is already AWSCURRENT; nothing to do", step, version_id)
            return True
        if version_id not in described.stages:
            if step != "createSecret":
                raise RotationError(
                    f"{step}: version {version_id} does not exist in the secret; run createSecret first"
                )
            other = described.interrupted()
            if other is not None:
                raise RotationError(
                    f"createSecret: another rotation is in progress (version {other} is AWSPENDING); finish it with "
                    "its ClientRequestToken, or send the scheduled event, which resumes it"
                )
            return False
        if PENDING not in labels:
            raise RotationError(
                f"{step}: version {version_id} is not staged AWSPENDING (labels: {labels or 'none'}); it cannot be rotated to"
            )
        return False

    # -- steps ------------------------------------------------------------------------------------

    def create(self, version_id: str, *, force: bool = False) -> str:
        described = self.secret.describe()
        if self._admit("createSecret", version_id, described):
            return "current"
        if version_id in described.stages and self.secret.read(stage=PENDING, version_id=version_id) is not None:
            log.info("createSecret: version %s already holds the pending credentials; not regenerating", version_id)
            return "exists"
        current = self._current()
        standby = self._standby(current)
        if not force:
            decision = self.decide(described, current)
            if not decision.allowed:
                raise RotationRefused(
                    f"rotation refused: {decision.reason}", next_allowed_at=decision.next_allowed_at or 0
                )
        self.before_regenerate(version_id)
        new_secret = self.genesys.regenerate(standby)
        pending = dict(current.data)
        pending.update(client_id=standby, client_secret=new_secret, alternate_client_id=current.creds.client_id)
        try:
            self.secret.put_pending(version_id, pending)
        except RotationError as exc:
            raise RotationError(
                f"{exc}; client {standby}'s new secret is lost (Genesys shows it once), the next rotation "
                "regenerates it again. AWSCURRENT is unchanged"
            ) from None
        log.info(
            "createSecret: version %s staged AWSPENDING: active client %s -> %s",
            version_id,
            current.creds.client_id,
            standby,
        )
        return "created"

    def set(self, version_id: str) -> str:
        # Genesys generates secrets itself (no API sets a chosen value), so the regeneration made
        # in createSecret already "set" it; there is nothing left to do on Genesys.
        described = self.secret.describe()
        if self._admit("setSecret", version_id, described):
            return "current"
        log.info(
            "setSecret: version %s: nothing to do (Genesys set the secret when createSecret regenerated it)", version_id
        )
        return "nothing"

    def test(self, version_id: str) -> Identity | None:
        described = self.secret.describe()
        if self._admit("testSecret", version_id, described):
            return None
        pending = self.secret.read(stage=PENDING, version_id=version_id)
        if pending is None:
            raise RotationError(f"testSecret: version {version_id} holds no value; run createSecret first")
        current = self._current()
        identity = self.genesys.identify(pending.creds, pending=True)
        if identity.client_id != pending.creds.client_id:
            raise PendingRejected(
                f"testSecret: a token minted with version {version_id} belongs to client {identity.client_id}, "
                f"not {pending.creds.client_id}"
            )
        expected = self._organization(current)
        if expected is None or identity.organization_id != expected:
            raise RotationError(
                f"testSecret: client {pending.creds.client_id} belongs to organization {identity.organization_id}, "
                f"not {expected} (the current client's); both clients must live in the same organization"
            )
        self.on_lifetime(identity.lifetime)
        log.info("testSecret: version %s works: client %s, organization %s", version_id, identity.client_id, expected)
        return identity

    def finish(self, version_id: str) -> str:
        described = self.secret.describe()
        labels = described.labels(version_id)
        if CURRENT in labels:
            if PENDING in labels:
                self.secret.move_stage(PENDING, to=None, remove_from=version_id)
            log.info("finishSecret: version %s is already AWSCURRENT", version_id)
            return "current"
        self._admit("finishSecret", version_id, described)
        current = described.version_with(CURRENT)
        self.secret.move_stage(CURRENT, to=version_id, remove_from=current)
        self.secret.move_stage(PENDING, to=None, remove_from=version_id)
        log.info("finishSecret: version %s is AWSCURRENT (was %s, now AWSPREVIOUS)", version_id, current)
        return "finished"

    # -- helpers ----------------------------------------------------------------------------------

    def abandon(self, version_id: str) -> None:
        """Drop AWSPENDING from a version Genesys rejects, so the next run starts afresh."""
        try:
            self.secret.move_stage(PENDING, to=None, remove_from=version_id)
            log.warning("abandoned pending version %s: Genesys rejects its credentials", version_id)
        except RotationError as exc:
            log.warning("could not abandon pending version %s: %s", version_id, exc)

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
