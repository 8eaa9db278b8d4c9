"""The ``genesys-token`` external extension: its lifecycle (started by ``extensions/genesys-token``).

1. Build the client (``genesys_auth``, never using the extension itself) and bind the HTTP server
   on 127.0.0.1 *before* registering: Lambda starts the runtime's init as soon as every extension
   has registered, so function init code can already call us.
2. ``register`` for INVOKE and SHUTDOWN.
3. Load or mint the token during INIT (the shared DynamoDB tier when ``GENESYS_TOKEN_TABLE`` is set).
4. Loop on ``event/next``: after each INVOKE, refresh ahead if the token is in its advisory
   window *before* asking for the next event (nothing runs while the sandbox is frozen, and the
   caller has its still valid token already); on SHUTDOWN stop the server and exit at once.

Failures before the loop are reported through ``/extension/init/error``, unexpected ones in it
through ``/extension/exit/error``. Logs carry fingerprints only.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import time
from types import FrameType

from genesys_auth import GenesysAuthError, Settings, build_provider
from genesys_auth.deadline import Deadline

from .lambda_api import ExtensionsApi, ExtensionsApiError
from .server import TokenServer, TokenService

log = logging.getLogger("genesys_token")

#: Seconds the INIT-time token fetch may take (Lambda's whole INIT phase has 10 s).
INIT_FETCH_SECONDS = 6.0


def _on_sigterm(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(0)


def main(argv: list[str]) -> int:
    started = time.monotonic()
    name = argv[1] if len(argv) > 1 else "genesys-token"
    logging.basicConfig(
        level=os.environ.get("GENESYS_TOKEN_EXTENSION_LOG_LEVEL", "INFO").upper(),
        stream=sys.stderr,
        format=f"[{name}] %(levelname)s %(name)s: %(message)s",
    )
    signal.signal(signal.SIGTERM, _on_sigterm)
    api = ExtensionsApi(os.environ["AWS_LAMBDA_RUNTIME_API"], name)

    try:
        settings = Settings.from_env()
        service = TokenService(build_provider(settings, use_extension=False))
        server = TokenServer(
            settings.extension_port,
            service,
            os.environ.get("AWS_SESSION_TOKEN", ""),
            max_wait=settings.max_wait,
        )
    except GenesysAuthError as exc:
        return _fail_init(api, "ConfigurationError", str(exc))
    except OSError as exc:
        return _fail_init(api, "PortUnavailable", f"cannot listen on 127.0.0.1: {exc.strerror}")
    server.start()
    log.info("listening on 127.0.0.1:%d", server.server_address[1])

    try:
        api.register()
    except (ExtensionsApiError, OSError) as exc:
        log.error("register failed: %s", exc)
        server.stop()
        return 1
    log.info("registered after %.0f ms", (time.monotonic() - started) * 1000)

    try:
        token = service.provider.token(Deadline.after(min(INIT_FETCH_SECONDS, settings.max_wait)))
        log.info(
            "token fp=%s ready during INIT (source %s, %.0fs left)",
            token.fingerprint,
            service.provider.source.name,
            token.remaining(),
        )
    except GenesysAuthError as exc:  # not fatal: callers get it on demand, or the error then
        log.warning("no token during INIT (%s: %s); will retry on demand", exc.kind, exc)

    try:
        return _loop(api, service, server)
    except ExtensionsApiError as exc:
        log.info("Extensions API ended the loop: %s", exc)
        server.stop()
        return 1
    except Exception as exc:
        log.exception("unexpected failure")
        api.exit_error("UnexpectedError", type(exc).__name__)
        return 1


def _loop(api: ExtensionsApi, service: TokenService, server: TokenServer) -> int:
    while True:
        event = api.next_event()
        kind = event.get("eventType")
        if kind == "SHUTDOWN":
            log.info("SHUTDOWN (%s): stopping", event.get("shutdownReason"))
            server.stop()
            return 0
        if kind == "INVOKE":
            deadline_ms = event.get("deadlineMs")
            deadline = (
                Deadline.at_epoch(deadline_ms / 1000.0)
                if isinstance(deadline_ms, int) and not isinstance(deadline_ms, bool)
                else Deadline.after(5.0)
            )
            service.refresh_ahead(deadline)


def _fail_init(api: ExtensionsApi, reason: str, message: str) -> int:
    log.error("init failed (%s): %s", reason, message)
    try:
        api.register()  # Lambda takes error reports only from a registered extension
        api.init_error(reason, message)
    except (ExtensionsApiError, OSError) as exc:
        log.error("could not report the init error: %s", exc)
    return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
