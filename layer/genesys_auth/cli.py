"""``genesys-auth``: doctor, token and cache, from a shell (``python -m genesys_auth`` too).

    genesys-auth doctor [--json] [--scan-regions] [--timeout S]
    genesys-auth token [--show] [--json]
    genesys-auth cache show [--json]
    genesys-auth cache invalidate [--json]

Exit codes: 0 when everything passed, 1 when a check or the command failed, 2 for bad usage. Only
``token --show`` prints a token; nothing prints a secret. This module parses arguments and prints;
the work is in :mod:`genesys_auth.doctor` and :mod:`genesys_auth.inspection`.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Mapping, Sequence
from typing import Any, TextIO

from .deadline import Deadline
from .doctor import DEFAULT_TIMEOUT, FAIL, OK, Report
from .errors import GenesysAuthError

LABELS = {
    "configuration": "configuration",
    "secret": "secret readable",
    "secret_fields": "secret fields",
    "region": "region",
    "login_host": "login host",
    "api_host": "API host",
    "table": "shared table",
    "table_item": "table item",
    "token": "token",
    "region_scan": "region scan",
    "tokens_me": "GET /api/v2/tokens/me",
    "extension": "extension",
}


def main(
    argv: Sequence[str] | None = None,
    *,
    out: TextIO | None = None,
    region_logins: Mapping[str, str] | None = None,
) -> int:
    """Entry point of the console script. ``region_logins`` is the doctor's scan seam (tests)."""
    stream = out or sys.stdout
    args = _parser().parse_args(argv)
    try:
        if args.command == "doctor":
            return _doctor(args, stream, region_logins)
        if args.command == "token":
            return _token(args, stream)
        return _cache(args, stream)
    except GenesysAuthError as exc:
        _emit(stream, args, {"ok": False, "error": exc.kind, "message": str(exc)}, f"error ({exc.kind}): {exc}")
        return 1


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="genesys-auth",
        description="Diagnose and inspect Genesys Cloud tokens for this environment (GENESYS_* variables, AWS credentials).",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="{doctor,token,cache}")

    doctor = commands.add_parser("doctor", help="run every check in order, one line each, with the fix on failure")
    doctor.add_argument("--json", action="store_true", help='print {"ok": bool, "checks": [...]} instead of lines')
    doctor.add_argument(
        "--scan-regions",
        action="store_true",
        help="on invalid_client, ask every other region's login host for the client (sends the credentials there)",
    )
    doctor.add_argument("--timeout", type=_seconds, default=DEFAULT_TIMEOUT, help="bound on the whole run (s)")

    token = commands.add_parser("token", help="a token as the functions get it: fingerprint, expiry, source")
    token.add_argument(
        "--show", action="store_true", help="also print the token itself (for curl); never shown otherwise"
    )
    token.add_argument("--json", action="store_true", help="print JSON")
    token.add_argument("--timeout", type=_seconds, default=30.0, help="bound on the wait for a token (s)")

    cache = commands.add_parser("cache", help="the shared token items in DynamoDB")
    actions = cache.add_subparsers(dest="action", required=True, metavar="{show,invalidate}")
    for name, text in (
        ("show", "the item and its pool slots: version, fingerprint, expiry, lease"),
        ("invalidate", "forget the stored token (compare-and-delete, as after a 401)"),
    ):
        action = actions.add_parser(name, help=text)
        action.add_argument("--json", action="store_true", help="print JSON")
    return parser


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError("must be a number of seconds") from None
    if value <= 0:
        raise argparse.ArgumentTypeError("must be positive")
    return value


def _marks(stream: TextIO) -> dict[str, str]:
    encoding = getattr(stream, "encoding", None)  # None: a text buffer (StringIO), any character goes
    try:
        "✓✗–".encode(encoding or "utf-8")
    except (UnicodeEncodeError, LookupError):
        return {OK: "[ok]", FAIL: "[FAIL]", "skipped": "[skip]"}
    return {OK: "✓", FAIL: "✗", "skipped": "–"}


def render(report: Report, stream: TextIO) -> None:
    marks = _marks(stream)
    for check in report.checks:
        label = LABELS.get(check.name, check.name)
        suffix = " (skipped)" if check.status == "skipped" else ""
        print(f"{marks[check.status]} {label}: {check.detail}{suffix}", file=stream)
        if check.status == FAIL and check.fix:
            print(f"    fix: {check.fix}", file=stream)
    failed = sum(1 for check in report.checks if check.status == FAIL)
    skipped = sum(1 for check in report.checks if check.status == "skipped")
    passed = len(report.checks) - failed - skipped
    verdict = "all checks passed" if report.ok else f"{failed} check(s) failed"
    print(f"{verdict} ({passed} passed, {failed} failed, {skipped} skipped)", file=stream)


def _doctor(args: argparse.Namespace, stream: TextIO, region_logins: Mapping[str, str] | None) -> int:
    from . import doctor

    report = doctor.run(
        deadline=Deadline.after(args.timeout), scan_regions=args.scan_regions, region_logins=region_logins
    )
    if args.json:
        print(json.dumps(report.to_dict(), indent=2), file=stream)
    else:
        render(report, stream)
    return 0 if report.ok else 1


def _token(args: argparse.Namespace, stream: TextIO) -> int:
    from .config import Settings
    from .inspection import token_status
    from .stack import build_provider

    status = token_status(build_provider(Settings.from_env()), Deadline.after(args.timeout))
    if args.json:
        print(json.dumps(status.to_dict(show=args.show), indent=2), file=stream)
    elif args.show:
        print(status.token.access_token, file=stream)  # alone on stdout: TOKEN=$(genesys-auth token --show)
    else:
        print(status.describe(), file=stream)
    return 0


def _cache(args: argparse.Namespace, stream: TextIO) -> int:
    from botocore.exceptions import BotoCoreError, ClientError

    from .config import Settings
    from .diagnosis import aws_error_code, table_problem
    from .inspection import cache_view, invalidate_current

    settings = Settings.from_env()
    deadline = Deadline.after(30.0)
    try:
        if args.action == "invalidate":
            results = invalidate_current(settings, deadline)
            data = {"ok": True, "slots": [result.to_dict() for result in results]}
            _emit(stream, args, data, "\n".join(result.describe() for result in results))
            return 0
        view = cache_view(settings, deadline)
    except (ClientError, BotoCoreError) as exc:
        detail, fix = table_problem(*aws_error_code(exc), settings.token_table or "?", "GetItem")
        _emit(
            stream,
            args,
            {"ok": False, "error": "unavailable", "message": detail, "fix": fix},
            f"error: {detail}\n    fix: {fix}",
        )
        return 1
    if args.json:
        print(json.dumps({"ok": True, **view.to_dict()}, indent=2), file=stream)
        return 0
    import time

    now = time.time()
    print(f"table {view.table}", file=stream)
    print(f"  {view.key}: {view.item.describe(now) if view.item else 'no item'}", file=stream)
    for slot in view.pool:
        print(f"  {slot.key}: {slot.describe(now)}", file=stream)
    if not view.pool:
        print("  no pool slots", file=stream)
    return 0


def _emit(stream: TextIO, args: argparse.Namespace, data: dict[str, Any], text: str) -> None:
    if getattr(args, "json", False):
        print(json.dumps(data, indent=2), file=stream)
    else:
        print(text, file=stream)
