from __future__ import annotations

import pytest

from genesys_auth import REGIONS, ConfigurationError, Settings, endpoints_for
from genesys_auth.regions import domain_for


def test_all_eighteen_regions_map_to_login_and_api_hosts() -> None:
    assert len(REGIONS) == 18
    for key, domain in REGIONS.items():
        endpoints = endpoints_for(domain)
        assert endpoints.login_url == f"https://login.{domain}"
        assert endpoints.api_url == f"https://api.{domain}"
        assert endpoints.token_url == f"https://login.{domain}/oauth/token"
        assert domain_for(key) == domain
        assert domain_for(key.replace("_", "-")) == domain


def test_region_accepts_host_forms() -> None:
    assert domain_for("https://api.mypurecloud.ie/") == "mypurecloud.ie"
    assert domain_for("login.mypurecloud.de") == "mypurecloud.de"


def test_unknown_region_lists_the_valid_ones() -> None:
    with pytest.raises(ConfigurationError) as err:
        endpoints_for("api.us.genesys.cloud")
    message = str(err.value)
    assert "api.us.genesys.cloud" in message
    for domain in REGIONS.values():
        assert domain in message


def test_settings_from_env_reads_every_variable() -> None:
    settings = Settings.from_env(
        {
            "GENESYS_SECRET_ID": "genesys/app",
            "GENESYS_REGION": "mypurecloud.ie",
            "GENESYS_TOKEN_TABLE": "tokens",
            "GENESYS_SECRET_MAX_AGE": "60",
            "GENESYS_MAX_WAIT_SECONDS": "5",
            "GENESYS_METRICS": "true",
        }
    )
    assert settings.secret_id == "genesys/app"
    assert settings.token_table == "tokens"
    assert settings.secret_max_age == 60
    assert settings.max_wait == 5
    assert settings.metrics is True
    assert settings.endpoints(None).api_url == "https://api.mypurecloud.ie"
    # A region in the secret wins over GENESYS_REGION.
    assert settings.endpoints("mypurecloud.de").login_url == "https://login.mypurecloud.de"


def test_overrides_win_over_region() -> None:
    settings = Settings(secret_id="s", login_url="http://127.0.0.1:1", api_url="http://127.0.0.1:2")
    endpoints = settings.endpoints("mypurecloud.com")
    assert endpoints.token_url == "http://127.0.0.1:1/oauth/token"
    assert endpoints.api_url == "http://127.0.0.1:2"


@pytest.mark.parametrize(
    ("env", "needle"),
    [
        ({}, "GENESYS_SECRET_ID"),
        ({"GENESYS_SECRET_ID": "s", "GENESYS_REGION": "nowhere.example"}, "nowhere.example"),
        ({"GENESYS_SECRET_ID": "s", "GENESYS_LOGIN_URL": "ftp://x"}, "GENESYS_LOGIN_URL"),
        ({"GENESYS_SECRET_ID": "s", "GENESYS_MAX_WAIT_SECONDS": "soon"}, "GENESYS_MAX_WAIT_SECONDS"),
        ({"GENESYS_SECRET_ID": "s", "GENESYS_METRICS": "maybe"}, "GENESYS_METRICS"),
    ],
)
def test_bad_configuration_names_the_variable(env: dict[str, str], needle: str) -> None:
    with pytest.raises(ConfigurationError, match=needle):
        Settings.from_env(env)


def test_missing_region_says_how_to_fix() -> None:
    with pytest.raises(ConfigurationError, match="GENESYS_REGION"):
        Settings(secret_id="s").endpoints(None)
