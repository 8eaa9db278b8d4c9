"""The consumer managed policy of template.yaml is enough for genesys_auth, under moto's IAM enforcement.

A separate moto server process runs with ``INITIAL_NO_AUTH_ACTION_COUNT=3`` (moto reads it at import,
so the suite's in-process server cannot switch it on for one test): the first three requests create
an administrator, every later request is signed, authenticated and authorised against the caller's
IAM policies. A user with only ``ConsumerPolicy`` (rendered from template.yaml through the SAM
transform, the stack's ARNs substituted) then runs ``GenesysClient`` with the shared table on.

What moto 5.2.5 really evaluates (moto/iam/access_control.py, moto/core/responses.py), and so what
this test can and cannot prove:

* **Actions**: yes. A call whose action no statement allows is denied, which is what this test
  checks: every action the library sends is in the policy, and without the secret statement the
  library fails with a classified ``SecretError``.
* **Resources**: no. For DynamoDB, Secrets Manager and KMS moto authorises every request against
  the resource ``"*"``, so a statement scoped to an ARN never matches and denies everything
  (``test_moto_checks_actions_not_resources_nor_conditions`` shows it). The policy is therefore
  rendered with its real ARNs and checked for them, then handed to moto with each ``Resource`` set
  to ``"*"``. The ARN scoping itself is checked statically in tests/unit/test_template.py.
* **Conditions**: no, for these services: moto only knows ``StringEquals`` and has no request
  context, so ``dynamodb:LeadingKeys`` (``token#*``) and ``kms:EncryptionContext:genesys_auth`` are
  ignored. Nor does moto enforce KMS key policies beyond Deny statements on DescribeKey. On AWS,
  both conditions apply; the README says so.
"""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from genesys_auth import GenesysClient, SecretError, Settings
from tests.harness.aws import FAKE_CREDENTIALS, create_credentials_secret, create_token_table
from tests.harness.genesys_emulator import GenesysEmulator
from tests.unit.test_template import render

pytestmark = pytest.mark.timeout(120)

REGION = FAKE_CREDENTIALS["AWS_REGION"]
UNAUTHENTICATED_SETUP_CALLS = 3  # create_user, put_user_policy, create_access_key of the admin

_SERVER = """
import sys
from moto.server import ThreadedMotoServer
server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
server.start()
print(server.get_host_and_port()[1], flush=True)
sys.stdin.read()  # until the test closes our stdin
server.stop()
"""


@dataclass
class Keys:
    access_key_id: str
    secret_access_key: str


class AuthMoto:
    """A moto server process with IAM enforcement; ``client()`` signs as the administrator."""

    def __init__(self, url: str, admin: Keys) -> None:
        self.url = url
        self.admin = admin

    def client(self, service: str, keys: Keys | None = None) -> Any:
        import boto3

        keys = keys or self.admin
        return boto3.session.Session().client(
            service,
            endpoint_url=self.url,
            region_name=REGION,
            aws_access_key_id=keys.access_key_id,
            aws_secret_access_key=keys.secret_access_key,
        )

    def user(self, policy: dict[str, Any]) -> Keys:
        """A new IAM user whose only permission is ``policy`` (a customer managed policy)."""
        iam = self.client("iam")
        name = f"consumer-{uuid.uuid4().hex[:8]}"
        iam.create_user(UserName=name)
        arn = iam.create_policy(PolicyName=f"{name}-policy", PolicyDocument=json.dumps(policy))["Policy"]["Arn"]
        iam.attach_user_policy(UserName=name, PolicyArn=arn)
        key = iam.create_access_key(UserName=name)["AccessKey"]
        return Keys(key["AccessKeyId"], key["SecretAccessKey"])


