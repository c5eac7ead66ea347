"""The Hub OAuth callback, for browsers logging in through JupyterHub."""

from __future__ import annotations

from jupyterhub.services.auth import HubOAuthCallbackHandler

from ngshare.server.handlers.base import APIHandler


class OAuthCallbackHandler(APIHandler, HubOAuthCallbackHandler):
    """JupyterHub's callback handler, with this service's hub_auth and JSON errors."""

    requires_auth = False

    async def get(self) -> None:
        await HubOAuthCallbackHandler.get(self)
