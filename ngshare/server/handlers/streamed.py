"""The base of handlers whose request bodies are streamed in (``data_received``).

v1 handlers (form bodies, refused past ``max_body_size`` before they are read)
and the own API's blob uploads share one problem: a refusal while the body is
still arriving cannot raise (Tornado does not turn an exception in
``data_received`` into a response), and Tornado drops the connection after
answering a request whose body it has not read, without telling the client.
:class:`StreamedBodyHandler` answers at once and says ``Connection: close``,
so a keep-alive client never sends its next request into a closing
connection.

The same holds for a request without a body (a GET) refused in ``prepare()``
(no token, not a member): Tornado counts its (empty) body as taken in only
once ``prepare()`` has returned, so a refusal raised there closes the
connection too. Every error answer of these handlers before the body is known
to be in therefore says ``Connection: close``; an error of a GET's method
itself closes a connection that could have stayed open, which costs a client
one reconnect on a refusal and nothing on a success.
"""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Any, Protocol

from ngshare.server.handlers.base import APIHandler
from ngshare.server.service.errors import ServiceError


class Upload(Protocol):
    """What takes a streamed body in (the service layer's intake uploads)."""

    def receive(self, chunk: bytes) -> Awaitable[None]: ...

    def abort(self) -> None: ...


class StreamedBodyHandler(APIHandler):
    """An API handler whose PUT/POST body arrives in chunks.

    A subclass that sets :attr:`upload` in ``prepare()`` has the body's chunks
    passed to it, and the upload thrown away if the request ends without
    committing it; a subclass that takes its body in otherwise overrides
    ``data_received`` and :meth:`abort_upload`.
    """

    body_complete = False  # set once the whole body has arrived (or been read)
    upload: Upload | None = None

    def refuse(self, status: int, message: str) -> None:
        """Answer now with a JSON error; the rest of the body is discarded unread."""
        self.answered_early = True
        self.abort_upload()
        self._close_if_body_unread()
        self.write_json({"success": False, "message": message}, status=status)

    async def receive(self, step: Awaitable[None]) -> None:
        """Await a step of taking the body in; a refusal of it answers at once."""
        try:
            await step
        except ServiceError as error:
            self.refuse(error.status, error.message)

    def declared_length(self) -> int | None:
        """The body's Content-Length, if it has one."""
        length = self.request.headers.get("Content-Length")
        return int(length) if length is not None and length.isdigit() else None

    def cap_body(self, max_body: int) -> None:
        """The connection's own cap on the body: a backstop for bodies without a length.

        Whatever takes the body in refuses first, with a clear 413, as the
        body passes a limit; past this cap Tornado only drops the connection.
        """
        self.request.connection.set_max_body_size(max_body)  # type: ignore[union-attr]

    def body_received(self) -> bool:
        """In the method, once the body is all in: False if it was refused meanwhile."""
        if self.answered_early:
            return False
        self.body_complete = True
        return True

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        self._close_if_body_unread()
        super().write_error(status_code, **kwargs)

    def _close_if_body_unread(self) -> None:
        if not self.body_complete:
            self.set_header("Connection", "close")

    def data_received(self, chunk: bytes) -> Awaitable[None] | None:
        if self.upload is not None and not self.answered_early:
            return self.receive(self.upload.receive(chunk))
        return None

    def abort_upload(self) -> None:
        """Throw away whatever of the upload is not committed (must not block)."""
        if self.upload is not None:
            self.upload.abort()

    def on_connection_close(self) -> None:
        self.abort_upload()
        super().on_connection_close()

    def on_finish(self) -> None:
        self.abort_upload()
