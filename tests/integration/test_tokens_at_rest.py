"""Tokens at rest: with GENESYS_TOKEN_KMS_KEY the table holds KMS ciphertext bound to the item.

A principal that can read the table (GetItem) but may not decrypt with the key gets nothing it can
send to Genesys; a ciphertext moved to another item or version does not open; a cold container
with the key decrypts once and mints nothing.
"""

from __future__ import annotations

import pytest

from genesys_auth import GenesysClient
from tests.conftest import App
from tests.harness.aws import create_token_table


@pytest.fixture
def kms_key(app: App) -> str:
    key: str = app.moto.client("kms").create_key(Description="genesys tokens")["KeyMetadata"]["Arn"]
    return key


def _item(app: App, table: str) -> dict[str, dict[str, object]]:
    answer = app.moto.client("dynamodb").get_item(
        TableName=table, Key={"pk": {"S": f"token#{app.secret_id}"}}, ConsistentRead=True
    )
    item: dict[str, dict[str, object]] = answer["Item"]
    return item


def test_the_table_holds_ciphertext_and_a_cold_container_decrypts_it(app: App, kms_key: str) -> None:
    table = create_token_table(app.moto)
    first = GenesysClient(app.settings(token_table=table, token_kms_key=kms_key))
    token = first.token()
    item = _item(app, table)
    assert "access_token" not in item
    sealed = item["sealed_token"]["B"]
    assert isinstance(sealed, bytes) and token.encode() not in sealed
    assert all(token not in str(value) for value in item.values())  # GetItem alone yields no usable token
    second = GenesysClient(app.settings(token_table=table, token_kms_key=kms_key))
    assert second.token() == token  # decrypted from the table
    assert second.minter.mints == 0
    assert app.emulator.mints() == 1


def test_ciphertext_bound_to_its_item_and_version(app: App, kms_key: str) -> None:
    kms = app.moto.client("kms")
    table = create_token_table(app.moto)
    GenesysClient(app.settings(token_table=table, token_kms_key=kms_key)).token()
    item = _item(app, table)
    version = str(item["version"]["N"])
    context = {"genesys_auth": "token", "item": f"token#{app.secret_id}", "version": version}
    assert kms.decrypt(CiphertextBlob=item["sealed_token"]["B"], EncryptionContext=context)["Plaintext"]
    for wrong in ({**context, "version": str(int(version) + 1)}, {**context, "item": "token#other"}, {}):
        with pytest.raises(kms.exceptions.InvalidCiphertextException):
            kms.decrypt(CiphertextBlob=item["sealed_token"]["B"], EncryptionContext=wrong)


def test_without_the_key_a_sealed_item_is_ignored_not_an_error(app: App, kms_key: str) -> None:
    table = create_token_table(app.moto)
    sealed_by = GenesysClient(app.settings(token_table=table, token_kms_key=kms_key))
    token = sealed_by.token()
    reader = GenesysClient(app.settings(token_table=table))  # no key configured
    assert reader.get("/api/v2/organizations/me").status_code == 200
    assert reader.token() != token or reader.minter.mints == 1
