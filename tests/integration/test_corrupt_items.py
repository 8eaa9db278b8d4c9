"""A corrupted shared item never fails a call and never holds the cache hostage.

Each case writes the slot-0 item as a buggy tool, a hand edit or a skewed clock might leave it,
then a cold client must succeed within its deadline and leave a well-formed item behind.
"""

from __future__ import annotations

import time

import pytest

from tests.conftest import App
from tests.harness.aws import create_token_table

DAYS = 3 * 86400


def _cases(now: float) -> dict[str, dict[str, dict[str, str]]]:
    good = {"token_hash": {"S": "0" * 64}, "token_type": {"S": "bearer"}, "lifetime": {"N": "86400"}}
    return {
        "expires_at-as-string": {
            **good,
            "access_token": {"S": "a" * 40},
            "expires_at": {"S": "soon"},
            "version": {"N": "3"},
        },
        "access_token-as-number": {
            **good,
            "access_token": {"N": "12345"},
            "expires_at": {"N": str(now + 3600)},
            "version": {"N": "3"},
        },
        "token-with-crlf": {
            **good,
            "access_token": {"S": "abc\r\nX-Evil: 1"},
            "expires_at": {"N": str(now + 3600)},
            "version": {"N": "1"},
        },
        "expiry-in-a-million-years": {
            **good,
            "access_token": {"S": "a" * 40},
            "expires_at": {"N": "1e15"},
            "version": {"N": "1"},
        },
        "version-1.5": {"version": {"N": "1.5"}},
        "version-missing": {"lifetime": {"N": "86400"}},
        "version-as-string": {"version": {"S": "seven"}},
        "lease-held-for-days": {
            "version": {"N": "4"},
            "owner": {"S": "a-dead-holder"},
            "lease_until": {"N": str(now + DAYS)},
        },
        "lease_until-as-string": {
            "version": {"N": "4"},
            "owner": {"S": "a-dead-holder"},
            "lease_until": {"S": "later"},
        },
    }


@pytest.mark.parametrize("case", list(_cases(0)))
def test_corrupt_item_is_replaced_and_the_call_succeeds(app: App, case: str) -> None:
    table = create_token_table(app.moto)
    ddb = app.moto.client("dynamodb")
    key = {"pk": {"S": f"token#{app.secret_id}"}}
    ddb.put_item(TableName=table, Item={**key, **_cases(time.time())[case]})
    warm = app.client()
    warm.secrets.current()  # boto3's first import is not what this test measures
    client = app.client(token_table=table)
    started = time.monotonic()
    response = client.get("/api/v2/organizations/me", deadline=5)
    assert response.status_code == 200
    assert time.monotonic() - started < 5
    item = ddb.get_item(TableName=table, Key=key, ConsistentRead=True)["Item"]
    assert item["access_token"]["S"] == client.token()  # replaced under the lease, not bypassed
    assert float(item["version"]["N"]).is_integer()
    assert "owner" not in item
