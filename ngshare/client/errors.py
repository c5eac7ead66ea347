"""What can go wrong between a client and ngshare: one hierarchy for every client.

Every failure the nbgrader plugin and ``ngsharectl`` can meet is a
:class:`ClientError` of one of the kinds below, carrying what was being done
(``what``), what happened (``detail``: the server's own message, or why there
was no answer), the HTTP status and the request when the server answered, and
a hint on what to do. ``str()`` of an error is the whole message::

    Could not list courses: Invalid or expired token (HTTP 403 from GET http://...). Check ...

The plugin wraps it in nbgrader's ``ExchangeError`` (``ngshare.exchange.errors``);
``ngsharectl`` maps each kind to its exit code and says it its own way
(``ngshare.cli.errors``).
"""

from __future__ import annotations

from typing import Any

JSON = dict[str, Any]


class ClientError(Exception):
    """A request to ngshare failed, or could not be made."""

    def __init__(
        self,
        detail: str,
        *,
        what: str | None = None,
        status: int | None = None,
        server_message: str | None = None,
        request: str | None = None,
        hint: str = "",
        answer: JSON | None = None,
    ) -> None:
        self.detail = detail
        #: What was being done, as the end of "Could not ..." (None: ``detail`` says all).
        self.what = what
        #: The HTTP status, when the server (or a proxy) answered.
        self.status = status
        #: The server's own ``message``, when it sent one.
        self.server_message = server_message
        #: "METHOD URL" of the request that failed.
        self.request = request
        #: What to do about it: a sentence, or "".
        self.hint = hint
        #: The server's whole JSON answer, for refusals a caller acts on (a 409's ``missing``).
        self.answer = answer or {}
        super().__init__(self.message)

    @property
    def message(self) -> str:
        text = f"Could not {self.what}: {self.detail}" if self.what else self.detail
        if self.status is not None:
            where = f" from {self.request}" if self.request else ""
            text += f" (HTTP {self.status}{where})"
        return f"{text}. {self.hint}" if self.hint else text

    def __str__(self) -> str:
        return self.message


class ConfigurationError(ClientError):
    """No server URL or token, or an unusable one: nothing was sent."""


class ServerUnreachable(ClientError):
    """No answer: the connection failed or timed out, or a proxy found no service behind it."""

    def __init__(self, detail: str, *, explanation: str = "", **fields: Any) -> None:
        #: The same failure said with the server's URL as its subject:
        #: "http://.../ refused the connection".
        self.explanation = explanation or detail
        super().__init__(detail, **fields)


class WrongService(ClientError):
    """The URL does not lead to ngshare's API (no prefix, another service, a web page)."""


class OldServer(WrongService):
    """The URL leads to ngshare 0.6 (or older), which has only the v1 API."""


class AuthenticationRefused(ClientError):
    """The server refused the token: invalid, expired, or without access to the service."""


class PermissionRefused(ClientError):
    """The token's user may not do this (HTTP 403 "Permission denied")."""


class NotFound(ClientError):
    """The course, assignment, user, submission or content does not exist (HTTP 404)."""


class Conflict(ClientError):
    """It exists already, or conflicts with what exists (HTTP 409)."""


class TooLarge(ClientError):
    """Larger than a limit of the server (HTTP 413)."""


class Rejected(ClientError):
    """The server refused the request as invalid (HTTP 400, 415, ...)."""


class ServerError(ClientError):
    """The server failed (HTTP 5xx), or its answer is broken or damaged."""


class LocalFileError(ClientError):
    """A local file could not be written or read."""


# The server's answers to a token it did not accept (ngshare.server.handlers.base
# and ngshare.server.auth): a 403 with one of these is about the token, not the task.
AUTH_MESSAGES = ("Invalid or expired token", "Authentication required", "A browser session")
AUTH_SCOPE_MESSAGE = "may not use this service"
# ngshare's answer for a route it does not have.
NO_SUCH_ROUTE = "Not found"


def refusal_kind(status: int, message: str) -> type[ClientError]:
    """The kind of error a refusal (an ngshare JSON answer with ``success: false``) is."""
    if status == 403:
        if message.startswith(AUTH_MESSAGES) or AUTH_SCOPE_MESSAGE in message:
            return AuthenticationRefused
        return PermissionRefused
    if status == 404:
        return WrongService if message == NO_SUCH_ROUTE else NotFound
    if status == 409:
        return Conflict
    if status == 413:
        return TooLarge
    if status >= 500:
        return ServerError
    return Rejected
