"""nbgrader's view of a failed request: an ``ExchangeError`` carrying the client's error.

nbgrader's commands and Jupyter extensions catch ``ExchangeError`` around
every exchange action; the plugin's requests fail with the client's
:class:`~ngshare.client.errors.ClientError`, which :class:`NgshareError` wraps
at the edge of each action (``Exchange.start``) with the same message.
"""

from __future__ import annotations

from nbgrader.exchange.abc import ExchangeError

from ngshare.client.errors import ClientError


class NgshareError(ExchangeError):
    """A request to ngshare failed; ``str()`` is the message to show the user."""

    def __init__(self, error: ClientError, message: str | None = None) -> None:
        super().__init__(message or str(error))
        #: The client's error: its kind, status, the server's message, the hint.
        self.error = error

    @property
    def status(self) -> int | None:
        return self.error.status

    @property
    def server_message(self) -> str | None:
        return self.error.server_message
