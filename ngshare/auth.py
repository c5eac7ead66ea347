"""Who is calling: JupyterHub tokens and OAuth cookies, or static tokens.

Two authenticators share one small interface (:meth:`Authenticator.authenticate`
returns a :class:`~ngshare.service.permissions.Caller` or None):

- :class:`HubAuthenticator`, the default under JupyterHub. It asks the hub who
  owns a token through its own ``HubOAuth`` (or ``HubAuth``) instance, never
  the process-wide singleton, and always asynchronously (``sync=False``) so a
  slow hub never stalls the event loop. Answers are cached by HubAuth
  (``cache_max_age``), so a warm cache means no call to the hub at all.
- :class:`StaticTokenAuthenticator`, for running without JupyterHub: tokens
  configured like JupyterHub's ``api_tokens`` (token -> user name), compared in
  constant time.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
from typing import TYPE_CHECKING, Any

from jupyterhub.services.auth import HubAuth, HubOAuth
from tornado import web
from traitlets import Bool, Dict, Set, Unicode
from traitlets.config import LoggingConfigurable

from ngshare.service.errors import Forbidden, Unavailable
from ngshare.service.permissions import Caller

if TYPE_CHECKING:
    from tornado.web import RequestHandler

_AUTH_HEADER = re.compile(r"(?:token|bearer)\s+(.+)", re.IGNORECASE)


def token_from_header(handler: RequestHandler) -> str | None:
    match = _AUTH_HEADER.match(handler.request.headers.get("Authorization", ""))
    return match.group(1).strip() if match else None


class Authenticator(LoggingConfigurable):
    """Identifies the caller of a request."""

    admin_users = Set(
        Unicode(),
        help="User names with full rights over every course.",
    ).tag(config=True)

    #: Whether unauthenticated browsers can be sent to a login page.
    can_redirect_to_login = False

    async def authenticate(self, handler: RequestHandler) -> Caller | None:
        raise NotImplementedError

    #: The JupyterHub auth object browsers log in with, if any.
    hub_oauth: HubOAuth | None = None


class StaticTokenAuthenticator(Authenticator):
    """Tokens from configuration, for ngshare without JupyterHub."""

    api_tokens = Dict(
        key_trait=Unicode(),
        value_trait=Unicode(),
        help="""API tokens mapped to user names, e.g. {"<secret>": "instructor1"}.

        As with JupyterHub's api_tokens, anyone holding a token acts as its user.
        """,
    ).tag(config=True)

    def _digests(self) -> list[tuple[bytes, str]]:
        # Compare digests, not raw tokens: equal lengths, so neither the
        # comparison time nor its length reveals anything about a token.
        return [(hashlib.sha256(t.encode()).digest(), user) for t, user in self.api_tokens.items()]

    async def authenticate(self, handler: RequestHandler) -> Caller | None:
        token = token_from_header(handler)
        if not token:
            return None
        presented = hashlib.sha256(token.encode("utf-8", "replace")).digest()
        found: str | None = None
        for digest, user in self._digests():
            if hmac.compare_digest(presented, digest):
                found = user
        if found is None:
            return None
        return Caller(name=found, is_admin=found in self.admin_users)


class HubAuthenticator(Authenticator):
    """JupyterHub tokens (``Authorization: token ...``) and Hub OAuth cookies."""

    hub_admins_are_admins = Bool(
        True,
        help="Treat JupyterHub admins as ngshare admins (besides admin_users).",
    ).tag(config=True)

    api_url = Unicode(help="The hub's API URL; $JUPYTERHUB_API_URL by default.").tag(config=True)
    api_token = Unicode(help="This service's hub token; $JUPYTERHUB_API_TOKEN by default.").tag(
        config=True
    )
    oauth = Bool(
        True,
        help="""Let browsers log in through Hub OAuth (needs $JUPYTERHUB_CLIENT_ID).

        Without OAuth only token authentication is possible.
        """,
    ).tag(config=True)

    def __init__(self, *, prefix: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        options: dict[str, Any] = {"parent": self}
        if self.api_url:
            options["api_url"] = self.api_url
        if self.api_token:
            options["api_token"] = self.api_token
        self.hub_auth: HubAuth
        if self.oauth and _oauth_client_id():
            self.hub_auth = self.hub_oauth = HubOAuth(base_url=prefix, **options)
            self.can_redirect_to_login = True
        else:
            self.hub_auth = HubAuth(base_url=prefix, **options)

    async def authenticate(self, handler: RequestHandler) -> Caller | None:
        try:
            model = await self.hub_auth.get_user(handler, sync=False)
        except web.HTTPError as e:
            # HubAuth raises 500/502 when it cannot reach the hub: that is the
            # hub being unavailable, not a fault of this request.
            self.log.error("Could not check a token with the hub: %s", e.log_message)
            raise Unavailable("JupyterHub is unavailable; try again shortly") from e
        if not model:
            return None
        scopes = self.hub_auth.access_scopes
        if model.get("kind", "user") != "user" or (
            scopes and not self.hub_auth.check_scopes(scopes, model)
        ):
            raise Forbidden(
                f"{model.get('kind', 'user').capitalize()} {model.get('name')} may not use "
                f"this service (missing scope {' or '.join(sorted(scopes)) or 'access'})"
            )
        name = model["name"]
        is_admin = name in self.admin_users or (
            self.hub_admins_are_admins and bool(model.get("admin"))
        )
        return Caller(name=name, is_admin=is_admin)


def _oauth_client_id() -> str:
    return os.environ.get("JUPYTERHUB_CLIENT_ID", "")
