"""``genesys-auth doctor``: every check between a configuration and a working token, in order.

:func:`run` returns a :class:`Report`, one :class:`Check` per line: configuration; the secret
(readable, its fields); the region and its login and API hosts (resolvable, reachable); the shared
table (exists, key schema, TTL) and its item (version, expiry, fingerprint, lease, pool slots); a
token (from the table, else minted) and ``GET /api/v2/tokens/me``; the genesys-token extension's
``/health``. On ``invalid_client``, ``scan_regions`` asks every other region's login host whether it
knows the client. Parts that are not configured (no table, no extension) are *skipped*: they do not
fail the run. A check that needs an earlier one that failed is skipped with "not checked: needs ...".

Inside Lambda, :func:`lambda_report` runs the same checks with the function's role and environment
and returns the JSON form. No check ever puts a secret or a token in its text; as a second line of
defence every value the doctor handled (client secret, tokens) is redacted from the report.
"""

from __future__ import annotations

import json
import os
import socket
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import requests

from .config import Settings
from .credentials import CURRENT, Credentials, parse_secret
from .deadline import Deadline, DeadlineLike, bound
from .diagnosis import DENIED, LoginProbe, aws_error_code, probe_login, secret_problem, table_problem
from .errors import AuthenticationError, ConfigurationError, GenesysAuthError, RateLimitedError, SecretError
from .inspection import ItemReader, ItemState, item_key, span, utc
from .regions import REGIONS, Endpoints, endpoints_for
from .tokens import Token

OK = "ok"
FAIL = "fail"
SKIPPED = "skipped"

#: Where the genesys-token extension's executable lives inside Lambda when its layer is attached.
EXTENSION_PATH = Path("/opt/extensions/genesys-token")
DEFAULT_TIMEOUT = 60.0
_REDACTED = "<redacted>"


@dataclass(frozen=True)
class Check:
    """One line of the report. ``fix`` says what to change when the check failed."""

    name: str
    status: str
    detail: str
    fix: str | None = None

    @property
    def ok(self) -> bool | None:
        """True passed, False failed, None skipped (not configured, or blocked by an earlier failure)."""
        return None if self.status == SKIPPED else self.status == OK

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "ok": self.ok, "status": self.status, "detail": self.detail, "fix": self.fix}


@dataclass(frozen=True)
class Report:
    checks: tuple[Check, ...]

    @property
    def ok(self) -> bool:
        return all(check.status != FAIL for check in self.checks)

    def check(self, name: str) -> Check | None:
        return next((check for check in self.checks if check.name == name), None)

    def to_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "checks": [check.to_dict() for check in self.checks]}


def run(
    *,
    deadline: DeadlineLike | None = None,
    scan_regions: bool = False,
    region_logins: Mapping[str, str] | None = None,
) -> Report:
    """Run every check against this process's environment (``os.environ``, the AWS credentials).

    ``region_logins`` (region key -> login base URL) replaces the 18 real login hosts of the scan;
    tests point it at emulators standing in for regions.
    """
    bound = Deadline.of(deadline, default=DEFAULT_TIMEOUT)
    logins = dict(region_logins) if region_logins is not None else default_region_logins()
    return _Doctor(bound, scan_regions=scan_regions, region_logins=logins).run()


def lambda_report(context: Any = None, *, scan_regions: bool = False) -> dict[str, Any]:
    """The doctor inside a function: the same checks, the function's role and configuration, as JSON."""
    return run(deadline=context, scan_regions=scan_regions).to_dict()


def default_region_logins() -> dict[str, str]:
    return {key: endpoints_for(key).login_url for key in REGIONS}


# -- the checks ------------------------------------------------------------------------------------


