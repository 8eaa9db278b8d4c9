"""``genesys-auth`` (doctor, token, cache) against moto and the Genesys emulator.

Most tests run the command as a child process (``python -m genesys_auth``) with an app's environment,
so the exit codes are the real ones; each output goes through the leak watch and is checked here too.
The region scan is driven in-process through ``cli.main(region_logins=...)``: emulators stand in for
regions, which no environment variable can arrange (on purpose: the scan sends the credentials).
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from genesys_auth import build_provider, cli, doctor
from genesys_auth.deadline import Deadline
from genesys_auth.diagnosis import secret_problem, table_problem
from tests.conftest import App, LeakWatch
from tests.harness.aws import (
    FAKE_CREDENTIALS,
    MotoServer,
    create_credentials_secret,
    create_token_table,
    patched_environ,
)
from tests.harness.genesys_emulator import GenesysEmulator
from tests.harness.handler import Context, load_handler

ROOT = Path(__file__).resolve().parents[2]


@dataclass
class Run:
    code: int
    out: str
    err: str

    def line(self, mark: str, label: str) -> str:
        """The one report line starting with ``<mark> <label>:``."""
        lines = [line for line in self.out.splitlines() if line.startswith(f"{mark} {label}:")]
        assert len(lines) == 1, f"expected one '{mark} {label}:' line in:\n{self.out}\n{self.err}"
        return lines[0]

    def fix_after(self, label: str) -> str:
        lines = self.out.splitlines()
        index = next(i for i, line in enumerate(lines) if line.startswith(f"✗ {label}:"))
        assert lines[index + 1].startswith("    fix: "), self.out
        return lines[index + 1]


def assert_clean(leaks: LeakWatch, text: str) -> None:
    """No secret or token the emulators ever issued appears in ``text``; the suite's final check sees it too."""
    leaks.feed(text)
    found = sorted(value[:6] + "..." for value in leaks.sensitive() if value in text)
    assert not found, f"secret or token in the output: {found}"


@pytest.fixture
def genesys_auth(leaks: LeakWatch) -> Callable[..., Run]:
    def run(env: dict[str, str], *args: str, drop: tuple[str, ...] = (), clean: bool = True) -> Run:
        child = {**os.environ, **env, "PYTHONIOENCODING": "utf-8"}
        for name in drop:
            child.pop(name, None)
        done = subprocess.run(
            [sys.executable, "-m", "genesys_auth", *args],
            check=False,
            env=child,
            capture_output=True,
            text=True,
            timeout=120,
        )
        if clean:
            assert_clean(leaks, done.stdout + done.stderr)
        return Run(done.returncode, done.stdout, done.stderr)

    return run


@pytest.fixture
def table(moto: MotoServer) -> str:
    return create_token_table(moto)


def test_healthy_app_passes_every_check(app: App, table: str, genesys_auth: Callable[..., Run]) -> None:
    run = genesys_auth(app.env(GENESYS_TOKEN_TABLE=table), "doctor")
    assert run.code == 0, run.out + run.err
    for label in (
        "configuration",
        "secret readable",
        "secret fields",
        "region",
        "login host",
        "API host",
        "shared table",
        "table item",
        "token",
        "GET /api/v2/tokens/me",
    ):
        run.line("✓", label)
    assert not [line for line in run.out.splitlines() if line.startswith("✗")]
    run.line("–", "extension")  # auto outside Lambda: skipped, not failed
    assert f"OAuth client {app.oauth.name} ({app.oauth.client_id})" in run.line("✓", "GET /api/v2/tokens/me")
    assert "fields client_id, client_secret" in run.line("✓", "secret fields")
    assert "TTL on ttl" in run.line("✓", "shared table")
    assert run.out.rstrip().endswith("all checks passed (10 passed, 0 failed, 1 skipped)")


