"""The base of handlers whose request bodies are streamed in (``data_received``).

v1 handlers (form bodies, refused past ``max_body_size`` before they are read)
and the own API's blob uploads share one problem: a refusal while the body is
still arriving cannot raise (Tornado does not turn an exception in
``data_received`` into a response), and Tornado drops the connection after
answering a request whose body it has not read, without telling the client.
:class:`StreamedBodyHandler` answers at once and says ``Connection: close``,
so a keep-alive client never sends its next request into a closing
connection.
"""

from __future__ import annotations

from typing import Any

from ngshare.server.handlers.base import APIHandler


class StreamedBodyHandler(APIHandler):
    """An API handler whose PUT/POST body arrives in chunks."""

    body_complete = False  # set once the whole body has arrived (or been read)

    def refuse(self, status: int, message: str) -> None:
        """Answer now with a JSON error; the rest of the body is discarded unread."""
        self.abort_upload()
        self._close_if_body_unread()
        self.write_json({"success": False, "message": message}, status=status)

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        self._close_if_body_unread()
        super().write_error(status_code, **kwargs)

    def _close_if_body_unread(self) -> None:
        if self.request.method in ("PUT", "POST") and not self.body_complete:
            self.set_header("Connection", "close")

    def abort_upload(self) -> None:
        """Throw away whatever of the upload is not committed (must not block)."""

    def on_connection_close(self) -> None:
        self.abort_upload()
        super().on_connection_close()

    def on_finish(self) -> None:
        self.abort_upload()
