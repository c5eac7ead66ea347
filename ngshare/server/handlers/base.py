"""The base API handler: authentication, service calls and JSON errors.

Every API handler derives from :class:`APIHandler`. It authenticates in
``prepare`` (asynchronously), runs domain operations through the service
runner, and turns every error, expected or not, into a JSON body of the v1
shape ``{"success": false, "message": ...}``: an API response is never HTML
and never carries a traceback.
"""

from __future__ import annotations

import json
import logging
from http.client import responses
from typing import Any, TypeVar

from jupyterhub.services.auth import HubOAuth, HubOAuthenticated
from tornado import web

from ngshare.server.auth.authenticators import Authenticator, token_from_header
from ngshare.server.service import metrics
from ngshare.server.service.errors import ServiceError
from ngshare.server.service.permissions import Caller
from ngshare.server.service.runner import ServiceRunner

log = logging.getLogger("ngshare")

T = TypeVar("T")


class APIError(web.HTTPError):
    """An HTTP error whose message is shown to the client as is."""

    def __init__(self, status: int, message: str, fields: dict[str, object] | None = None) -> None:
        super().__init__(status, "%s", message)
        self.message = message
        self.fields = fields or {}


class APIHandler(HubOAuthenticated, web.RequestHandler):
    """Base class of every API handler."""

    #: Whether the handler needs an authenticated caller.
    requires_auth = True

    current_user: Caller | None
    #: What a successful POST or PUT of this handler stores (release,
    #: submission or feedback), counted by API in ngshare_transfers_total.
    transfer_kind: str | None = None
    api_name = ""
    _in_flight = False
    _sent_bytes = 0
    #: Set once the request was answered before its method ran: sent to the
    #: hub's login page, or refused while its body arrived.
    answered_early = False

    @property
    def hub_auth(self) -> HubOAuth | None:
        return self.authenticator.hub_oauth

    @hub_auth.setter
    def hub_auth(self, value: Any) -> None:
        raise AttributeError("hub_auth is set by the application")

    @property
    def authenticator(self) -> Authenticator:
        return self.settings["authenticator"]

    @property
    def runner(self) -> ServiceRunner:
        return self.settings["runner"]

    @property
    def caller(self) -> Caller:
        assert self.current_user is not None
        return self.current_user

    def get_current_user(self) -> Caller | None:
        # The caller is found asynchronously in prepare(); tornado's
        # synchronous hook must never reach the hub itself.
        return None

    def check_xsrf_cookie(self) -> None:
        # Cookie-authenticated writes need an xsrf token; token-authenticated
        # requests do not (HubOAuth knows which is which).
        if self.hub_auth is not None:
            self.hub_auth.check_xsrf_cookie(self)

    def set_default_headers(self) -> None:
        self.set_header("Content-Type", "application/json; charset=UTF-8")
        self.set_header("Cache-Control", "no-store")
        self.set_header("X-Content-Type-Options", "nosniff")

    async def prepare(self) -> None:
        self._in_flight = True
        metrics.REQUESTS_IN_FLIGHT.inc()
        if not self.requires_auth:
            return
        try:
            caller = await self.authenticator.authenticate(self)
        except ServiceError as e:
            raise APIError(e.status, e.message) from None
        if caller is None:
            self._refuse_unauthenticated()
            return
        self.current_user = caller

    def _refuse_unauthenticated(self) -> None:
        # A browser (no token presented) is sent to the hub's login page, as v1
        # documents for GET; an API client whose token was refused is told so.
        presented_token = token_from_header(self) is not None
        if (
            self.request.method in ("GET", "HEAD")
            and not presented_token
            and self.authenticator.can_redirect_to_login
        ):
            self.answered_early = True
            self.redirect(self.get_login_url())
            return
        if presented_token:
            raise APIError(403, "Invalid or expired token")
        if self._refused_for_xsrf():
            raise APIError(
                403,
                "A browser session needs an XSRF token for this request: send the "
                "_xsrf cookie's value in an X-XSRFToken header",
            )
        raise APIError(403, "Authentication required: send 'Authorization: token <API token>'")

    def _refused_for_xsrf(self) -> bool:
        # HubOAuth ignores a login cookie on a write without a matching xsrf
        # token (it does not raise), so say why instead of "log in".
        hub_oauth = self.hub_auth
        if hub_oauth is None or not self.get_cookie(hub_oauth.cookie_name):
            return False
        try:
            hub_oauth.check_xsrf_cookie(self)
        except web.HTTPError:
            return True
        return False

    async def call(
        self, operation: Any, *args: Any, readonly: bool = False, durable: bool = True
    ) -> Any:
        """Run a domain operation as the caller, mapping its refusals to HTTP."""
        try:
            return await self.runner.call(
                operation, self.caller, *args, readonly=readonly, durable=durable
            )
        except ServiceError as e:
            raise APIError(e.status, e.message, e.fields) from None

    # -- metrics -------------------------------------------------------------

    def write(self, chunk: str | bytes | dict[str, Any]) -> None:
        if isinstance(chunk, bytes):
            self._sent_bytes += len(chunk)
        elif isinstance(chunk, str):
            self._sent_bytes += len(chunk.encode("utf-8"))
        super().write(chunk)

    def request_done(self) -> None:
        """Called once the request is answered (by the request log) or abandoned."""
        name = type(self).__name__
        if self._sent_bytes:
            metrics.SENT_BYTES.labels(name).inc(self._sent_bytes)
            self._sent_bytes = 0
        length = self.request.headers.get("Content-Length", "")
        received = int(length) if length.isdigit() else len(self.request.body or b"")
        if received:
            metrics.RECEIVED_BYTES.labels(name).inc(received)
        if self._in_flight:
            self._in_flight = False
            metrics.REQUESTS_IN_FLIGHT.dec()

    def on_connection_close(self) -> None:
        # A client that went away is no longer waiting; the request log will
        # not see this request unless it is still answered.
        if self._in_flight:
            self._in_flight = False
            metrics.REQUESTS_IN_FLIGHT.dec()

    # -- responses -----------------------------------------------------------

    def write_json(self, body: dict[str, Any], status: int = 200) -> None:
        self.set_status(status)
        self.finish(json.dumps(body))

    def success(self, **fields: Any) -> None:
        self.write_json({"success": True, **fields})

    async def success_in_thread(self, **fields: Any) -> None:
        """Like success(), serialising a large body off the event loop."""
        body = await self.runner.in_thread(json.dumps, {"success": True, **fields})
        self.set_status(200)
        await self.finish(body)

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        exception = kwargs.get("exc_info", (None, None, None))[1]
        fields = getattr(exception, "fields", None) or {}
        if isinstance(exception, ServiceError):
            # Raised outside self.call() (e.g. from blob work in a worker
            # thread): still the operation's own status, never a 500.
            self.set_status(exception.status)
            message = exception.message
        elif isinstance(exception, APIError):
            message = exception.message
        elif isinstance(exception, web.HTTPError) and exception.log_message and status_code < 500:
            message = exception.log_message
            if exception.args:
                message = message % exception.args
        elif status_code >= 500:
            message = "Internal server error"
        else:
            message = responses.get(status_code, "Error")
        self.set_header("Content-Type", "application/json; charset=UTF-8")
        self.finish(json.dumps({**fields, "success": False, "message": message}))

    def log_exception(self, typ: Any, value: Any, tb: Any) -> None:
        if isinstance(value, web.HTTPError) and value.status_code < 500:
            return  # refusals are logged by the request log, without noise
        if isinstance(value, ServiceError):
            return  # expected outcomes (an unavailable database is logged where it is seen)
        super().log_exception(typ, value, tb)


class NotFoundHandler(APIHandler):
    """Unknown routes: a JSON 404 (never a page, never the environment)."""

    requires_auth = False

    def prepare(self) -> None:  # type: ignore[override]
        raise APIError(404, "Not found")