def test_json_report_and_a_token_found_in_the_table(app: App, table: str, genesys_auth: Callable[..., Run]) -> None:
    env = app.env(GENESYS_TOKEN_TABLE=table)
    minted = genesys_auth(env, "token")  # the provider mints and publishes to the table
    assert minted.code == 0 and "from mint" in minted.out
    run = genesys_auth(env, "doctor", "--json")
    assert run.code == 0, run.out
    report = json.loads(run.out)
    assert report["ok"] is True
    checks = {check["name"]: check for check in report["checks"]}
    assert set(checks["token"]) == {"name", "ok", "status", "detail", "fix"}
    assert checks["token"]["ok"] is True and checks["token"]["detail"].startswith("found in the table")
    assert "lease free" in checks["table_item"]["detail"] and "version 1" in checks["table_item"]["detail"]
    assert checks["extension"] == {**checks["extension"], "ok": None, "status": "skipped"}
    assert app.emulator.mints() == 1  # the doctor used the table's token: no second mint


def test_missing_variable(app: App, genesys_auth: Callable[..., Run]) -> None:
    run = genesys_auth(app.env(), "doctor", drop=("GENESYS_SECRET_ID",))
    assert run.code == 1
    assert "GENESYS_SECRET_ID is not set" in run.line("✗", "configuration")
    assert "GENESYS_*" in run.fix_after("configuration")
    run.line("–", "secret readable")  # blocked, not a second failure


def test_missing_secret(app: App, genesys_auth: Callable[..., Run]) -> None:
    run = genesys_auth(app.env(GENESYS_SECRET_ID="genesys/does-not-exist"), "doctor")
    assert run.code == 1
    line = run.line("✗", "secret readable")
    assert "the secret genesys/does-not-exist does not exist" in line and "ResourceNotFoundException" in line
    assert "GENESYS_SECRET_ID" in run.fix_after("secret readable")
    assert "not checked: needs a readable secret" in run.line("–", "secret fields")


def test_secret_not_json(moto: MotoServer, app: App, genesys_auth: Callable[..., Run]) -> None:
    broken = f"client_id={app.oauth.client_id} client_secret={app.oauth.secret}"
    moto.client("secretsmanager").create_secret(Name="genesys/not-json", SecretString=broken)
    run = genesys_auth(app.env(GENESYS_SECRET_ID="genesys/not-json"), "doctor")
    assert run.code == 1
    assert "the secret is not valid JSON" in run.line("✗", "secret fields")
    assert '"client_secret"' in run.fix_after("secret fields")
    assert app.oauth.secret not in run.out


def test_field_missing(moto: MotoServer, app: App, genesys_auth: Callable[..., Run]) -> None:
    name = create_credentials_secret(moto, app.oauth.client_id, "placeholder")
    moto.client("secretsmanager").put_secret_value(
        SecretId=name, SecretString=json.dumps({"client_id": app.oauth.client_id, "region": "mypurecloud.ie"})
    )
    run = genesys_auth(app.env(GENESYS_SECRET_ID=name), "doctor")
    assert run.code == 1
    line = run.line("✗", "secret fields")
    assert "missing client_secret" in line and "it has client_id, region" in line
    assert app.oauth.client_id not in line  # names only, never values


