"""The rotation guard's formula (functions/rotation/genesys_rotation/guard.py): pure logic."""

from __future__ import annotations

from tests.harness.rotation import load_rotation_app

load_rotation_app()  # makes the genesys_rotation package importable, as Lambda would

from genesys_rotation.guard import GuardPolicy, check, last_switch  # noqa: E402

NOW = 1_900_000_000.0


def test_min_interval_is_token_lifetime_plus_secret_cache_plus_margin() -> None:
    assert GuardPolicy().min_interval == 86400 + 300 + 900
    assert GuardPolicy(token_lifetime=3600, secret_max_age=60, margin=0).min_interval == 3660


def test_a_longer_observed_lifetime_wins_a_shorter_one_does_not() -> None:
    policy = GuardPolicy(token_lifetime=3600)
    assert policy.with_observed_lifetime(172800).token_lifetime == 172800
    assert policy.with_observed_lifetime(300).token_lifetime == 3600
    assert policy.with_observed_lifetime(None) is policy


def test_first_rotation_after_setup_is_not_guarded() -> None:
    # AWSPREVIOUS missing, or holding the active client itself (a hand edit): B was never active.
    assert (
        last_switch(recorded_rotation=None, current_created=NOW, previous_client_id=None, standby_client_id="B") is None
    )
    assert (
        last_switch(recorded_rotation=None, current_created=NOW, previous_client_id="A", standby_client_id="B") is None
    )
    assert check(GuardPolicy(), None, NOW).allowed


def test_the_switch_is_the_later_of_the_recorded_rotation_and_the_current_version() -> None:
    assert (
        last_switch(recorded_rotation=NOW - 10, current_created=NOW - 99, previous_client_id="B", standby_client_id="B")
        == NOW - 10
    )
    assert (
        last_switch(recorded_rotation=NOW - 99, current_created=NOW - 10, previous_client_id="B", standby_client_id="B")
        == NOW - 10
    )
    # A current version that did not switch away from the standby does not count; the record does.
    assert (
        last_switch(recorded_rotation=NOW - 99, current_created=NOW - 10, previous_client_id="A", standby_client_id="B")
        == NOW - 99
    )


def test_refused_until_the_interval_has_passed() -> None:
    policy = GuardPolicy(token_lifetime=3600, secret_max_age=300, margin=900)
    early = check(policy, NOW - 4799, NOW)
    assert not early.allowed
    assert early.next_allowed_at == NOW + 1
    assert "3600" in early.reason and "300" in early.reason and "900" in early.reason
    assert check(policy, NOW - 4800, NOW).allowed