class _Doctor:
    def __init__(self, deadline: Deadline, *, scan_regions: bool, region_logins: dict[str, str]) -> None:
        self.deadline = deadline
        self.scan_regions = scan_regions
        self.region_logins = region_logins
        self.session = requests.Session()
        self.sensitive: set[str] = set()
        self.settings: Settings | None = None
        self.secret_text: str | None = None
        self.secret_read = False
        self.creds: Credentials | None = None
        self.endpoints: Endpoints | None = None
        self.table_usable = False
        self.table_token: Token | None = None
        self.token: Token | None = None
        self.token_source: str | None = None
        self.auth_error: str | None = None
        self._ddb: Any = None

    def run(self) -> Report:
        steps: list[tuple[str, Callable[[], Check | None]]] = [
            ("configuration", self.configuration),
            ("secret", self.secret),
            ("secret_fields", self.secret_fields),
            ("region", self.region),
            ("login_host", lambda: self.host("login_host", "login")),
            ("api_host", lambda: self.host("api_host", "api")),
            ("table", self.table),
            ("table_item", self.table_item),
            ("token", self.token_check),
            ("region_scan", self.region_scan),
            ("tokens_me", self.tokens_me),
            ("extension", self.extension),
        ]
        checks: list[Check] = []
        for name, step in steps:
            if self.deadline.expired():
                checks.append(
                    Check(
                        name,
                        FAIL,
                        "not checked, nor any check after it: out of time",
                        "give the doctor more time (--timeout, or the function's timeout)",
                    )
                )
                break
            try:
                result = step()
            except Exception as exc:  # a check must not take the report down with it
                result = Check(name, FAIL, f"the check itself failed ({type(exc).__name__}: {exc})")
            if result is not None:
                checks.append(result)
        return Report(tuple(self._redact(check) for check in checks))

    # each check returns its line, or None when it does not apply at all

    def configuration(self) -> Check:
        try:
            settings = Settings.from_env()
        except ConfigurationError as exc:
            return Check(
                "configuration",
                FAIL,
                str(exc),
                "set the GENESYS_* variables in the function's Environment (template.yaml) or your shell; "
                "README: Configuration",
            )
        import boto3

        aws_region = boto3.session.Session().region_name
        if not aws_region:
            return Check(
                "configuration",
                FAIL,
                "no AWS region: boto3 does not know where the secret and the table are",
                "set AWS_REGION (Lambda sets it for you)",
            )
        self.settings = settings
        parts = [f"secret {settings.secret_id}", f"AWS region {aws_region}"]
        if settings.login_url or settings.api_url:
            parts.append("URL overrides GENESYS_LOGIN_URL/GENESYS_API_URL")
        parts.append(f"GENESYS_REGION {settings.region}" if settings.region else "region from the secret")
        parts.append(f"table {settings.token_table}" if settings.token_table else "no shared table")
        parts.append(f"pool max {settings.pool_max}")
        if settings.token_kms_key:
            parts.append(f"tokens at rest sealed with {settings.token_kms_key}")
        parts.append(f"extension {settings.extension} (port {settings.extension_port})")
        return Check("configuration", OK, ", ".join(parts))

    def secret(self) -> Check:
        settings = self.settings
        if settings is None:
            return _blocked("secret", "a valid configuration")
        from botocore.exceptions import BotoCoreError, ClientError

        from .aws import AwsService

        try:
            answer = AwsService("secretsmanager", policy=settings.retry).call(
                "get_secret_value", self.deadline, SecretId=settings.secret_id, VersionStage=CURRENT
            )
        except (ClientError, BotoCoreError) as exc:
            detail, fix = secret_problem(*aws_error_code(exc), settings.secret_id)
            return Check("secret", FAIL, detail, fix)
        text = answer.get("SecretString")
        self.secret_read = True
        self.secret_text = text if isinstance(text, str) else None
        if self.secret_text:
            self.sensitive.add(self.secret_text)
        version = str(answer.get("VersionId") or "?")
        return Check("secret", OK, f"{settings.secret_id} readable (AWSCURRENT, version {version})")

    def secret_fields(self) -> Check:
        if not self.secret_read:
            return _blocked("secret_fields", "a readable secret")
        example = '{"client_id": "…", "client_secret": "…", "region": "mypurecloud.com"}'
        text = self.secret_text
        if not text:
            return Check(
                "secret_fields",
                FAIL,
                "the secret has no SecretString (a binary secret?)",
                f"store JSON text: {example}",
            )
        try:
            data = json.loads(text)
        except ValueError:
            return Check("secret_fields", FAIL, "the secret is not valid JSON", f"store a JSON object: {example}")
        if not isinstance(data, dict):
            return Check(
                "secret_fields", FAIL, "the secret is JSON but not an object", f"store a JSON object: {example}"
            )
        known = ("client_id", "client_secret", "region", "alternate_client_id")
        for name, value in data.items():
            if name not in {"client_id", "region"} and isinstance(value, str) and value:
                self.sensitive.add(value)
        present = [name for name in known if name in data]
        others = len(data) - len(present)
        listed = ", ".join(present) or "no known field"
        if others:
            listed += f" (+{others} other)"
        missing = [name for name in ("client_id", "client_secret") if name not in data]
        if missing:
            return Check(
                "secret_fields",
                FAIL,
                f"the secret is missing {' and '.join(missing)} (it has {listed})",
                f"add {' and '.join(repr(name) for name in missing)} to the secret: {example}",
            )
        try:
            self.creds = parse_secret(text, where="the secret")
        except SecretError as exc:
            return Check("secret_fields", FAIL, f"{exc} (it has {listed})", f"store {example}")
        return Check("secret_fields", OK, f"fields {listed}")

    def region(self) -> Check:
        settings = self.settings
        if settings is None:
            return _blocked("region", "a valid configuration")
        secret_region = self.creds.region if self.creds else None
        both = bool(settings.login_url and settings.api_url)
        if self.creds is None and not both and settings.region is None:
            return _blocked("region", "the secret's region (or GENESYS_REGION)")
        try:
            self.endpoints = settings.endpoints(secret_region)
        except ConfigurationError as exc:
            return Check(
                "region",
                FAIL,
                str(exc),
                'put "region" (for example "mypurecloud.ie") in the secret, or set GENESYS_REGION',
            )
        if both:
            where = "GENESYS_LOGIN_URL and GENESYS_API_URL"
        elif secret_region:
            where = f"region {secret_region} (from the secret)"
        else:
            where = f"region {settings.region} (GENESYS_REGION)"
        if self.creds is None and not both:
            where += "; the secret was not read, and its region would win"
        return Check("region", OK, f"{where} -> login {self.endpoints.login_url}, API {self.endpoints.api_url}")

    def host(self, name: str, which: str) -> Check:
        if self.endpoints is None:
            return _blocked(name, "the region's hosts")
        url = self.endpoints.login_url if which == "login" else self.endpoints.api_url
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = parts.port or (443 if parts.scheme == "https" else 80)
        label = host
        fix_route = (
            "a function in a VPC needs a route out (NAT gateway or proxy) and security-group egress on port "
            f"{port}; locally, check the network or proxy"
        )
        started = time.monotonic()
        try:
            addresses = _bounded(
                lambda: socket.getaddrinfo(host, port, type=socket.SOCK_STREAM), self.deadline.timeout(5.0)
            )
        except FutureTimeout:
            return Check(name, FAIL, f"{label}: DNS did not answer in time", "check the DNS resolver; " + fix_route)
        except socket.gaierror as exc:
            return Check(
                name,
                FAIL,
                f"{label} does not resolve ({exc.strerror})",
                "check the region's domain (a typo does not resolve) and DNS; " + fix_route,
            )
        family, kind, proto, _, address = addresses[0]
        try:
            with socket.socket(family, kind, proto) as sock:
                sock.settimeout(self.deadline.timeout(3.0))
                sock.connect(address)
        except OSError as exc:
            return Check(
                name,
                FAIL,
                f"{label} resolves to {address[0]} but port {port} does not accept connections ({type(exc).__name__})",
                fix_route,
            )
        elapsed = (time.monotonic() - started) * 1000
        return Check(name, OK, f"{label} resolves to {address[0]}, port {port} reachable ({elapsed:.0f} ms)")

    def _dynamodb(self) -> Any:
        if self._ddb is None:
            from .aws import AwsService

            self._ddb = AwsService("dynamodb", retries=False)
        return self._ddb

    def table(self) -> Check:
        settings = self.settings
        if settings is None:
            return _blocked("table", "a valid configuration")
        table = settings.token_table
        if not table:
            return Check("table", SKIPPED, "no shared table (GENESYS_TOKEN_TABLE is not set): tokens stay in memory")
        from botocore.exceptions import BotoCoreError, ClientError

        ddb = self._dynamodb()
        try:
            description = ddb.call("describe_table", self.deadline, TableName=table)["Table"]
        except (ClientError, BotoCoreError) as exc:
            code, message = aws_error_code(exc)
            if code in DENIED:
                self.table_usable = True  # the item read below tells whether the function can use it
                return Check(
                    "table",
                    SKIPPED,
                    f"schema of {table} not checked: the role may not dynamodb:DescribeTable (the function does not need it)",
                )
            detail, fix = table_problem(code, message, table, "DescribeTable")
            return Check("table", FAIL, detail, fix)
        self.table_usable = True
        keys = [(k.get("AttributeName"), k.get("KeyType")) for k in description.get("KeySchema", [])]
        types = {a.get("AttributeName"): a.get("AttributeType") for a in description.get("AttributeDefinitions", [])}
        if keys != [("pk", "HASH")] or types.get("pk") != "S":
            schema = ", ".join(f"{n} ({types.get(n, '?')}, {t})" for n, t in keys)
            self.table_usable = False
            return Check(
                "table",
                FAIL,
                f"{table} has the key schema {schema}; the cache needs one partition key pk of type S",
                "recreate the table with the template's TokenTable schema (partition key pk, type S, no sort key)",
            )
        status = description.get("TableStatus", "?")
        try:
            ttl = ddb.call("describe_time_to_live", self.deadline, TableName=table).get("TimeToLiveDescription", {})
        except (ClientError, BotoCoreError):
            return Check("table", OK, f"{table} exists ({status}), key pk (S); TTL not checked (no permission)")
        ttl_status, ttl_name = ttl.get("TimeToLiveStatus", "DISABLED"), ttl.get("AttributeName")
        if ttl_status not in ("ENABLED", "ENABLING") or ttl_name != "ttl":
            on = f" on {ttl_name}" if ttl_name else ""
            return Check(
                "table",
                FAIL,
                f"{table} exists, key pk (S), but TTL is {ttl_status}{on}: expired items are never removed",
                f"aws dynamodb update-time-to-live --table-name {table} "
                "--time-to-live-specification Enabled=true,AttributeName=ttl",
            )
        return Check("table", OK, f"{table} exists ({status}), key pk (S), TTL on ttl")

    def table_item(self) -> Check | None:
        settings = self.settings
        if settings is None or not settings.token_table:
            return None  # the table line already says why
        table = settings.token_table
        if not self.table_usable:
            return _blocked("table_item", "a usable table")
        from botocore.exceptions import BotoCoreError, ClientError

        reader = ItemReader(table, settings.secret_id, aws=self._dynamodb())
        try:
            item = reader.read(self.deadline)
            pool = reader.pool(self.deadline, item.slots if item else None)
        except (ClientError, BotoCoreError) as exc:
            detail, fix = table_problem(*aws_error_code(exc), table, "GetItem")
            return Check("table_item", FAIL, detail, fix)
        now = time.time()
        key = item_key(settings.secret_id)
        detail = f"{key}: {item.describe(now)}" if item else f"{key}: no item yet (the first call creates it)"
        if pool:
            # Secret names cannot contain "#", so the key's last "#" part is the slot number.
            detail += f"; pool: {len(pool)} more slot(s): " + "; ".join(
                f"#{slot.key.rsplit('#', 1)[-1]} {slot.describe(now)}" for slot in pool
            )
        if item is not None and item.has_valid_token(now):
            if item.sealed and not settings.token_kms_key:
                return Check(
                    "table_item",
                    FAIL,
                    f"{detail}. The token is sealed with KMS, but GENESYS_TOKEN_KMS_KEY is not set here: "
                    "this function cannot read it and mints its own",
                    "set GENESYS_TOKEN_KMS_KEY to the key the other functions of this table use",
                )
            from .dynamodb import StoreUnavailable

            try:
                self.table_token = self._stored_token(table, settings)
            except StoreUnavailable as exc:
                return Check(
                    "table_item",
                    FAIL,
                    f"{detail}. The sealed token cannot be decrypted ({exc.reason})",
                    f"grant kms:Decrypt and kms:Encrypt on {settings.token_kms_key} to the role (and allow it in "
                    "the key policy), or point GENESYS_TOKEN_KMS_KEY at the key the table's tokens are sealed with",
                )
        dead = [state for state in ([item] if item else []) + pool if _dead_holder(state, now)]
        if dead:
            owners = ", ".join(str(state.owner) for state in dead)
            return Check(
                "table_item",
                FAIL,
                f"{detail}. A lease lapsed without a token: its holder ({owners}) died or timed out while minting",
                "calls recover (the next caller takes the lapsed lease over; `genesys-auth token` does it now), "
                "but find why that container stopped: look for a timeout or crash in the function's logs and keep "
                "the function timeout above the lease (3-15 s)",
            )
        return Check("table_item", OK, detail)

    def _stored_token(self, table: str, settings: Settings) -> Token | None:
        """The stored token through the library's own reader (it knows how tokens are kept at rest:
        a KMS-sealed one is decrypted with GENESYS_TOKEN_KMS_KEY). Raises StoreUnavailable."""
        from .dynamodb import DynamoTokenStore

        sealer = None
        if settings.token_kms_key:
            from .sealing import Sealer

            sealer = Sealer(settings.token_kms_key)
        with bound(self.deadline):  # the store's calls take the bound deadline
            record = DynamoTokenStore(table, settings.secret_id, sealer=sealer).load()
        token = record.token if record else None
        if token is None or token.remaining() <= 0:
            return None
        self.sensitive.add(token.access_token)
        return token

    def token_check(self) -> Check:
        if self.table_token is not None:
            token = self.table_token
            self.token, self.token_source = token, "table"
            return Check(
                "token",
                OK,
                f"found in the table: fp={token.fingerprint}, version {token.version}, expires {utc(token.expires_at)} "
                f"(in {span(token.remaining())} of {span(token.lifetime)}); no mint needed",
            )
        settings = self.settings
        if settings is None or self.creds is None or self.endpoints is None:
            return _blocked("token", "the secret's fields and the region")
        from .oauth import request_token

        creds, endpoints = self.creds, self.endpoints
        try:
            token = request_token(self.session, endpoints.token_url, creds, self.deadline, settings.retry)
        except AuthenticationError as exc:
            self.auth_error = exc.error
            return self._refused(exc, creds, endpoints)
        except RateLimitedError:
            return Check(
                "token",
                FAIL,
                f"{endpoints.login_url} rate-limits client {creds.client_id} (too many token requests)",
                "wait a minute; set GENESYS_TOKEN_TABLE so that every container shares one token instead of minting its own",
            )
        except GenesysAuthError as exc:
            return Check(
                "token", FAIL, f"no token from {endpoints.login_url}: {exc}", "check the login host line above; retry"
            )
        self.sensitive.add(token.access_token)
        self.token, self.token_source = token, "mint"
        return Check(
            "token",
            OK,
            f"minted for client {creds.client_id}: fp={token.fingerprint}, lifetime {span(token.lifetime)}, "
            f"expires {utc(token.expires_at)} (not written to the table)",
        )

    def _refused(self, exc: AuthenticationError, creds: Credentials, endpoints: Endpoints) -> Check:
        host = urlsplit(endpoints.login_url).hostname or endpoints.login_url
        client = creds.client_id
        if exc.error == "unauthorized_client":
            return Check(
                "token",
                FAIL,
                f"{host} refused client {client}: unauthorized_client (the Client Credentials grant is not enabled)",
                "edit the OAuth client in Admin > Integrations > OAuth: Grant Types = Client Credentials",
            )
        if exc.error != "invalid_client":
            return Check("token", FAIL, f"{host} refused client {client}: {exc.error or exc}", "check the OAuth client")
        # Genesys says "client not found" for an id it does not know and "authentication failed" for a
        # known client whose secret or state is wrong: one more request tells the two apart.
        probe = probe_login(self.session, endpoints.login_url, creds, self.deadline)
        if probe.access_token:
            self.sensitive.add(probe.access_token)
        scan = "run `genesys-auth doctor --scan-regions` to find the client's region (it sends the credentials to each region's login host)"
        if probe.knows_client:
            return Check(
                "token",
                FAIL,
                f"{host} refused client {client} (invalid_client: {probe.description or 'authentication failed'}): "
                "the client exists in this region, but it is disabled or inactive, or client_secret is not its current secret",
                "in Admin > Integrations > OAuth check that the client is active; if its secret was regenerated, put "
                f"the new one in the secret; if the client belongs to another region, {scan}",
            )
        return Check(
            "token",
            FAIL,
            f"{host} does not know client {client} (invalid_client: {probe.description or 'client not found'}): "
            "a client exists in one region only, so the region is wrong, or the client was deleted",
            scan + ', then set "region" in the secret',
        )

    def region_scan(self) -> Check | None:
        if self.auth_error != "invalid_client" or self.creds is None or self.endpoints is None:
            return None
        if not self.scan_regions:
            return None  # the token line's fix names the flag; the scan sends the credentials abroad
        creds, configured = self.creds, self.endpoints.login_url.rstrip("/")
        targets = {key: url for key, url in self.region_logins.items() if url.rstrip("/") != configured}
        results = self._probe_all(targets, creds)
        accepted = [key for key, probe in results.items() if probe.accepted]
        known = [key for key, probe in results.items() if probe.knows_client and not probe.accepted]
        unreachable = sum(1 for probe in results.values() if probe.status is None)
        asked = f"{len(targets)} other login hosts asked" + (f", {unreachable} unreachable" if unreachable else "")
        if accepted:
            key = accepted[0]
            domain = REGIONS.get(key, key)
            overrides = self.settings is not None and bool(self.settings.login_url or self.settings.api_url)
            unset = " and remove GENESYS_LOGIN_URL/GENESYS_API_URL" if overrides else ""
            return Check(
                "region_scan",
                FAIL,
                f"client {creds.client_id} exists in {_region_label(key)}: its login host accepted these credentials ({asked})",
                f'set "region": "{domain}" in the secret (or GENESYS_REGION={domain} when the secret has no region){unset}',
            )
        if known:
            labels = ", ".join(_region_label(key) for key in known)
            return Check(
                "region_scan",
                FAIL,
                f"client {creds.client_id} is known in {labels}, but its secret was refused there too ({asked})",
                'if that is its region, set "region" in the secret to it and put the client\'s current secret in the secret',
            )
        return Check(
            "region_scan",
            FAIL,
            f"no other region knows client {creds.client_id} ({asked})",
            "check client_id in the secret against Admin > Integrations > OAuth; the client may have been deleted",
        )

    def _probe_all(self, targets: dict[str, str], creds: Credentials) -> dict[str, LoginProbe]:
        if not targets:
            return {}
        with ThreadPoolExecutor(max_workers=min(6, len(targets)), thread_name_prefix="doctor-scan") as pool:
            futures = {
                key: pool.submit(probe_login, self.session, url, creds, self.deadline) for key, url in targets.items()
            }
            results = {}
            for key, future in futures.items():
                try:
                    results[key] = future.result(timeout=self.deadline.remaining() + 1.0)
                except FutureTimeout:
                    results[key] = LoginProbe(status=None, failure="timeout")
        for probe in results.values():
            if probe.access_token:
                self.sensitive.add(probe.access_token)
        return results

    def tokens_me(self) -> Check:
        token = self.token
        if token is None:
            return _blocked("tokens_me", "a token")
        api = (self.endpoints.api_url if self.endpoints else None) or token.api_url
        if api is None:
            return _blocked("tokens_me", "the API host")
        url = api.rstrip("/") + "/api/v2/tokens/me"
        try:
            response = self.session.get(
                url,
                headers={"Authorization": f"Bearer {token.access_token}", "Accept": "application/json"},
                timeout=(self.deadline.timeout(3.05), self.deadline.timeout(10.0)),
            )
        except requests.RequestException as exc:
            return Check(
                "tokens_me", FAIL, f"GET {url}: no answer ({type(exc).__name__})", "check the API host line above"
            )
        with response:
            try:
                body = response.json()
            except ValueError:
                body = None
        body = body if isinstance(body, dict) else {}
        if response.status_code == 401:
            code = body.get("code") or "unauthorized"
            if self.token_source == "table":  # noqa: S105 - a source name, not a password
                fix = (
                    "the table's token was revoked or its client disabled: `genesys-auth cache invalidate` forgets it "
                    "(functions do the same on their next 401), then run the doctor again to test a fresh mint"
                )
            else:
                fix = "a freshly minted token that is refused means the OAuth client was disabled: activate it in Admin > Integrations > OAuth"
            return Check(
                "tokens_me",
                FAIL,
                f"Genesys refused the {self.token_source} token fp={token.fingerprint} (401 {code})",
                fix,
            )
        if response.status_code != 200:
            code = body.get("code") or ""
            return Check(
                "tokens_me",
                FAIL,
                f"GET /api/v2/tokens/me answered HTTP {response.status_code} {code}".rstrip(),
                "check the API host (GENESYS_API_URL or the region)",
            )
        org = _object(body.get("organization"))
        oauth = _object(body.get("OAuthClient"))
        detail = (
            f"organization {org.get('name', '?')} ({org.get('id', '?')}), "
            f"OAuth client {oauth.get('name', '?')} ({oauth.get('id', '?')})"
        )
        if self.creds is not None and oauth.get("id") and oauth.get("id") != self.creds.client_id:
            detail += f"; the secret now names client {self.creds.client_id} (this token predates a rotation)"
        return Check("tokens_me", OK, detail)

    def extension(self) -> Check:
        settings = self.settings
        if settings is None:
            return _blocked("extension", "a valid configuration")
        in_lambda = bool(os.environ.get("AWS_LAMBDA_RUNTIME_API"))
        if settings.extension == "off":
            return Check("extension", SKIPPED, "not used (GENESYS_TOKEN_EXTENSION=off)")
        if settings.extension == "auto" and not in_lambda:
            return Check(
                "extension",
                SKIPPED,
                "not used outside Lambda (GENESYS_TOKEN_EXTENSION=auto); set it to on to check a local extension",
            )
        port = settings.extension_port
        url = f"http://127.0.0.1:{port}/health"
        session = requests.Session()
        session.trust_env = False  # localhost must never go through a proxy
        try:
            response = session.get(url, timeout=(self.deadline.timeout(0.5), self.deadline.timeout(2.0)))
        except requests.RequestException as exc:
            if settings.extension == "auto" and not EXTENSION_PATH.exists():
                return Check(
                    "extension", SKIPPED, "the genesys-token layer is not attached (no /opt/extensions/genesys-token)"
                )
            return Check(
                "extension",
                FAIL,
                f"genesys-token is not answering on 127.0.0.1:{port} ({type(exc).__name__}); the library works in-process meanwhile",
                "in Lambda: attach the ExtensionLayerArn layer and look for [genesys-token] lines in the function's log "
                "(a failed start is reported there); give the library and the extension the same "
                "GENESYS_TOKEN_EXTENSION_PORT; or set GENESYS_TOKEN_EXTENSION=off",
            )
        with response:
            try:
                body = response.json()
            except ValueError:
                body = None
        if response.status_code != 200 or not isinstance(body, dict) or body.get("ready") is not True:
            return Check(
                "extension",
                FAIL,
                f"127.0.0.1:{port}/health answered HTTP {response.status_code} without ready: another program holds the port?",
                "give genesys-token a free port with GENESYS_TOKEN_EXTENSION_PORT (the same for the library)",
            )
        return Check("extension", OK, f"genesys-token ready on 127.0.0.1:{port}, token {body.get('token', '?')}")

    def _redact(self, check: Check) -> Check:
        values = sorted((value for value in self.sensitive if len(value) >= 8), key=len, reverse=True)

        def clean(text: str | None) -> str | None:
            if text is None:
                return None
            for value in values:
                text = text.replace(value, _REDACTED)
            return text

        return Check(check.name, check.status, clean(check.detail) or "", clean(check.fix))


def _object(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _blocked(name: str, needs: str) -> Check:
    return Check(name, SKIPPED, f"not checked: needs {needs}")


def _dead_holder(state: ItemState, now: float) -> bool:
    return state.lease(now) == "lapsed" and not state.has_valid_token(now)


def _region_label(key: str) -> str:
    return f"{key} ({REGIONS[key]})" if key in REGIONS else key


def _bounded(call: Callable[[], Any], timeout: float) -> Any:
    """Run a call that has no timeout of its own (getaddrinfo) in a thread, waiting at most ``timeout``."""
    pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="doctor-dns")
    try:
        return pool.submit(call).result(timeout=timeout)
    finally:
        pool.shutdown(wait=False)
