"""The ``genesys-token`` external extension: its lifecycle (started by ``extensions/genesys-token``).

1. Bind the HTTP server on 127.0.0.1 and ``register`` for INVOKE and SHUTDOWN with nothing loaded
   but the standard library: Lambda starts the function's init as soon as every extension has
   registered, so registering early shortens the cold start, and function init code can call us
   from its first line.
2. Import ``genesys_auth`` and build the token machinery (never using the extension itself), in
   parallel with the function's init. Requests that arrive before it is attached wait for it,
   bounded by their ``X-Genesys-Timeout-Ms`` or ``GENESYS_MAX_WAIT_SECONDS``.
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

from .lambda_api import ExtensionsApi, ExtensionsApiError
from .server import TokenServer
from .startup import StartupConfig

TYPE_CHECKING = False  # typing stays unloaded before registering (mypy treats this as true)
if TYPE_CHECKING:
    from genesys_auth import Settings

    from .service import TokenService

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
        startup = StartupConfig.from_env()
        server = TokenServer(startup.port, os.environ.get("AWS_SESSION_TOKEN", ""), max_wait=startup.max_wait)
    except ValueError as exc:
        return _fail_init(api, "ConfigurationError", str(exc), registered=False)
    except OSError as exc:
        return _fail_init(api, "PortUnavailable", f"cannot listen on 127.0.0.1: {exc.strerror}", registered=False)
    server.start()

    try:
        api.register()
    except (ExtensionsApiError, OSError) as exc:
        log.error("register failed: %s", exc)
        server.stop()
        return 1
    log.info(
        "listening on 127.0.0.1:%d, registered after %.0f ms",
        server.server_address[1],
        (time.monotonic() - started) * 1000,
    )

    try:
        service, settings = _build_service()
    except Exception as exc:
        kind = getattr(exc, "kind", None)
        if not isinstance(kind, str):  # not a classified GenesysAuthError (a broken layer): keep the trace
            log.exception("building the token service failed")
        reason = "ConfigurationError" if kind == "configuration" else "UnexpectedError"
        message = str(exc) if isinstance(kind, str) else type(exc).__name__
        server.fail(kind if isinstance(kind, str) else "internal", message)
        code = _fail_init(api, reason, message, registered=True)
        server.stop()
        return code
    server.attach(service, max_wait=settings.max_wait)
    log.info("token service ready after %.0f ms", (time.monotonic() - started) * 1000)

    from genesys_auth import GenesysAuthError
    from genesys_auth.deadline import Deadline

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


def _build_service() -> tuple[TokenService, Settings]:
    """The token machinery, imported only now: this is the one place that builds it."""
    from genesys_auth import Settings, build_provider

    from .service import TokenService

    settings = Settings.from_env()
    return TokenService(build_provider(settings, use_extension=False)), settings


def _loop(api: ExtensionsApi, service: TokenService, server: TokenServer) -> int:
    from genesys_auth.deadline import Deadline

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


def _fail_init(api: ExtensionsApi, reason: str, message: str, *, registered: bool) -> int:
    log.error("init failed (%s): %s", reason, message)
    try:
        if not registered:
            api.register()  # Lambda takes error reports only from a registered extension
        api.init_error(reason, message)
    except (ExtensionsApiError, OSError) as exc:
        log.error("could not report the init error: %s", exc)
    return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
