"""The test control plane under ``/__emulator/``: counters and every test hook over HTTP, never counted."""

from __future__ import annotations

import json
from collections.abc import Callable

from .clients import _ClientsMixin
from .limits import _LimitsMixin
from .model import Canned, JsonDict, _Response


class _ControlMixin(_ClientsMixin, _LimitsMixin):
    def _handle_control(self, method: str, path: str, body: bytes) -> _Response:
        if path == "/__emulator/counts" and method == "GET":
            return _Response(200, self.counts())
        if path == "/__emulator/health" and method == "GET":
            return _Response(200, {"ok": True})
        if path != "/__emulator/control" or method != "POST":
            return _Response(404, {"ok": False, "error": f"no control route {method} {path}"})
        try:
            payload = json.loads(body or b"{}")
        except json.JSONDecodeError as exc:
            return _Response(400, {"ok": False, "error": f"invalid JSON: {exc}"})
        if not isinstance(payload, dict) or not isinstance(payload.get("op"), str):
            return _Response(400, {"ok": False, "error": 'body must be {"op": "<name>", ...}'})
        op = payload.pop("op")
        handler = self._control_ops().get(op)
        if handler is None:
            return _Response(
                400,
                {
                    "ok": False,
                    "error": f"unknown op {op!r}",
                    "ops": sorted(self._control_ops()),
                },
            )
        try:
            result = handler(payload)
        except KeyError as exc:
            return _Response(404, {"ok": False, "error": str(exc.args[0] if exc.args else exc)})
        except (TypeError, ValueError) as exc:
            return _Response(400, {"ok": False, "error": str(exc)})
        return _Response(200, {"ok": True, "op": op, **result})

    def _control_ops(self) -> dict[str, Callable[[JsonDict], JsonDict]]:
        def add_client(kw: JsonDict) -> JsonDict:
            record = self.add_client(**kw)
            return {
                "client_id": record.client_id,
                "secret": record.secret,
                "name": record.name,
                "lifetime": record.lifetime,
                "state": record.state,
                "grant_type": record.grant_type,
                "permissions": sorted(record.permissions),
            }

        def set_survive(kw: JsonDict) -> JsonDict:
            value = kw.get("value", kw.get("tokens_survive_regeneration"))
            if not isinstance(value, bool):
                raise TypeError('set_tokens_survive_regeneration needs {"value": true|false}')
            self.tokens_survive_regeneration = value
            return {"tokens_survive_regeneration": value}

        def regenerate(kw: JsonDict) -> JsonDict:
            client_id = kw["client_id"]
            return {"client_id": client_id, "secret": self.regenerate_secret(client_id)}

        def revoke_client(kw: JsonDict) -> JsonDict:
            return {"revoked": self.revoke_client_tokens(**kw)}

        def revoke_token(kw: JsonDict) -> JsonDict:
            self.revoke_token(**kw)
            return {}

        def set_latency(kw: JsonDict) -> JsonDict:
            self.set_latency(**kw)
            return {}

        def fail_next(kw: JsonDict) -> JsonDict:
            self.fail_next(**kw)
            return {}

        def rate_limit_next(kw: JsonDict) -> JsonDict:
            self.rate_limit_next(**kw)
            return {}

        def set_api_rate_limit(kw: JsonDict) -> JsonDict:
            self.set_api_rate_limit(**kw)
            return {
                "limit": self.api_rate_limit,
                "window": self.api_rate_window,
                "scope": self.rate_limit_scope,
            }

        def script_next(kw: JsonDict) -> JsonDict:
            endpoint = kw.pop("endpoint", None)
            answers = kw.pop("answers", None)
            if kw or not isinstance(answers, list) or not all(isinstance(a, dict) for a in answers):
                raise TypeError('script_next needs {"endpoint": "token"|"api", "answers": [{Canned fields}, ...]}')
            self.script_next(endpoint, *(Canned(**answer) for answer in answers))
            return {"queued": len(answers)}

        def reset_counters(kw: JsonDict) -> JsonDict:
            self.reset_counters(**kw)
            return {}

        def reset_faults(kw: JsonDict) -> JsonDict:
            self.reset_faults(**kw)
            return {}

        def set_client_state(kw: JsonDict) -> JsonDict:
            self.set_client_state(**kw)
            return {}

        def expire_tokens(kw: JsonDict) -> JsonDict:
            return {"expired": self.expire_tokens(**kw)}

        def issued_tokens(kw: JsonDict) -> JsonDict:
            return {"tokens": self.issued_tokens(**kw)}

        def counts(kw: JsonDict) -> JsonDict:
            if kw:
                raise TypeError("counts takes no arguments")
            return {"counts": self.counts()}

        return {
            "add_client": add_client,
            "set_tokens_survive_regeneration": set_survive,
            "regenerate_secret": regenerate,
            "revoke_client_tokens": revoke_client,
            "revoke_token": revoke_token,
            "set_latency": set_latency,
            "fail_next": fail_next,
            "rate_limit_next": rate_limit_next,
            "set_api_rate_limit": set_api_rate_limit,
            "script_next": script_next,
            "reset_counters": reset_counters,
            "reset_faults": reset_faults,
            "set_client_state": set_client_state,
            "expire_tokens": expire_tokens,
            "issued_tokens": issued_tokens,
            "counts": counts,
        }