@pytest.fixture(scope="module")
def auth_moto() -> Iterator[AuthMoto]:
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "GENESYS_"))},
        "INITIAL_NO_AUTH_ACTION_COUNT": str(UNAUTHENTICATED_SETUP_CALLS),
    }
    proc = subprocess.Popen(
        [sys.executable, "-c", _SERVER],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        env=env,
        text=True,
    )
    try:
        assert proc.stdout is not None
        port = proc.stdout.readline().strip()
        assert port.isdigit(), f"moto server did not start (said {port!r})"
        url = f"http://127.0.0.1:{port}"
        import boto3

        iam = boto3.session.Session().client(
            "iam", endpoint_url=url, region_name=REGION, aws_access_key_id="setup", aws_secret_access_key="setup"
        )
        iam.create_user(UserName="admin")
        iam.put_user_policy(
            UserName="admin",
            PolicyName="everything",
            PolicyDocument=json.dumps(
                {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}
            ),
        )
        key = iam.create_access_key(UserName="admin")["AccessKey"]
        yield AuthMoto(url, Keys(key["AccessKeyId"], key["SecretAccessKey"]))
    finally:
        if proc.stdin:
            proc.stdin.close()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@dataclass
class Stack:
    """The stack's resources in the enforcing moto: secret, token table, token key."""

    secret_name: str
    secret_arn: str
    table: str
    table_arn: str
    key_arn: str


@pytest.fixture
def stack(auth_moto: AuthMoto, emulator: GenesysEmulator) -> Stack:
    oauth = emulator.add_client()
    secret_name = create_credentials_secret(auth_moto, oauth.client_id, oauth.secret)  # type: ignore[arg-type]
    secret_arn = auth_moto.client("secretsmanager").describe_secret(SecretId=secret_name)["ARN"]
    table = create_token_table(auth_moto)  # type: ignore[arg-type]
    table_arn = auth_moto.client("dynamodb").describe_table(TableName=table)["Table"]["TableArn"]
    key_arn = auth_moto.client("kms").create_key(Description="token key")["KeyMetadata"]["Arn"]
    return Stack(secret_name, secret_arn, table, table_arn, key_arn)


def consumer_policy(stack: Stack) -> dict[str, Any]:
    """ConsumerPolicy's document from template.yaml with this stack's ARNs in place of its intrinsics."""
    document = render("consumer-test")["Resources"]["ConsumerPolicy"]["Properties"]["PolicyDocument"]
    arns = {
        json.dumps({"Ref": "CredentialsSecret"}): stack.secret_arn,
        json.dumps({"Fn::GetAtt": ["TokenTable", "Arn"]}): stack.table_arn,
        json.dumps({"Fn::GetAtt": ["TokenKey", "Arn"]}): stack.key_arn,
    }
    for statement in document["Statement"]:
        statement["Resource"] = arns[json.dumps(statement["Resource"])]
    policy: dict[str, Any] = document
    return policy


def for_moto(policy: dict[str, Any], *, without: str | None = None) -> dict[str, Any]:
    """``policy`` as moto can evaluate it: Resource "*" (see the module docstring), minus one statement."""
    document = copy.deepcopy(policy)
    document["Statement"] = [s for s in document["Statement"] if s["Sid"] != without]
    for statement in document["Statement"]:
        statement["Resource"] = "*"
    return document


def run_library(
    auth_moto: AuthMoto, keys: Keys, stack: Stack, emulator: GenesysEmulator, monkeypatch: pytest.MonkeyPatch
) -> GenesysClient:
    """A client with the user's keys (no session token: an IAM user's long-term keys) and the shared table."""
    monkeypatch.setenv("AWS_ENDPOINT_URL", auth_moto.url)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", keys.access_key_id)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", keys.secret_access_key)
    monkeypatch.delenv("AWS_SESSION_TOKEN", raising=False)
    return GenesysClient(
        Settings(
            secret_id=stack.secret_name,
            login_url=emulator.url,
            api_url=emulator.url,
            token_table=stack.table,
            token_kms_key=stack.key_arn,
        )
    )


def token_item(auth_moto: AuthMoto, stack: Stack) -> dict[str, Any] | None:
    item: dict[str, Any] | None = (
        auth_moto.client("dynamodb")
        .get_item(TableName=stack.table, Key={"pk": {"S": f"token#{stack.secret_name}"}}, ConsistentRead=True)
        .get("Item")
    )
    return item


def _library_warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name.startswith("genesys_auth") and r.levelname == "WARNING"]


def test_the_policy_names_this_stacks_resources(stack: Stack) -> None:
    resources = {s["Sid"]: s["Resource"] for s in consumer_policy(stack)["Statement"]}
    assert resources == {
        "ReadCredentialsSecret": stack.secret_arn,
        "SharedTokenCache": stack.table_arn,
        "TokenEncryption": stack.key_arn,
    }


