"""The Platform API host: bearer authentication, the per-token limit, and the emulated routes."""

from __future__ import annotations

import math
import time
import uuid
from email.message import Message

from .answers import (
    MSG_AUTH_REQUIRED,
    MSG_BAD_CREDENTIALS,
    _bad_request,
    _missing_permission,
    _not_found,
    _platform_error,
    _server_error,
    _too_many_requests,
)
from .clients import _ClientsMixin
from .limits import _LimitsMixin
from .model import (
    DEFAULT_PAGE_SIZE,
    EDIT_PERMISSION,
    MAX_PAGE_SIZE,
    ORG_ID,
    ORG_NAME,
    QUEUE_COUNT,
    VIEW_PERMISSION,
    JsonDict,
    OAuthClient,
    _bump,
    _Response,
    _Token,
)


class _ApiMixin(_ClientsMixin, _LimitsMixin):
    def _handle_api(
        self,
        method: str,
        path: str,
        query: dict[str, list[str]],
        headers: Message[str, str],
    ) -> _Response:
        with self._lock:
            counters = self._counters["api"]
            counters["requests"] += 1
            _bump(counters["by_path"], path)
            response = self._api_answer_locked(method, path, query, headers)
            _bump(counters["status"], str(response.status))
            return response

    def _api_answer_locked(
        self,
        method: str,
        path: str,
        query: dict[str, list[str]],
        headers: Message[str, str],
    ) -> _Response:
        if self._fail_next["api"]:
            return _server_error(self._fail_next["api"].popleft())
        if self._rate_limit_next["api"]:
            return _too_many_requests(self._rate_limit_next["api"].popleft())

        bearer = _parse_bearer(headers.get("Authorization"))
        if bearer is None:
            return _platform_error(401, "authentication.required", MSG_AUTH_REQUIRED)
        now = time.time()
        token = self._tokens.get(bearer)
        record = self._clients.get(token.client_id) if token is not None else None
        if token is None or record is None or token.revoked or now >= token.expires_at or record.state == "disabled":
            return _platform_error(401, "bad.credentials", MSG_BAD_CREDENTIALS)

        limited, rate_headers = self._admit_api_request_locked(token, record, now)
        if limited is not None:
            return limited
        per_client = self._counters["api"]["by_client"].setdefault(record.client_id, {"requests": 0})
        per_client["requests"] += 1

        response = self._route_locked(method, path, query, token, record)
        response.headers.update(rate_headers)
        return response

    def _route_locked(
        self,
        method: str,
        path: str,
        query: dict[str, list[str]],
        token: _Token,
        record: OAuthClient,
    ) -> _Response:
        segments = [s for s in path.split("/") if s]
        if path.rstrip("/") == "/api/v2/organizations/me" and method == "GET":
            return _Response(200, self._organization())
        if path.rstrip("/") == "/api/v2/tokens/me":
            if method in ("GET", "HEAD"):
                body = None if method == "HEAD" else self._token_info(record)
                return _Response(200, body)
            if method == "DELETE":
                token.revoked = True
                return _Response(204)
        if path.rstrip("/") == "/api/v2/routing/queues" and method == "GET":
            return _queues_page(query)
        if segments[:3] == ["api", "v2", "oauth"] and len(segments) >= 5 and segments[3] == "clients":
            target_id = segments[4]
            if len(segments) == 5 and method == "GET":
                if not record.permissions & {VIEW_PERMISSION, EDIT_PERMISSION}:
                    return _missing_permission(VIEW_PERMISSION)
                target = self._clients.get(target_id)
                if target is None:
                    return _not_found(f"OAuth client {target_id} not found")
                return _Response(200, target.to_api(include_secret=False))
            if len(segments) == 6 and segments[5] == "secret" and method == "POST":
                if EDIT_PERMISSION not in record.permissions:
                    return _missing_permission(EDIT_PERMISSION)
                if target_id not in self._clients:
                    return _not_found(f"OAuth client {target_id} not found")
                self._regenerate_locked(target_id)
                return _Response(200, self._clients[target_id].to_api(include_secret=True))
        return _not_found("The requested resource was not found.")

    def _organization(self) -> JsonDict:
        return {
            "id": ORG_ID,
            "name": ORG_NAME,
            "defaultLanguage": "en-us",
            "defaultCountryCode": "US",
            "thirdPartyOrgName": "emulated-org",
            "domain": "emulated",
            "version": 1,
            "state": "active",
            "defaultSiteId": "",
            "deletable": False,
            "selfUri": f"/api/v2/organizations/{ORG_ID}",
        }

    def _token_info(self, record: OAuthClient) -> JsonDict:
        org = {
            "id": record.org_id,
            "name": record.org_name,
            "selfUri": f"/api/v2/organizations/{record.org_id}",
        }
        return {
            "organization": dict(org),
            "homeOrganization": dict(org),
            "authorizedScope": [],
            "OAuthClient": {
                "id": record.client_id,
                "name": record.name,
                "dateCreated": record.date_created,
                "authorizedGrantType": record.grant_type.upper(),
                "scope": [],
                "roleDivisions": [],
                "state": record.state,
                "organization": {"id": record.org_id},
                "selfUri": f"/api/v2/oauth/clients/{record.client_id}",
            },
        }


def _parse_bearer(header: str | None) -> str | None:
    if not header:
        return None
    scheme, _, value = header.strip().partition(" ")
    value = value.strip()
    if scheme.lower() != "bearer" or not value:
        return None
    return value


def _queue_entities() -> list[JsonDict]:
    namespace = uuid.UUID("0b5c4a6e-6a57-4c7e-9d3e-2f0e8f3c1a00")
    return [
        {
            "id": str(uuid.uuid5(namespace, f"queue-{i}")),
            "name": f"Emulated Queue {i:03d}",
            "selfUri": f"/api/v2/routing/queues/{uuid.uuid5(namespace, f'queue-{i}')}",
        }
        for i in range(1, QUEUE_COUNT + 1)
    ]


QUEUES: tuple[JsonDict, ...] = tuple(_queue_entities())


def _queues_page(query: dict[str, list[str]]) -> _Response:
    def int_param(name: str, default: int) -> int | None:
        values = query.get(name)
        if not values or values[0] == "":
            return default
        try:
            return int(values[0])
        except ValueError:
            return None

    page_size = int_param("pageSize", DEFAULT_PAGE_SIZE)
    page_number = int_param("pageNumber", 1)
    if page_size is None or not 1 <= page_size <= MAX_PAGE_SIZE:
        return _bad_request(f"The pageSize must be between 1 and {MAX_PAGE_SIZE}.")
    if page_number is None or page_number < 1:
        return _bad_request("The pageNumber must be a positive integer.")
    total = len(QUEUES)
    page_count = math.ceil(total / page_size)
    start = (page_number - 1) * page_size
    entities = [dict(q) for q in QUEUES[start : start + page_size]]

    def uri(number: int) -> str:
        return f"/api/v2/routing/queues?pageSize={page_size}&pageNumber={number}"

    body: JsonDict = {
        "entities": entities,
        "pageSize": page_size,
        "pageNumber": page_number,
        "total": total,
        "pageCount": page_count,
        "firstUri": uri(1),
        "selfUri": uri(page_number),
        "lastUri": uri(page_count),
    }
    if page_number < page_count:
        body["nextUri"] = uri(page_number + 1)
    if page_number > 1:
        body["previousUri"] = uri(page_number - 1)
    return _Response(200, body)
