"""Short, one-way fingerprints used to correlate tokens in logs, metrics and the shared cache."""

from __future__ import annotations

import hashlib


def token_hash(value: str) -> str:
    """Full SHA-256 hex digest: compared in the shared cache, never reversible to the token."""
    return hashlib.sha256(value.encode("utf-8")).hexdigest()


def fingerprint(value: str) -> str:
    """First 12 hex digits of the hash: enough to tell tokens apart in a log line."""
    return token_hash(value)[:12]
