"""The base of every page: who is looking, forms, messages and HTML errors.

A page authenticates like the APIs (the same authenticator, the same
service runner and permission policy) and differs in what it answers:

- A browser that is not logged in is sent to log in: to the hub (OAuth, as
  the API's browser access does) or, without a hub, to the login form that
  takes an API token into a signed, HttpOnly, SameSite cookie.
- Every write is a form POST carrying an xsrf token (``xsrf_form_html``):
  the hub's xsrf token under JupyterHub, Tornado's without. Requests that
  present an API token need none, as in the APIs.
- A POST names its ``action``. If the service refuses it, nothing has
  changed and the same page is shown again, with the refusal at the top and
  the form as it was filled in. If it succeeds, the browser is sent back to
  the page (303) with a short message saying what happened.
- Errors are HTML pages; the API handlers keep answering JSON.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from http.client import responses
from typing import Any
from urllib.parse import quote

from tornado import web
from tornado.escape import url_escape

from ngshare.server.auth.authenticators import token_from_header
from ngshare.server.handlers.base import APIError, APIHandler
from ngshare.server.handlers.pages.rendering import UI, Links, Rendering
from ngshare.server.handlers.pages.times import DisplayTime
from ngshare.server.service.errors import ServiceError

log = logging.getLogger("ngshare")

# The standalone login cookie: an API token, signed with the cookie secret.
LOGIN_COOKIE = "ngshare-login"
LOGIN_MAX_AGE_DAYS = 7
# A message for the next page after a successful form (signed, short-lived).
FLASH_COOKIE = "ngshare-flash"
FLASH_MAX_AGE_DAYS = 1 / 24 / 60  # one minute is plenty for one redirect

CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
STALE_FORM = (
    "This form was not accepted: it was opened before your latest login, or in "
    "another browser. Nothing was changed. Reload the page and send it again."
)


class PageHandler(APIHandler):
    """Base class of the web pages."""

    #: action name -> method taking the path arguments; returns a message
    #: for the next page (and may redirect elsewhere itself).
    actions: dict[str, str] = {}

    problem: str | None = None
    #: Set once a page has been rendered into the response (a form action may
    #: answer with a page of its own, e.g. a preview, instead of redirecting).
    page_sent = False
    failed_action: str | None = None

    @property
    def rendering(self) -> Rendering:
        return self.settings["page_rendering"]

    @property
    def links(self) -> Links:
        return self.rendering.links

    @property
    def times(self) -> DisplayTime:
        return self.rendering.times

    def set_default_headers(self) -> None:
        self.set_header("Content-Type", "text/html; charset=UTF-8")
        self.set_header("Cache-Control", "no-store")
        self.set_header("X-Content-Type-Options", "nosniff")
        self.set_header("Content-Security-Policy", CONTENT_SECURITY_POLICY)
        self.set_header("Referrer-Policy", "same-origin")
        self.set_header("X-Frame-Options", "DENY")

    # -- who is looking --------------------------------------------------------

    @property
    def xsrf_token(self) -> bytes:
        # JupyterHub's token is bound to the login; without a hub, Tornado's own.
        if self.hub_auth is not None:
            return super().xsrf_token
        # (Tornado's own property, past HubOAuthenticated's override of it.)
        return web.RequestHandler.xsrf_token.fget(self)  # type: ignore[attr-defined]

    def check_xsrf_cookie(self) -> None:
        if self.hub_auth is not None:
            self.hub_auth.check_xsrf_cookie(self)
        elif not getattr(self, "_token_authenticated", False):
            web.RequestHandler.check_xsrf_cookie(self)

    async def prepare(self) -> None:
        try:
            caller = await self.identify()
        except ServiceError as e:
            raise APIError(e.status, e.message) from None
        if caller is None:
            self.refuse_anonymous()
            return
        self.current_user = caller
        if self.request.method not in ("GET", "HEAD"):
            try:
                self.check_xsrf_cookie()
            except web.HTTPError:
                raise APIError(403, STALE_FORM) from None

    async def identify(self) -> Any:
        if not self.authenticator.login_form:
            return await self.authenticator.authenticate(self)
        token = token_from_header(self)
        if token:
            self._token_authenticated = True
        else:
            cookie = self.get_signed_cookie(LOGIN_COOKIE, max_age_days=LOGIN_MAX_AGE_DAYS)
            token = cookie.decode("utf-8", "replace") if cookie else None
        return await self.authenticator.authenticate_token(token) if token else None

    def refuse_anonymous(self) -> None:
        reading = self.request.method in ("GET", "HEAD")
        if reading and self.authenticator.can_redirect_to_login:
            self.redirect(self.get_login_url())
        elif reading and self.authenticator.login_form:
            self.redirect(self.links.page("login") + "?next=" + url_escape(self.request.uri or ""))
        elif self.authenticator.login_form or self.authenticator.can_redirect_to_login:
            raise APIError(403, STALE_FORM if self._refused_for_xsrf() else "Please log in again.")
        else:
            raise APIError(
                403,
                "This ngshare cannot log browsers in (it runs under JupyterHub without "
                "OAuth): send an API token in an Authorization header.",
            )

    # -- forms -----------------------------------------------------------------

    def field(self, name: str, default: str = "") -> str:
        return self.get_body_argument(name, default) or default

    def required(self, name: str, label: str) -> str:
        value = self.field(name).strip()
        if not value:
            raise APIError(400, f"Please enter {label}.")
        return value

    async def post(self, *args: str) -> None:
        action = self.field("action")
        method_name = self.actions.get(action)
        if method_name is None:
            raise APIError(400, "This form asks for something this page does not do.")
        method: Callable[..., Awaitable[str | None]] = getattr(self, method_name)
        try:
            message = await method(*args)
        except APIError as refused:
            if refused.status_code >= 500:
                raise
            # Nothing changed: show the page again, saying why.
            self.set_status(refused.status_code)
            self.problem = refused.message
            self.failed_action = action
            get: Callable[..., Awaitable[None]] = getattr(self, "get")  # noqa: B009
            await get(*args)
            return
        if self.page_sent:
            return
        if message:
            self.flash(message)
        self.redirect(self.request.uri or self.links.home, status=303)

    def flash(self, message: str) -> None:
        self.set_signed_cookie(
            FLASH_COOKIE,
            message,
            path=self.links.prefix,
            httponly=True,
            samesite="Strict",
            secure=self.request.protocol == "https",
        )

    def take_flash(self) -> str | None:
        value = self.get_signed_cookie(FLASH_COOKIE, max_age_days=FLASH_MAX_AGE_DAYS)
        if self.get_cookie(FLASH_COOKIE) is not None:
            self.clear_cookie(FLASH_COOKIE, path=self.links.prefix)
        return value.decode("utf-8", "replace") if value else None

    def form_value(self, action: str, name: str, default: str = "") -> str:
        """What the user typed into ``name`` of a refused ``action`` (to fill it in again)."""
        if self.failed_action != action:
            return default
        return self.get_body_argument(name, default) or default

    # -- rendering -------------------------------------------------------------

    def context(self) -> dict[str, Any]:
        """What every template may use besides its own values."""
        return {
            "caller": self.current_user,
            "problem": self.problem,
            "flash": self.take_flash() if self.request.method in ("GET", "HEAD") else None,
            "xsrf_form_html": self.xsrf_form_html,
            "form_value": self.form_value,
            "hub": self.hub_auth is not None,
            "breadcrumbs": [],
        }

    async def render_page(self, template: str, **values: Any) -> None:
        html = self.rendering.render(template, {**self.context(), **values})
        self.page_sent = True
        await self.finish(html)

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        exception = kwargs.get("exc_info", (None, None, None))[1]
        if isinstance(exception, ServiceError):
            self.set_status(exception.status)
            status_code, message = exception.status, exception.message
        elif isinstance(exception, APIError):
            message = exception.message
        elif status_code < 500:
            message = responses.get(status_code, "Error")
        else:
            message = "Something went wrong on the server. Please try again shortly."
        self.set_header("Content-Type", "text/html; charset=UTF-8")
        values = {
            **self.context(),
            "status": status_code,
            "title": responses.get(status_code, "Error"),
            "message": message,
            "login_url": self._login_link(),
        }
        try:
            self.finish(self.rendering.render("error.html", values))
        except Exception:  # a broken template must not hide the error itself
            log.exception("Could not render the error page")
            self.finish(f"<!doctype html><title>{status_code}</title><p>{status_code}</p>")

    def _login_link(self) -> str | None:
        if self.current_user is not None or not self.authenticator.login_form:
            return None
        return self.links.page("login") + "?next=" + quote(self.request.uri or "", safe="")


class PageNotFoundHandler(PageHandler):
    """Unknown pages below {prefix}ui/: an HTML 404 (the APIs keep their JSON one)."""

    async def prepare(self) -> None:
        raise APIError(404, "There is no such page.")


def ui_pattern(prefix: str, pattern: str) -> str:
    return prefix + UI + pattern