def test_wrong_region_is_found_by_the_scan(
    moto: MotoServer, emulator: GenesysEmulator, leaks: LeakWatch, genesys_auth: Callable[..., Run]
) -> None:
    # `emulator` is the configured region; the client lives in another one.
    regions = {key: GenesysEmulator().start() for key in ("eu_west_1", "ap_southeast_2")}
    leaks.emulators.extend(regions.values())
    try:
        oauth = regions["eu_west_1"].add_client(name="lives-in-ireland")
        secret_id = create_credentials_secret(moto, oauth.client_id, oauth.secret)
        env = {
            "GENESYS_SECRET_ID": secret_id,
            "GENESYS_LOGIN_URL": emulator.url,
            "GENESYS_API_URL": emulator.url,
        }
        plain = genesys_auth(env, "doctor")
        assert plain.code == 1
        line = plain.line("✗", "token")
        assert f"does not know client {oauth.client_id} (invalid_client: client not found)" in line
        assert "--scan-regions" in plain.fix_after("token")
        assert "region scan" not in plain.out  # off by default: it sends the credentials abroad
        assert regions["eu_west_1"].counts()["token"]["requests"] == 0

        logins = {"us_east_1": emulator.url, **{key: emu.url for key, emu in regions.items()}}
        out = io.StringIO()
        with patched_environ(env):
            code = cli.main(["doctor", "--scan-regions"], out=out, region_logins=logins)
        scanned = Run(code, out.getvalue(), "")
        assert_clean(leaks, scanned.out)
        assert scanned.code == 1
        scan = scanned.line("✗", "region scan")
        assert f"client {oauth.client_id} exists in eu_west_1 (mypurecloud.ie)" in scan
        assert "2 other login hosts asked" in scan  # the configured one is not asked twice
        assert '"region": "mypurecloud.ie"' in scanned.fix_after("region scan")
    finally:
        for emu in regions.values():
            emu.stop()


def test_disabled_client(app: App, genesys_auth: Callable[..., Run]) -> None:
    app.emulator.set_client_state(app.oauth.client_id, "disabled")
    run = genesys_auth(app.env(), "doctor")
    assert run.code == 1
    line = run.line("✗", "token")
    assert "invalid_client: authentication failed" in line and "disabled or inactive" in line
    assert "active" in run.fix_after("token")
    assert "not checked: needs a token" in run.line("–", "GET /api/v2/tokens/me")
    token = genesys_auth(app.env(), "token")
    assert token.code == 1 and token.out.startswith("error (authentication): ")


def test_client_disabled_after_its_token_reached_the_table(
    app: App, table: str, genesys_auth: Callable[..., Run]
) -> None:
    env = app.env(GENESYS_TOKEN_TABLE=table)
    assert genesys_auth(env, "token").code == 0
    app.emulator.set_client_state(app.oauth.client_id, "disabled")
    run = genesys_auth(env, "doctor")
    assert run.code == 1
    run.line("✓", "token")  # found in the table: nothing is minted
    assert "refused the table token" in run.line("✗", "GET /api/v2/tokens/me")
    assert "401 bad.credentials" in run.line("✗", "GET /api/v2/tokens/me")
    assert "genesys-auth cache invalidate" in run.fix_after("GET /api/v2/tokens/me")


def test_missing_table(app: App, genesys_auth: Callable[..., Run]) -> None:
    run = genesys_auth(app.env(GENESYS_TOKEN_TABLE="no-such-table"), "doctor")
    assert run.code == 1
    assert "the table no-such-table does not exist" in run.line("✗", "shared table")
    assert "TokenTable" in run.fix_after("shared table")
    run.line("–", "table item")
    run.line("✓", "token")  # the cache never fails a call: a mint still works


