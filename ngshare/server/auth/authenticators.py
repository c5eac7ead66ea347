"""Who is calling: JupyterHub tokens and OAuth cookies, or static tokens.

Two authenticators share one small interface (:meth:`Authenticator.authenticate`
returns a :class:`~ngshare.server.service.permissions.Caller` or None):

- :class:`HubAuthenticator`, the default under JupyterHub. It asks the hub who
  owns a token through its own ``HubOAuth`` (or ``HubAuth``) instance, never
  the process-wide singleton, and always asynchronously (``sync=False``) so a
  slow hub never stalls the event loop. Answers are cached by HubAuth
  (``cache_max_age``), so a warm cache means no call to the hub at all; a
  hub that is down or frozen costs an uncached request at most
  ``hub_timeout`` seconds and a 503, never a hang or a 500. Callers need the
  service's access scope (``access:services!service=ngshare``), also when
  ngshare runs as an external service that the hub did not configure. With
  course roles from hub groups on, the ``groups`` of that same answer update
  the caller's enrollments (:mod:`ngshare.server.auth.hub_groups`). Browser logins keep
  their OAuth state where every replica can read it (:mod:`ngshare.server.auth.oauth_state`).
- :class:`StaticTokenAuthenticator`, for running without JupyterHub: tokens
  configured like JupyterHub's ``api_tokens`` (token -> user name), compared in
  constant time.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import re
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, Protocol

from jupyterhub.services.auth import HubAuth, HubOAuth
from tornado import web
from traitlets import Bool, Dict, Float, Set, Unicode, default, observe
from traitlets.config import LoggingConfigurable

from ngshare.server.auth.oauth_state import SharedStateHubOAuth
from ngshare.server.service.errors import Forbidden, Unavailable
from ngshare.server.service.permissions import Caller

if TYPE_CHECKING:
    from tornado.web import RequestHandler

_AUTH_HEADER = re.compile(r"(?:token|bearer)\s+(.+)", re.IGNORECASE)


class CallerGroups(Protocol):
    """Updates a caller's enrollments from their hub groups (ngshare.server.auth.hub_groups)."""

    async def reconcile_caller(self, name: str, groups: Iterable[str]) -> None: ...


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
    #: Whether browsers log in to the web pages by entering an API token
    #: (without a hub there is no login page to send them to).
    login_form = False

    async def authenticate(self, handler: RequestHandler) -> Caller | None:
        raise NotImplementedError

    async def authenticate_token(self, token: str) -> Caller | None:
        """The owner of an API token a browser entered (login_form authenticators)."""
        return None

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

    login_form = True
    _digest_cache: dict[bytes, str] | None = None

    @observe("api_tokens")
    def _forget_digests(self, _change: Any) -> None:
        self._digest_cache = None

    def _users_by_digest(self) -> dict[bytes, str]:
        # Look tokens up by their sha256, never by the raw token: where a
        # lookup ends depends on a digest an attacker cannot steer, so its
        # timing reveals nothing about a token (and a class of several
        # hundred tokens costs one lookup, not a comparison with each).
        # Computed once per token set, not on every request.
        if self._digest_cache is None:
            self._digest_cache = {
                hashlib.sha256(t.encode()).digest(): user for t, user in self.api_tokens.items()
            }
        return self._digest_cache

    async def authenticate(self, handler: RequestHandler) -> Caller | None:
        token = token_from_header(handler)
        return await self.authenticate_token(token) if token else None

    async def authenticate_token(self, token: str) -> Caller | None:
        presented = hashlib.sha256(token.encode("utf-8", "replace")).digest()
        found = self._users_by_digest().get(presented)
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
    service_name = Unicode(
        help="""This service's name in the hub's services list.

        $JUPYTERHUB_SERVICE_NAME by default (set by the hub for a managed
        service), else "ngshare". Unless HubAuth.access_scopes says otherwise,
        callers need the scope access:services!service=<service_name>.
        """,
    ).tag(config=True)
    hub_timeout = Float(
        10.0,
        help="""Seconds to wait for the hub to identify an uncached token.

        A hub that does not answer in time gets the request a 503 instead of
        a hang. Cached tokens (HubAuth.cache_max_age) never wait for the hub.
        """,
    ).tag(config=True)

    #: Set by the application when course roles come from hub groups.
    caller_groups: CallerGroups | None = None

    @default("service_name")
    def _default_service_name(self) -> str:
        return os.environ.get("JUPYTERHUB_SERVICE_NAME") or "ngshare"

    def __init__(self, *, prefix: str, cookie_secret: bytes, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        options: dict[str, Any] = {"parent": self}
        if self.api_url:
            options["api_url"] = self.api_url
        if self.api_token:
            options["api_token"] = self.api_token
        self.hub_auth: HubAuth
        if self.oauth and _oauth_client_id():
            self.hub_auth = self.hub_oauth = SharedStateHubOAuth(
                base_url=prefix, cookie_secret=cookie_secret, **options
            )
            self.can_redirect_to_login = True
        else:
            self.hub_auth = HubAuth(base_url=prefix, **options)
        if not self.hub_auth.access_scopes:
            # HubAuth takes the required scope from the hub's environment, so
            # an external service (started without it) would otherwise let
            # in every hub token, even one restricted to reading a name.
            self.hub_auth.access_scopes = {f"access:services!service={self.service_name}"}

    async def authenticate(self, handler: RequestHandler) -> Caller | None:
        try:
            # HubAuth's HTTP client waits minutes for a frozen hub; bound it.
            model = await asyncio.wait_for(
                self.hub_auth.get_user(handler, sync=False), self.hub_timeout or None
            )
        except asyncio.TimeoutError as e:
            self.log.error("The hub did not identify a token within %s s", self.hub_timeout)
            raise Unavailable("JupyterHub is unavailable; try again shortly") from e
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
        groups = model.get("groups")
        if self.caller_groups is not None and isinstance(groups, list):
            # The model is HubAuth's (cached) answer: this asks the hub nothing.
            # A model without "groups" says nothing about them, so changes nothing.
            await self.caller_groups.reconcile_caller(name, groups)
        return Caller(name=name, is_admin=is_admin)


def _oauth_client_id() -> str:
    return os.environ.get("JUPYTERHUB_CLIENT_ID", "")
