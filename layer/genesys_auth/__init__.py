"""Genesys Cloud OAuth client-credentials tokens for AWS Lambda.

Importing this package is cheap: boto3 and Powertools are imported only when a secret is read
or a metric emitted.
"""

from __future__ import annotations

from . import layer_path as _layer_path  # noqa: F401 - first: puts the layer's requests etc. on sys.path
from .auth import GenesysAuth
from .client import GenesysClient
from .config import Settings
from .credentials import Credentials, parse_secret
from .deadline import Deadline
from .errors import (
    AuthenticationError,
    ConfigurationError,
    GenesysAuthError,
    RateLimitedError,
    SecretError,
    UnavailableError,
)
from .logs import logger as _logger  # noqa: F401 - installs the NullHandler
from .provider import TokenProvider
from .regions import REGIONS, Endpoints, endpoints_for
from .retry_policy import RetryPolicy
from .stack import build_provider
from .tokens import Token, TokenState

__all__ = [
    "REGIONS",
    "AuthenticationError",
    "ConfigurationError",
    "Credentials",
    "Deadline",
    "Endpoints",
    "GenesysAuth",
    "GenesysAuthError",
    "GenesysClient",
    "RateLimitedError",
    "RetryPolicy",
    "SecretError",
    "Settings",
    "Token",
    "TokenProvider",
    "TokenState",
    "UnavailableError",
    "build_provider",
    "endpoints_for",
    "parse_secret",
]

__version__ = "0.1.0"
