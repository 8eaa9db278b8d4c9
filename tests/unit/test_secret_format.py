from __future__ import annotations

import json

import pytest

from genesys_auth import Credentials, SecretError, parse_secret
from genesys_auth.credentials import secret_name

SECRET = "s3cr3t-value-that-must-never-show"


def test_parses_the_documented_format() -> None:
    creds = parse_secret(
        json.dumps(
            {"client_id": "cid", "client_secret": SECRET, "region": "mypurecloud.ie", "alternate_client_id": "b"}
        ),
        where="the secret",
    )
    assert creds == Credentials("cid", SECRET, "mypurecloud.ie", "b")


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("", "no SecretString"),
        ("{not json " + SECRET, "not valid JSON"),
        (json.dumps([SECRET]), "JSON object"),
        (json.dumps({"client_secret": SECRET}), "'client_id'"),
        (json.dumps({"client_id": "cid"}), "'client_secret'"),
        (json.dumps({"client_id": "cid", "client_secret": 7}), "'client_secret' must be a non-empty string"),
        (json.dumps({"client_id": "cid", "client_secret": SECRET, "region": 1}), "'region'"),
    ],
)
def test_malformed_secret_names_the_field_never_the_value(text: str, needle: str) -> None:
    with pytest.raises(SecretError) as err:
        parse_secret(text, where="the credentials secret")
    assert needle in str(err.value)
    assert SECRET not in str(err.value)
    assert err.value.__cause__ is None  # json's message quotes the text; it must not ride along


def test_credentials_repr_hides_the_secret() -> None:
    creds = Credentials("cid", SECRET)
    assert SECRET not in repr(creds)
    assert SECRET not in str(creds)


def test_secret_name_from_arn() -> None:
    arn = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:genesys/app-AbC123"
    assert secret_name(arn) == "genesys/app"
    assert secret_name("genesys/app") == "genesys/app"