def test_lease_held_by_a_dead_holder(moto: MotoServer, app: App, table: str, genesys_auth: Callable[..., Run]) -> None:
    lapsed = time.time() - 42
    moto.client("dynamodb").put_item(
        TableName=table,
        Item={
            "pk": {"S": f"token#{app.secret_id}"},
            "version": {"N": "7"},
            "owner": {"S": "4242-deadbeef-cafe0001"},
            "lease_until": {"N": str(lapsed)},
        },
    )
    run = genesys_auth(app.env(GENESYS_TOKEN_TABLE=table), "doctor")
    assert run.code == 1
    line = run.line("✗", "table item")
    assert "version 7, no token" in line and "lease of 4242-deadbeef-cafe0001 lapsed 4" in line
    assert "died or timed out while minting" in line
    assert "takes the lapsed lease over" in run.fix_after("table item")
    # `genesys-auth token` takes the lapsed lease over, mints and publishes: the next doctor is green.
    assert genesys_auth(app.env(GENESYS_TOKEN_TABLE=table), "token").code == 0
    healed = genesys_auth(app.env(GENESYS_TOKEN_TABLE=table), "doctor")
    assert healed.code == 0, healed.out
    assert "version 8" in healed.line("✓", "table item")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_extension_down(app: App, genesys_auth: Callable[..., Run]) -> None:
    port = _free_port()
    run = genesys_auth(app.env(GENESYS_TOKEN_EXTENSION="on", GENESYS_TOKEN_EXTENSION_PORT=str(port)), "doctor")
    assert run.code == 1
    assert f"genesys-token is not answering on 127.0.0.1:{port}" in run.line("✗", "extension")
    assert "ExtensionLayerArn" in run.fix_after("extension")
    run.line("✓", "token")  # only the extension is at fault


@pytest.fixture
def extension_server(app: App) -> Iterator[int]:
    """The real genesys-token HTTP server, in this process, serving the app's client."""
    from genesys_token.server import TokenServer
    from genesys_token.service import TokenService

    # The guard header the library sends is AWS_SESSION_TOKEN, which the app's environment sets.
    server = TokenServer(0, FAKE_CREDENTIALS["AWS_SESSION_TOKEN"], max_wait=5.0)
    server.attach(TokenService(build_provider(app.settings(), use_extension=False)))
    server.start()
    yield int(server.server_address[1])
    server.stop()


def test_extension_running(app: App, extension_server: int, genesys_auth: Callable[..., Run]) -> None:
    env = app.env(GENESYS_TOKEN_EXTENSION="on", GENESYS_TOKEN_EXTENSION_PORT=str(extension_server))
    run = genesys_auth(env, "doctor")
    assert run.code == 0, run.out
    assert f"genesys-token ready on 127.0.0.1:{extension_server}" in run.line("✓", "extension")
    token = json.loads(genesys_auth(env, "token", "--json").out)
    assert token["source"] == "extension"
    assert app.emulator.mints() == 2  # the doctor's own mint, and the extension's


def test_token_show_is_the_only_output_with_the_token(
    app: App, table: str, leaks: LeakWatch, genesys_auth: Callable[..., Run]
) -> None:
    env = app.env(GENESYS_TOKEN_TABLE=table)
    plain = genesys_auth(env, "token")
    as_json = genesys_auth(env, "token", "--json")
    shown = genesys_auth(env, "token", "--show", clean=False)
    assert plain.code == as_json.code == shown.code == 0
    issued = app.emulator.issued_tokens()
    assert len(issued) == 1
    assert shown.out.strip() == issued[0]  # alone on stdout, for TOKEN=$(genesys-auth token --show)
    assert "from mint" in plain.out and "fp=" in plain.out
    data = json.loads(as_json.out)
    assert data["source"] == "table" and "access_token" not in data
    assert data["fingerprint"] in plain.out
    shown_json = genesys_auth(env, "token", "--show", "--json", clean=False)
    assert json.loads(shown_json.out)["access_token"] == issued[0]
    for other in (plain, as_json, genesys_auth(env, "doctor"), genesys_auth(env, "cache", "show")):
        assert issued[0] not in other.out + other.err


def test_cache_show_and_invalidate(app: App, table: str, genesys_auth: Callable[..., Run]) -> None:
    env = app.env(GENESYS_TOKEN_TABLE=table)
    first = json.loads(genesys_auth(env, "token", "--json").out)
    shown = genesys_auth(env, "cache", "show")
    assert shown.code == 0
    assert f"token#{app.secret_id}: version 1, token fp={first['fingerprint']}" in shown.out
    assert "lease free" in shown.out
    forgot = genesys_auth(env, "cache", "invalidate")
    assert forgot.code == 0 and f"forgot token fp={first['fingerprint']}" in forgot.out
    after = json.loads(genesys_auth(env, "cache", "show", "--json").out)
    assert after["item"]["fingerprint"] is None and after["item"]["version"] == 2
    assert "holds no token" in genesys_auth(env, "cache", "invalidate").out
    second = json.loads(genesys_auth(env, "token", "--json").out)
    assert second["source"] == "mint" and second["fingerprint"] != first["fingerprint"]


