"""What every v1 handler shares: form arguments, file trees, timestamps.

v1 sends files base64-encoded inside form fields, so bodies can be large.
They are streamed in rather than buffered by Tornado, for two reasons: a body
over the limit is refused with a JSON 413 before it is read (Tornado's own
limit only drops the connection), and the form is parsed in a worker thread,
not on the event loop, before a handler reads its fields (``await
self.read_form()``).
"""

from __future__ import annotations

import datetime
from collections.abc import Sequence

from tornado import web

from ngshare.protocol.timestamps import parse_v1
from ngshare.server.handlers.base import APIError
from ngshare.server.handlers.streamed import StreamedBodyHandler
from ngshare.server.handlers.v1.form import parse_form
from ngshare.server.handlers.v1.release_cache import ReleaseCache
from ngshare.server.handlers.v1.tree import Recognise, decode_tree, encode_tree
from ngshare.server.service.files import FileView, StoredFile
from ngshare.server.service.intake import UploadedFile


@web.stream_request_body
class V1Handler(StreamedBodyHandler):
    api_name = "v1"
    #: Whether POST carries files into a course (the first path argument).
    uploads_files = False
    _body_parts: list[bytes]
    _body_size = 0

    @property
    def max_body_size(self) -> int:
        """The largest request body (an HTTP limit: v1 bodies are buffered whole)."""
        return int(self.settings["max_body_size"])

    async def prepare(self) -> None:
        await super().prepare()
        if self.answered_early:
            return
        self._body_parts = []
        if self.uploads_files and self.request.method == "POST":
            # A full course refuses before its upload is read. (The exact
            # check, with the decoded sizes, runs when the files are stored.)
            await self.runner.intake.check_course_not_full(self.caller, self.path_args[0])
        length = self.declared_length()
        if length is not None and length > self.max_body_size:
            self._refuse_large_body()
            return
        # data_received() enforces the limit with a JSON answer.
        self.cap_body(self.max_body_size + 1024 * 1024)

    def _refuse_large_body(self) -> None:
        self.refuse(413, f"The request is larger than the limit of {self.max_body_size} bytes")

    def abort_upload(self) -> None:
        self._body_parts = []

    def data_received(self, chunk: bytes) -> None:
        if self.answered_early:
            return
        self._body_size += len(chunk)
        if self._body_size > self.max_body_size:
            self._refuse_large_body()
            return
        self._body_parts.append(chunk)

    async def read_form(self) -> None:
        """Parse the form body (in a worker thread) so get_argument() sees its fields."""
        if self.answered_early:
            raise web.Finish()  # already refused while the body arrived
        if self.body_complete:
            return
        self.body_complete = True
        body, self._body_parts = b"".join(self._body_parts), []
        if not body:
            return
        fields = await self.runner.in_thread(
            parse_form, self.request.headers.get("Content-Type", ""), body, self.request.headers
        )
        for name, values in fields.items():
            self.request.body_arguments.setdefault(name, []).extend(values)
            self.request.arguments.setdefault(name, []).extend(values)

    @property
    def list_only(self) -> bool:
        return self.get_argument("list_only", "false") == "true"

    def required_argument(self, name: str, message: str) -> str:
        value = self.get_argument(name, None)
        if value is None:
            raise APIError(400, message)
        return value

    def timestamp_argument(self, *, required: bool) -> datetime.datetime | None:
        raw = self.get_argument("timestamp", "")
        if not raw:
            if required:
                raise APIError(400, "Please supply timestamp")
            return None
        parsed = parse_v1(raw)
        if parsed is None:
            raise APIError(400, "Time format incorrect")
        return parsed

    @property
    def release_cache(self) -> ReleaseCache:
        return self.settings["release_cache"]

    async def uploaded_files(self, recognise: Recognise | None = None) -> list[UploadedFile]:
        """Decode and validate the ``files`` field (off the event loop: it may be large).

        The field's raw bytes go to the decoder as sent: ``get_argument`` would
        first decode and scan megabytes of text on the event loop.
        """
        values = self.request.arguments.get("files")
        return await self.runner.in_thread(decode_tree, values[-1] if values else None, recognise)

    async def store_files(
        self, files: Sequence[UploadedFile], held: Sequence[FileView] = ()
    ) -> list[StoredFile]:
        """Hand the files to the intake: checked against every limit, then stored.

        Content known to be stored already (``held``) is not stored again.
        """
        return await self.runner.intake.store_tree(files, held)

    async def encoded_tree(self, views: Sequence[FileView]) -> list[dict[str, str]]:
        if self.list_only:
            return encode_tree(views, None)
        contents = await self.runner.reader.read_all([v.sha256 for v in views])
        return await self.runner.in_thread(encode_tree, views, contents)
