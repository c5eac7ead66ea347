"""What an answer means, or the lack of one: a success's JSON, or the error a failure is.

ngshare answers JSON, ``{"success": true, ...}`` or a refusal with its
``message``; which kind of :class:`~ngshare.client.errors.ClientError` a
refusal is follows from its status and message. Anything else says where the
request went wrong: a redirect to the hub's login (the token), a proxy with
no service behind it (502/503/504), a page that is not ngshare's (the URL),
or, for the own API's paths, an ngshare 0.6 server, which has only v1 and
answers them with an HTML 404 or 405. No answer at all is explained by its
cause, in a few words and as a sentence about the server's URL.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import requests
from urllib3.exceptions import NewConnectionError

from ngshare.client.errors import (
    JSON,
    AuthenticationRefused,
    ClientError,
    OldServer,
    PermissionRefused,
    ServerError,
    ServerUnreachable,
    WrongService,
    refusal_kind,
)
from ngshare.client.settings import Sources
from ngshare.protocol.api import API_PATH

RETRY_STATUSES = frozenset({502, 503, 504})
# What ngshare 0.6 answers on a path it does not have: its HTML 404, or a 405.
NO_SUCH_PATH = frozenset({404, 405})


@dataclass(frozen=True)
class Answer:
    status: int
    body: bytes
    location: str | None


class StreamBroken(Exception):
    """A response body broke off while it was being consumed."""

    def __init__(self, error: requests.RequestException) -> None:
        super().__init__(str(error))
        self.error = error


def decode(
    answer: Answer,
    *,
    request: str,
    what: str,
    who_may: str | None,
    sources: Sources,
    own_api: bool,
    is_ngshare: Callable[[], bool],
) -> JSON:
    """The JSON body of a success, or the ClientError a failure deserves.

    ``own_api``: the request was for a path of the own API; ``is_ngshare``
    asks whether ngshare answers at the base URL at all (a request, made only
    when an own-API path was missing).
    """
    status = answer.status
    fields: dict[str, Any] = {"what": what, "status": status, "request": request}
    if 300 <= status < 400:
        # The service sends a request without a valid token to the hub's login.
        raise AuthenticationRefused(
            f"ngshare redirected the request to {answer.location or '?'}, so the API token "
            "was not accepted",
            hint=sources.token_hint,
            **fields,
        )
    try:
        decoded = json.loads(answer.body)
    except ValueError:
        decoded = None
    if not isinstance(decoded, dict) or "success" not in decoded:
        if own_api and status in NO_SUCH_PATH and is_ngshare():
            raise OldServer(
                "this is an ngshare 0.6 (v1-only) server: it does not have the own API "
                f"({API_PATH}) this needs",
                hint=sources.old_server,
                **fields,
            )
        raise not_ngshare(status, fields, sources)
    if 200 <= status < 300 and decoded.get("success") is True:
        return decoded
    message = str(decoded.get("message") or "no message")
    kind = refusal_kind(status, message)
    hint = refusal_hint(kind, who_may, sources)
    raise kind(message, server_message=message, hint=hint, answer=decoded, **fields)


def refusal_hint(kind: type[ClientError], who_may: str | None, sources: Sources) -> str:
    """What to do about a refusal of this kind."""
    if kind is PermissionRefused:
        return f"Only {who_may} may do this." if who_may else ""
    if kind is AuthenticationRefused:
        return sources.token_hint
    if issubclass(kind, WrongService):
        return sources.url_hint
    if kind is ServerError:
        return "The server's log says more."
    return ""


def not_ngshare(status: int, fields: dict[str, Any], sources: Sources) -> ClientError:
    """An answer that is not ngshare's JSON: a proxy without its service, or a wrong URL."""
    if status in RETRY_STATUSES:
        return ServerUnreachable(
            "the proxy in front of ngshare answered, but the service behind it did not",
            hint=sources.reach_hint,
            **fields,
        )
    return WrongService(
        "the server did not answer with ngshare's JSON", hint=sources.url_hint, **fields
    )


def unreachable(
    error: requests.RequestException | StreamBroken,
    what: str,
    base_url: str,
    timeout: tuple[float, float],
    sources: Sources,
) -> ServerUnreachable:
    """The error for a request that got no answer."""
    hint = sources.reach_hint
    if isinstance(error, requests.ReadTimeout):
        hint += f" If it is merely slow, raise {sources.timeout}."
    return ServerUnreachable(
        f"cannot reach ngshare at {base_url} ({reason(error)})",
        explanation=_explanation(error, base_url, timeout),
        what=what,
        hint=hint,
    )


def never_sent(error: requests.RequestException | StreamBroken) -> bool:
    """Whether the request certainly did not reach the server (safe to resend)."""
    if isinstance(error, StreamBroken):
        return False
    if isinstance(error, requests.ConnectTimeout):
        return True
    reason = getattr(error.args[0], "reason", None) if error.args else None
    return isinstance(reason, NewConnectionError)


def _cause(error: requests.RequestException) -> str:
    """Which way a connection failed: refused, unknown host, TLS, or other."""
    if isinstance(error, requests.exceptions.SSLError):
        return "tls"
    text = str(error)
    if "Connection refused" in text:
        return "refused"
    names = ("Name or service not known", "nodename nor servname", "Temporary failure in name")
    if any(s in text for s in (*names, "No address")):
        return "host"
    return "failed"


def reason(error: requests.RequestException | StreamBroken) -> str:
    """Why a request got no answer, in a few words."""
    if isinstance(error, StreamBroken):
        return f"the transfer broke off: {reason(error.error)}"
    if isinstance(error, requests.ConnectTimeout):
        return "no connection in time"
    if isinstance(error, requests.Timeout):
        return "timed out"
    if isinstance(error, requests.ConnectionError):
        return {
            "tls": "TLS handshake failed",
            "refused": "connection refused",
            "host": "unknown host name",
        }.get(_cause(error), "connection failed")
    return type(error).__name__


def _explanation(
    error: requests.RequestException | StreamBroken, url: str, timeout: tuple[float, float]
) -> str:
    """Why a request got no answer, as a sentence about the server's URL."""
    if isinstance(error, StreamBroken):
        return f"the transfer from {url} broke off ({reason(error.error)})"
    if isinstance(error, requests.ConnectTimeout):
        return f"no connection to {url} within {timeout[0]:g} s"
    if isinstance(error, requests.Timeout):
        return f"{url} did not answer within {timeout[1]:g} s"
    if isinstance(error, requests.ConnectionError):
        return {
            "tls": f"the TLS handshake with {url} failed (is its certificate trusted here?)",
            "refused": f"{url} refused the connection",
            "host": f"the host name of {url} is unknown here",
        }.get(_cause(error), f"the connection to {url} failed")
    return f"the request to {url} failed ({type(error).__name__})"