def test_a_user_with_only_the_consumer_policy_gets_tokens_and_shares_them(
    auth_moto: AuthMoto, stack: Stack, emulator: GenesysEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    keys = auth_moto.user(for_moto(consumer_policy(stack)))
    client = run_library(auth_moto, keys, stack, emulator, monkeypatch)
    response = client.get("/api/v2/organizations/me")
    assert response.status_code == 200
    assert emulator.mints() == 1
    # GetItem and both UpdateItems (lease, publish) were allowed: the token is in the shared table.
    item = token_item(auth_moto, stack)
    assert item is not None and int(item["version"]["N"]) >= 1
    assert "sealed_token" in item and "access_token" not in item  # kms:Encrypt was allowed too
    # A second container with the same rights takes it from the table instead of minting.
    other = run_library(auth_moto, keys, stack, emulator, monkeypatch)
    assert other.token_info().fingerprint == client.token_info().fingerprint
    assert emulator.mints() == 1


def test_without_the_secret_statement_the_library_fails_with_a_secret_error(
    auth_moto: AuthMoto, stack: Stack, emulator: GenesysEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    keys = auth_moto.user(for_moto(consumer_policy(stack), without="ReadCredentialsSecret"))
    client = run_library(auth_moto, keys, stack, emulator, monkeypatch)
    with pytest.raises(SecretError) as raised:
        client.token()
    assert raised.value.kind == "secret"
    # moto answers a denied JSON-protocol call with an XML body, which botocore reads as code "403";
    # AWS sends AccessDeniedException, for which the message also names the grant to add.
    assert "reading the credentials secret" in str(raised.value)
    assert emulator.mints() == 0


def test_without_the_table_statement_the_cache_degrades_and_says_so(
    auth_moto: AuthMoto,
    stack: Stack,
    emulator: GenesysEmulator,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The shared cache never fails a call (README): denied, it warns and mints directly."""
    keys = auth_moto.user(for_moto(consumer_policy(stack), without="SharedTokenCache"))
    client = run_library(auth_moto, keys, stack, emulator, monkeypatch)
    assert client.get("/api/v2/organizations/me").status_code == 200
    assert token_item(auth_moto, stack) is None  # nothing could be shared
    warnings = _library_warnings(caplog)
    assert any("shared token cache unavailable" in message for message in warnings), warnings


def test_moto_checks_actions_not_resources_nor_conditions(auth_moto: AuthMoto, stack: Stack) -> None:
    """Why the policy reaches moto with Resource "*": the limits of moto's IAM evaluation, shown."""
    key = {"pk": {"S": f"token#{stack.secret_name}"}}
    scoped = auth_moto.user(
        {
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Action": "dynamodb:GetItem", "Resource": stack.table_arn}],
        }
    )
    from botocore.exceptions import ClientError

    with pytest.raises(ClientError):  # the right ARN, denied: moto compares statements with "*"
        auth_moto.client("dynamodb", scoped).get_item(TableName=stack.table, Key=key)
    wrong_prefix = auth_moto.user(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Action": "dynamodb:GetItem",
                    "Resource": "*",
                    "Condition": {"ForAllValues:StringLike": {"dynamodb:LeadingKeys": ["rotation#*"]}},
                }
            ],
        }
    )
    # Allowed although the key is token#...: moto ignores dynamodb:LeadingKeys. AWS would deny it.
    auth_moto.client("dynamodb", wrong_prefix).get_item(TableName=stack.table, Key=key)


def test_without_the_encryption_statement_nothing_is_shared_and_the_call_still_works(
    auth_moto: AuthMoto,
    stack: Stack,
    emulator: GenesysEmulator,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """kms:Encrypt denied: the token is not written to the table (neither sealed nor in the clear)."""
    keys = auth_moto.user(for_moto(consumer_policy(stack), without="TokenEncryption"))
    client = run_library(auth_moto, keys, stack, emulator, monkeypatch)
    assert client.get("/api/v2/organizations/me").status_code == 200
    item = token_item(auth_moto, stack) or {}
    assert "access_token" not in item and "sealed_token" not in item
    warnings = _library_warnings(caplog)
    assert any("shared token cache unavailable" in message and "KMS" in message for message in warnings), warnings
