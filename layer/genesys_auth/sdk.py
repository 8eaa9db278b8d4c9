"""The official Genesys Cloud SDK (``PureCloudPlatformClientV2``) on the library's managed token.

    from genesys_auth import GenesysClient
    from genesys_auth.sdk import api_client
    from PureCloudPlatformClientV2 import RoutingApi

    client = GenesysClient.from_env()
    api = api_client(client)                  # instead of ApiClient().get_client_credentials_token(...)

    def handler(event, context):
        with client.deadline(context):
            return RoutingApi(api).get_routing_queues(page_size=100).total

Every request of the returned ``ApiClient`` goes through ``GenesysClient.send`` and ``check``
(plugged in with the SDK's own seam, ``ApiClient.set_http_client``): the managed token (memory,
shared table, extension), one replay after a 401, the deadline-bound retry policy and timeouts,
and the library's connection pool. The SDK's own transport (urllib3 ``Retry()`` defaults that
re-send POSTs and sleep any ``Retry-After``, no socket timeout) and the process-wide
``Configuration().access_token`` are never used.

What a call raises:

* ``ApiException`` (the SDK's own, built as the SDK builds it: ``status``, ``reason``, ``body``,
  ``headers``) for every answer outside 200-205, so existing ``except ApiException`` code keeps
  working. Where the library classified the answer, the classified error is ``__cause__``:
  401 left after the one replay -> :class:`AuthenticationError`; 429 the deadline left no time to
  wait out -> :class:`RateLimitedError`; 502/503/504 after the retries -> :class:`UnavailableError`.
  Other statuses (400, 404, 409...) have no cause, as with the plain SDK.
* ``ApiException`` with ``status == 0`` when Genesys Cloud gave no answer in time (timeout,
  connection refused or reset); ``__cause__`` is the :class:`UnavailableError`.
* A :class:`GenesysAuthError` itself (not wrapped) when no token can be had at all: a bad
  configuration (:class:`ConfigurationError`), an unreadable or malformed secret
  (:class:`SecretError`), credentials the token endpoint refuses (:class:`AuthenticationError`),
  a token endpoint that keeps rate-limiting (:class:`RateLimitedError`). These are deployment
  problems, not answers of the API being called.
* :class:`ConfigurationError` from the SDK's own token methods (``get_client_credentials_token``
  and the other grants), from setting ``access_token``, and from replacing the HTTP client.

Importing this module imports the SDK (about 6,600 model modules, 1-2 s with bytecode, see the
README); ``import genesys_auth`` never does.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, NoReturn
from urllib.parse import urlsplit

from PureCloudPlatformClientV2.abstract_http_client import AbstractHttpClient  # type: ignore[import-untyped]
from PureCloudPlatformClientV2.api_client import ApiClient  # type: ignore[import-untyped]
from PureCloudPlatformClientV2.http_request_options import HttpRequestOptions  # type: ignore[import-untyped]
from PureCloudPlatformClientV2.rest import ApiException, RESTResponse  # type: ignore[import-untyped]

from .deadline import Deadline
from .errors import ConfigurationError, GenesysAuthError, UnavailableError

if TYPE_CHECKING:
    import requests

    from .client import GenesysClient

__all__ = ["ApiException", "ManagedApiClient", "ManagedHttpClient", "api_client"]

#: The SDK treats only these as success (``rest.py``: ``if r.status not in range(200, 206)``).
_SDK_SUCCESS = range(200, 206)
_BODY_METHODS = frozenset({"POST", "PUT", "PATCH", "OPTIONS"})
_JSON = "application/json"
_FORM = "application/x-www-form-urlencoded"
_MULTIPART = "multipart/form-data"
#: ``call_api``'s positional index of ``callback`` (after resource_path ... auth_settings).
_CALLBACK_POSITION = 10


def api_client(client: GenesysClient) -> ApiClient:
    """An SDK ``ApiClient`` whose every request uses ``client``'s managed token and policies.

    No I/O: build it at module scope next to the ``GenesysClient``. One ``ApiClient`` may be
    shared by threads (as the ``GenesysClient`` is).
    """
    return ManagedApiClient(client)


class _SdkResponse(RESTResponse):  # type: ignore[misc]  # the SDK is untyped
    """A ``RESTResponse`` over a ``requests.Response``: what the SDK's deserializer and
    ``ApiException(http_resp=...)`` read (status, reason, data as text, headers)."""

    def __init__(self, response: requests.Response) -> None:
        raw = response.raw
        # The urllib3 response carries the headers in the type the SDK itself hands out.
        self.urllib3_response = raw if raw is not None and hasattr(raw, "headers") else _Headers(response.headers)
        self.status = response.status_code
        self.reason = response.reason
        self.data = response.content.decode("utf8", errors="replace")


class _Headers:
    def __init__(self, headers: Mapping[str, str]) -> None:
        self.headers = headers


class ManagedHttpClient(AbstractHttpClient):  # type: ignore[misc]  # the SDK is untyped
    """The SDK's ``AbstractHttpClient`` on ``GenesysClient.send`` / ``check``.

    Pre- and post-request hooks set with the SDK's ``set_pre_request_hook`` /
    ``set_post_request_hook`` run as in the SDK's ``DefaultHttpClient``. ``set_timeout`` has no
    effect (the SDK's own client ignores it too): timeouts come from the bound deadline.
    """

    def __init__(self, client: GenesysClient) -> None:
        super().__init__()
        self.client = client

    def request(self, http_request_options: Any) -> Any:
        if not isinstance(http_request_options, HttpRequestOptions):
            raise ValueError("httpRequestOptions must be an instance of HttpRequestOptions")
        options = http_request_options
        if self.pre_hook is not None and callable(self.pre_hook):
            options = self.pre_hook(options)
        method = str(options.method).upper()
        url = str(options.url)
        path = urlsplit(url).path or url
        kwargs = _encode(method, options)
        try:
            response = self.client.send(method, url, **kwargs)
        except UnavailableError as err:
            # No answer at all. The SDK's own client reports a TLS failure as status 0 too.
            raise ApiException(status=0, reason=str(err)) from err
        try:
            self.client.check(method, path, response)
        except GenesysAuthError as err:
            raise ApiException(http_resp=_SdkResponse(response)) from err
        answer = _SdkResponse(response)
        if answer.status not in _SDK_SUCCESS:
            raise ApiException(http_resp=answer)
        if self.post_hook is not None and callable(self.post_hook):
            answer = self.post_hook(answer)
        return answer

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.client!r})"


def _encode(method: str, options: Any) -> dict[str, Any]:
    """``requests`` arguments for what the SDK's ``rest.py`` would send for these options."""
    headers = {name: value for name, value in dict(options.headers or {}).items() if name.lower() != "authorization"}
    query = options.query_params or None
    kwargs: dict[str, Any] = {"headers": headers, "params": query}
    if method not in _BODY_METHODS:
        # rest.py sends no body for GET/HEAD/DELETE.
        return kwargs
    content_type = next((value for name, value in headers.items() if name.lower() == "content-type"), None)
    if content_type is None:
        headers["Content-Type"] = content_type = _JSON
    post_params = options.post_params or {}
    if content_type == _FORM:
        kwargs["data"] = post_params
    elif content_type == _MULTIPART:
        # requests writes the boundary into Content-Type itself.
        for name in [name for name in headers if name.lower() == "content-type"]:
            del headers[name]
        items = list(post_params.items()) if isinstance(post_params, Mapping) else list(post_params)
        kwargs["files"] = [item for item in items if isinstance(item[1], tuple)]
        kwargs["data"] = [item for item in items if not isinstance(item[1], tuple)]
    elif isinstance(options.body, (bytes, str)) and content_type != _JSON:
        kwargs["data"] = options.body
    else:
        # rest.py: body=json.dumps(body), so a missing body is sent as "null" just the same.
        kwargs["data"] = json.dumps(options.body).encode()
    return kwargs


def _managed(name: str) -> Callable[..., NoReturn]:
    def refuse(self: ManagedApiClient, *args: Any, **kwargs: Any) -> NoReturn:
        raise ConfigurationError(
            f"ApiClient.{name}() is not available on a genesys_auth.sdk.api_client(): its token is "
            "managed by genesys_auth (GENESYS_SECRET_ID); remove the call, or use a plain ApiClient() "
            "for a grant of your own"
        )

    refuse.__name__ = name
    return refuse


class ManagedApiClient(ApiClient):  # type: ignore[misc]  # the SDK is untyped
    """An ``ApiClient`` whose token and transport belong to a :class:`GenesysClient`.

    ``host`` is left empty: the SDK then hands paths (``/api/v2/...``) to the HTTP client and the
    library puts them on the configured API origin (the secret's region, or ``GENESYS_API_URL``).
    A host or gateway pointing anywhere else is refused by ``send`` with a ConfigurationError, so
    the token never goes to another origin.
    """

    def __init__(self, client: GenesysClient) -> None:
        super().__init__(host="")
        self.genesys_client = client
        # The SDK's public seam. From here on the SDK never builds its own urllib3 pool.
        ApiClient.set_http_client(self, ManagedHttpClient(client))

    # The SDK's own grants would store a token on this object (and nowhere refresh it).
    get_client_credentials_token = _managed("get_client_credentials_token")
    get_saml2bearer_token = _managed("get_saml2bearer_token")
    get_code_authorization_token = _managed("get_code_authorization_token")
    refresh_code_authorization_token = _managed("refresh_code_authorization_token")
    get_pkce_token = _managed("get_pkce_token")
    handle_expired_access_token = _managed("handle_expired_access_token")

    @property
    def access_token(self) -> str:
        return ""

    @access_token.setter
    def access_token(self, value: str) -> None:
        if value:  # the SDK's own __init__ sets "", which is harmless
            raise ConfigurationError(
                "access_token cannot be set on a genesys_auth.sdk.api_client(): genesys_auth sends its managed token"
            )

    def set_http_client(self, http_client: Any) -> None:
        raise ConfigurationError(
            "set_http_client() on a genesys_auth.sdk.api_client() would bypass the managed token; "
            "use set_pre_request_hook()/set_post_request_hook() on api.get_http_client() instead"
        )

    def update_params_for_auth(self, headers: Any, querys: Any, auth_settings: Any) -> None:
        # The SDK's version reads Configuration().access_token when this client has none, which
        # is how a client ends up sending another org's token. The transport sets the header.
        return None

    def call_api(self, *args: Any, **kwargs: Any) -> Any:
        """As the SDK's ``call_api``; with ``callback=`` the call's thread keeps the deadline
        bound by the caller (a context variable, which a new thread does not inherit)."""
        if len(args) > _CALLBACK_POSITION:
            args, kwargs = args[:_CALLBACK_POSITION], {**kwargs, "callback": args[_CALLBACK_POSITION]}
        callback = kwargs.pop("callback", None)
        if callback is None:
            return ApiClient.call_api(self, *args, **kwargs)
        deadline = Deadline.of(None, default=self.genesys_client.settings.max_wait)

        def run() -> None:
            with self.genesys_client.deadline(deadline):
                result = ApiClient.call_api(self, *args, **kwargs)
                callback(result)

        thread = threading.Thread(target=run, name="genesys-sdk-callback")
        thread.start()
        return thread

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.genesys_client!r})"