def test_cache_without_a_table_and_bad_usage(app: App, genesys_auth: Callable[..., Run]) -> None:
    run = genesys_auth(app.env(), "cache", "show")
    assert run.code == 1 and "GENESYS_TOKEN_TABLE is not set" in run.out
    usage = genesys_auth(app.env(), "doctor", "--no-such-flag")
    assert usage.code == 2 and "usage: genesys-auth" in usage.err
    assert genesys_auth(app.env(), "cache").code == 2


def test_the_example_function_answers_the_doctor_event(
    app: App, table: str, leaks: LeakWatch, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in app.env(GENESYS_TOKEN_TABLE=table).items():
        monkeypatch.setenv(name, value)
    module = load_handler(name="example_app_doctor")
    event = json.loads((ROOT / "events" / "doctor.json").read_text())
    report: dict[str, Any] = module.handler(event, Context(10.0, "req-doctor"))
    text = json.dumps(report)
    assert_clean(leaks, text)
    assert report["ok"] is True, text
    names = [check["name"] for check in report["checks"]]
    assert names[:3] == ["configuration", "secret", "secret_fields"] and "tokens_me" in names
    # The function's own path is unchanged.
    assert module.handler({}, Context(10.0, "req-call"))["ok"] is True


def test_iam_and_kms_errors_are_named_as_such() -> None:
    detail, fix = secret_problem(
        "AccessDeniedException", "User: arn:aws:sts::1:assumed-role/fn is not authorized", "genesys/app"
    )
    assert detail.startswith("the role lacks secretsmanager:GetSecretValue on genesys/app")
    assert "assumed-role/fn" in detail and "GetSecretValue" in fix
    detail, _ = secret_problem("DecryptionFailure", "", "genesys/app")
    assert "kms:Decrypt" in detail
    detail, fix = table_problem("AccessDeniedException", "", "tokens", "GetItem")
    assert detail.startswith("the role lacks dynamodb:GetItem on table tokens") and "UpdateItem" in fix


def test_no_check_runs_past_the_deadline(app: App) -> None:
    with patched_environ(app.env()):
        report = doctor.run(deadline=Deadline.after(0))
    assert report.ok is False
    assert [check.to_dict() for check in report.checks] == [
        {
            "name": "configuration",
            "ok": False,
            "status": "fail",
            "detail": "not checked, nor any check after it: out of time",
            "fix": "give the doctor more time (--timeout, or the function's timeout)",
        }
    ]
    assert app.emulator.counts()["token"]["requests"] == 0


def test_pool_slots_are_reported_when_they_exist(
    moto: MotoServer, app: App, table: str, leaks: LeakWatch, genesys_auth: Callable[..., Run]
) -> None:
    ddb = moto.client("dynamodb")
    now = time.time()
    fingerprints = []
    for slot in (1, 2):
        value = f"pool-slot-{slot}-token-{os.urandom(8).hex()}"
        leaks.extra_sensitive.append(value)
        digest = hashlib.sha256(value.encode()).hexdigest()
        fingerprints.append(digest[:12])
        ddb.put_item(
            TableName=table,
            Item={
                "pk": {"S": f"token#{app.secret_id}#{slot}"},
                "version": {"N": "1"},
                "access_token": {"S": value},
                "token_hash": {"S": digest},
                "expires_at": {"N": str(now + 3600)},
                "lifetime": {"N": "3600"},
            },
        )
    # Slot 0 counts the opened slots; slot 3 was opened but its item is gone (cleaned up).
    ddb.put_item(
        TableName=table,
        Item={"pk": {"S": f"token#{app.secret_id}"}, "version": {"N": "0"}, "slots": {"N": "4"}},
    )
    env = app.env(GENESYS_TOKEN_TABLE=table)
    run = genesys_auth(env, "doctor")
    assert run.code == 0, run.out
    line = run.line("✓", "table item")
    assert "version 0, no token, lease free, 4 pool slots opened" in line
    assert "pool: 2 more slot(s): #1 version 1, token fp=" + fingerprints[0] in line
    assert "#2 version 1, token fp=" + fingerprints[1] in line
    shown = json.loads(genesys_auth(env, "cache", "show", "--json").out)
    assert [slot["fingerprint"] for slot in shown["pool"]] == fingerprints
    assert shown["pool"][0]["key"] == f"token#{app.secret_id}#1"
    forgot = json.loads(genesys_auth(env, "cache", "invalidate", "--json").out)
    assert forgot["slots"] == [
        {"slot": 0, "outcome": "no_token", "fingerprint": None},
        {"slot": 1, "outcome": "forgotten", "fingerprint": fingerprints[0]},
        {"slot": 2, "outcome": "forgotten", "fingerprint": fingerprints[1]},
    ]


def test_a_role_without_get_secret_value_is_named_as_an_iam_error(
    moto: MotoServer, app: App, leaks: LeakWatch, genesys_auth: Callable[..., Run]
) -> None:
    from moto.core.authorization import enable_iam_authentication

    iam = moto.client("iam")
    iam.create_user(UserName="doctor-without-secrets")
    key = iam.create_access_key(UserName="doctor-without-secrets")["AccessKey"]
    leaks.extra_sensitive.append(key["SecretAccessKey"])
    env = app.env(AWS_ACCESS_KEY_ID=key["AccessKeyId"], AWS_SECRET_ACCESS_KEY=key["SecretAccessKey"])
    with enable_iam_authentication():  # moto now checks IAM policies, as AWS does
        run = genesys_auth(env, "doctor", drop=("AWS_SESSION_TOKEN",))
    assert run.code == 1
    line = run.line("✗", "secret readable")
    # AWS answers AccessDeniedException (and names the principal in its message); moto answers a bare 403.
    assert f"the role lacks secretsmanager:GetSecretValue on {app.secret_id} (AccessDenied" in line
    assert "AWSSecretsManagerGetSecretValuePolicy" in run.fix_after("secret readable")
    assert key["SecretAccessKey"] not in run.out


def test_a_kms_sealed_token_needs_the_key(app: App, table: str, genesys_auth: Callable[..., Run]) -> None:
    key = app.moto.client("kms").create_key(Description="doctor tokens")["KeyMetadata"]["Arn"]
    sealed_env = app.env(GENESYS_TOKEN_TABLE=table, GENESYS_TOKEN_KMS_KEY=key)
    assert genesys_auth(sealed_env, "token").code == 0  # mints and publishes the sealed token
    run = genesys_auth(sealed_env, "doctor")
    assert run.code == 0, run.out
    assert "(KMS-sealed)" in run.line("✓", "table item")
    assert run.line("✓", "token").startswith("✓ token: found in the table")
    without = genesys_auth(app.env(GENESYS_TOKEN_TABLE=table), "doctor")
    assert without.code == 1
    assert "sealed with KMS, but GENESYS_TOKEN_KMS_KEY is not set here" in without.line("✗", "table item")
    assert "GENESYS_TOKEN_KMS_KEY" in without.fix_after("table item")
    # Forgetting compares the stored hash: no key (and no Decrypt) needed.
    forgot = json.loads(genesys_auth(app.env(GENESYS_TOKEN_TABLE=table), "cache", "invalidate", "--json").out)
    assert forgot["slots"][0]["outcome"] == "forgotten"
