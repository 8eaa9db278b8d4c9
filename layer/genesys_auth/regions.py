"""Genesys Cloud regions and the login/API base URLs derived from them.

The table is the official SDKs' ``PureCloudRegionHosts`` (18 regions). Login host = ``login.<domain>``,
API host = ``api.<domain>``, exactly as every official SDK derives them.
"""

from __future__ import annotations

from dataclasses import dataclass

from .errors import ConfigurationError

#: SDK region key -> domain.
REGIONS: dict[str, str] = {
    "us_east_1": "mypurecloud.com",
    "us_east_2": "use2.us-gov-pure.cloud",
    "us_west_2": "usw2.pure.cloud",
    "ca_central_1": "cac1.pure.cloud",
    "sa_east_1": "sae1.pure.cloud",
    "mx_central_1": "mxc1.pure.cloud",
    "eu_west_1": "mypurecloud.ie",
    "eu_west_2": "euw2.pure.cloud",
    "eu_central_1": "mypurecloud.de",
    "eu_central_2": "euc2.pure.cloud",
    "eusc_de_east_1": "edee1.eusc-pure.cloud",
    "me_central_1": "mec1.pure.cloud",
    "ap_south_1": "aps1.pure.cloud",
    "ap_southeast_1": "apse1.pure.cloud",
    "ap_southeast_2": "mypurecloud.com.au",
    "ap_northeast_1": "mypurecloud.jp",
    "ap_northeast_2": "apne2.pure.cloud",
    "ap_northeast_3": "apne3.pure.cloud",
}

_DOMAINS = frozenset(REGIONS.values())


@dataclass(frozen=True)
class Endpoints:
    """Base URLs of one Genesys Cloud region (no trailing slash)."""

    login_url: str
    api_url: str

    @property
    def token_url(self) -> str:
        return f"{self.login_url}/oauth/token"


def domain_for(region: str) -> str:
    """Return the domain of ``region``, given as a domain (``mypurecloud.ie``) or an SDK key
    (``eu_west_1`` or ``eu-west-1``). Raises :class:`ConfigurationError` listing the valid ones."""
    value = region.strip().lower()
    for prefix in ("https://", "http://", "api.", "login."):
        if value.startswith(prefix):
            value = value[len(prefix) :]
    value = value.rstrip("/")
    if value in _DOMAINS:
        return value
    key = value.replace("-", "_")
    if key in REGIONS:
        return REGIONS[key]
    valid = ", ".join(sorted(_DOMAINS))
    # The region is configuration, not a secret, so naming it helps the user find the typo.
    raise ConfigurationError(
        f"unknown Genesys Cloud region {region!r}; use one of these domains: {valid} "
        "(or the SDK keys such as eu_west_1)"
    )


def endpoints_for(region: str) -> Endpoints:
    domain = domain_for(region)
    return Endpoints(login_url=f"https://login.{domain}", api_url=f"https://api.{domain}")
