"""Standalone run: ``python -m tests.harness.genesys_emulator --help``."""

from __future__ import annotations

import argparse
import signal
import threading
from types import FrameType

from .emulator import GenesysEmulator
from .model import RATE_LIMIT_SCOPES, WINDOW_SECONDS


def _parse_client_spec(spec: str) -> tuple[str, str, int, list[str]]:
    """``ID:SECRET[:LIFETIME[:PERM,PERM...]]``."""
    parts = spec.split(":", 3)
    if len(parts) < 2 or not parts[0] or not parts[1]:
        raise argparse.ArgumentTypeError(f"--client expects ID:SECRET[:LIFETIME[:PERMS]], got {spec!r}")
    lifetime = 86400
    if len(parts) >= 3 and parts[2]:
        try:
            lifetime = int(parts[2])
        except ValueError:
            raise argparse.ArgumentTypeError(f"bad LIFETIME in {spec!r}") from None
    perms = [p for p in parts[3].split(",") if p] if len(parts) == 4 else []
    return parts[0], parts[1], lifetime, perms


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tests.harness.genesys_emulator",
        description="Run the Genesys Cloud emulator until SIGINT/SIGTERM.",
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 = random free port")
    parser.add_argument(
        "--client",
        action="append",
        default=[],
        type=_parse_client_spec,
        metavar="ID:SECRET[:LIFETIME[:PERMS]]",
        help="register a client (repeatable); PERMS is a comma-separated permission list",
    )
    parser.add_argument("--token-rate-limit", type=int, default=None)
    parser.add_argument("--api-rate-limit", type=int, default=300)
    parser.add_argument("--api-rate-window", type=float, default=WINDOW_SECONDS, help="seconds (sliding window)")
    parser.add_argument("--rate-limit-scope", choices=RATE_LIMIT_SCOPES, default="token")
    parser.add_argument(
        "--revoke-tokens-on-regeneration",
        action="store_true",
        help="tokens do not survive a secret regeneration",
    )
    parser.add_argument("--verbose", action="store_true", help="log every request to stderr")
    args = parser.parse_args(argv)

    emulator = GenesysEmulator(
        host=args.host,
        port=args.port,
        token_rate_limit=args.token_rate_limit,
        api_rate_limit=args.api_rate_limit,
        api_rate_window=args.api_rate_window,
        rate_limit_scope=args.rate_limit_scope,
        tokens_survive_regeneration=not args.revoke_tokens_on_regeneration,
        verbose=args.verbose,
    )
    for client_id, secret, lifetime, perms in args.client:
        emulator.add_client(client_id, secret, lifetime=lifetime, permissions=perms)

    stop = threading.Event()

    def _on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGINT, _on_signal)
    signal.signal(signal.SIGTERM, _on_signal)
    emulator.start()
    try:
        print(f"GENESYS_EMULATOR_URL={emulator.url}", flush=True)
        while not stop.wait(0.5):
            pass
    finally:
        emulator.stop()
    return 0
