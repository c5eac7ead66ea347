"""What every v1 handler shares: form arguments, file trees, timestamps."""

from __future__ import annotations

import datetime
from collections.abc import Sequence

from ngshare.handlers.base import APIError, APIHandler
from ngshare.handlers.v1.tree import UploadedFile, decode_tree, encode_tree
from ngshare.service.files import FileView, StoredFile
from ngshare.timestamps import parse_v1


class V1Handler(APIHandler):
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

    async def uploaded_files(self) -> list[UploadedFile]:
        """Decode and validate the ``files`` field (off the event loop: it may be large)."""
        return await self.runner.in_thread(decode_tree, self.get_argument("files", None))

    async def store_files(self, files: Sequence[UploadedFile]) -> list[StoredFile]:
        infos = await self.runner.store_blobs([f.content for f in files])
        return [StoredFile(f.path, info) for f, info in zip(files, infos, strict=True)]

    async def encoded_tree(self, views: Sequence[FileView]) -> list[dict[str, str]]:
        if self.list_only:
            return encode_tree(views, None)
        contents = await self.runner.read_blobs([v.sha256 for v in views])
        return await self.runner.in_thread(encode_tree, views, contents)
