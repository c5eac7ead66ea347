"""Hub OAuth login state that every replica can read.

A browser logs in with two requests to ngshare: the first sends it to the hub
with an OAuth state (the page to return to, the PKCE code verifier), and the
hub sends it back to ngshare's OAuth callback with that state. JupyterHub's
``HubOAuth`` keeps the state in the memory of the process that made it, so
behind a load balancer a callback reaching another replica finds no code
verifier, the hub refuses the code, and the browser gets an error: replicas
would need session affinity.

Here the state travels in the OAuth ``state`` parameter itself, encrypted and
authenticated (Fernet) with a key derived from the cookie secret that all
replicas share (``NGSHARE_COOKIE_SECRET``). Any replica can read it; nobody
without the secret can read it or make one, so the code verifier stays as
secret as in HubOAuth's memory; and it expires after ``oauth_state_max_age``
seconds, as HubOAuth's own does. The state cookie still binds a login to the
browser that started it.
"""

from __future__ import annotations

import base64
import json
from typing import Any

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives.hashes import SHA256
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from jupyterhub.services.auth import HubOAuth

# Separates this key from any other use of the cookie secret (tornado signs
# cookies with the secret itself).
KEY_PURPOSE = b"ngshare oauth state"
# Seconds a login state lives where HubOAuth has no oauth_state_max_age
# (older JupyterHub): as long as its state cookie.
STATE_COOKIE_MAX_AGE = 600


def state_key(cookie_secret: bytes) -> bytes:
    """The Fernet key for login states, derived from the shared cookie secret."""
    key = HKDF(algorithm=SHA256(), length=32, salt=None, info=KEY_PURPOSE).derive(cookie_secret)
    return base64.urlsafe_b64encode(key)


class SharedStateHubOAuth(HubOAuth):
    """HubOAuth whose login state any replica with the same cookie secret can read."""

    def __init__(self, *, cookie_secret: bytes, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._state_cipher = Fernet(state_key(cookie_secret))

    def generate_state(self, next_url: str | None = None, **extra_state: Any) -> str:
        state = {"next_url": next_url, **extra_state}
        return self._state_cipher.encrypt(json.dumps(state).encode()).decode("ascii")

    def _decode_state(self, state_id: str, /) -> dict[str, Any]:
        # Called with whatever a browser sent as the state: anything that is
        # not a live state of ours is no state at all.
        max_age = getattr(self, "oauth_state_max_age", STATE_COOKIE_MAX_AGE)
        try:
            plain = self._state_cipher.decrypt(state_id, ttl=max_age)
            state = json.loads(plain)
        except (InvalidToken, ValueError, TypeError):
            return {}
        return state if isinstance(state, dict) else {}

    def clear_oauth_state(self, state_id: str) -> None:
        """Nothing to clear: no state is kept, and a used one's cookie is gone."""
