"""Logging in and out of the pages.

Under JupyterHub a browser logs in at the hub (OAuth); logging out of
ngshare also logs out of the hub, or the next page would log straight back
in. Without a hub, a small form takes an API token (the ones configured in
``StaticTokenAuthenticator.api_tokens``, or the generated admin token) into
a signed, HttpOnly, SameSite=Strict cookie scoped to the service's prefix.
"""

from __future__ import annotations

from tornado import web

from ngshare.server.handlers.base import APIError
from ngshare.server.handlers.pages.base import (
    LOGIN_COOKIE,
    LOGIN_MAX_AGE_DAYS,
    STALE_FORM,
    PageHandler,
)


class LoginHandler(PageHandler):
    """``ui/login``: the token form (standalone only)."""

    async def prepare(self) -> None:
        if not self.authenticator.login_form:
            # Under the hub, its own login page is where people log in.
            if self.authenticator.can_redirect_to_login:
                self.redirect(self.get_login_url())
                return
            raise APIError(404, "There is no login form: log in through JupyterHub.")
        self.current_user = None
        if self.request.method == "POST":
            try:
                self.check_xsrf_cookie()
            except web.HTTPError:
                raise APIError(403, STALE_FORM) from None

    def next_url(self) -> str:
        """Where to go after logging in: a page of this service, never elsewhere."""
        target = self.get_argument("next", "")
        # Browsers drop tabs and newlines from URLs and read "\\" as "/": any of
        # them could turn "/\t/evil.example" into another site.
        unsafe = any(c.isspace() or not c.isprintable() or c == "\\" for c in target)
        if target.startswith(self.links.prefix) and not target.startswith("//") and not unsafe:
            return target
        return self.links.home

    async def get(self) -> None:
        await self.render_page("login.html", next_url=self.next_url())

    async def post(self, *args: str) -> None:
        token = self.field("token").strip()
        caller = await self.authenticator.authenticate_token(token) if token else None
        if caller is None:
            self.set_status(403)
            self.problem = (
                "That token is not valid. Use an API token this server knows: one of its "
                "configured api_tokens, or the admin token in its data directory."
            )
            await self.render_page("login.html", next_url=self.next_url())
            return
        self.set_signed_cookie(
            LOGIN_COOKIE,
            token,
            expires_days=LOGIN_MAX_AGE_DAYS,
            path=self.links.prefix,
            httponly=True,
            samesite="Strict",
            secure=self.request.protocol == "https",
        )
        self.redirect(self.next_url(), status=303)


class LogoutHandler(PageHandler):
    """``ui/logout`` (POST): forget the login."""

    actions = {"logout": "logout"}

    async def logout(self) -> None:
        if self.hub_auth is not None:
            self.hub_auth.clear_cookie(self)
            self.redirect(self.hub_auth.hub_host + self.hub_auth.hub_prefix + "logout", status=303)
            return
        self.clear_cookie(LOGIN_COOKIE, path=self.links.prefix)
        self.redirect(self.links.page("login"), status=303)
