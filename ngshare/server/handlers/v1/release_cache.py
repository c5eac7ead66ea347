"""The v1 answer to fetching a release, encoded once and kept in memory.

Every student of a course fetches the same release, and v1 answers with all
of its files base64-encoded in one JSON body (megabytes); encoding it again for
each student was most of the server's CPU for a fetch. So the encoded body is
kept, keyed by what it is made of: each file's path, sha256 and md5, in the
order listed. The same key always means the same bytes, so an entry can never
be stale: a re-released, replaced, deleted or restored assignment lists other
files (a new key), or the same files (the same body). Nothing is invalidated,
only the least recently used answers evicted beyond a byte budget. Each server
process (each replica) keeps its own, within ``NgshareApp.release_cache_size``.

The cache holds answers, not permissions: the handler checks that the caller
may read the release before it looks here, on every request.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass

from ngshare.server.handlers.v1.tree import encode_tree
from ngshare.server.service.files import FileView

#: What an encoded release is made of: (path, sha256, md5) of each file, in order.
ReleaseKey = tuple[tuple[str, str, str], ...]


def release_key(views: Sequence[FileView]) -> ReleaseKey:
    return tuple((v.path, v.sha256, v.md5) for v in views)


# What precedes each file's base64 text in the body. No JSON string can hold
# it unescaped, so it only ever opens a "content" value.
_CONTENT_OPENS = b'"content": "'


@dataclass(frozen=True)
class EncodedRelease:
    """A release's whole response body, with the ETag Tornado gives that body.

    ``encodings``: where each file's base64 text lies in ``body``, so content
    a client sends back unchanged (a submission's data file) is recognised by
    its text alone, without decoding and hashing megabytes again.
    """

    body: bytes
    etag: str
    encodings: tuple[tuple[FileView, int, int], ...] = ()

    def recognise(self, text: str) -> FileView | None:
        """The released file whose base64 encoding is exactly ``text``, if any."""
        for view, start, end in self.encodings:
            if end - start == len(text):
                try:
                    if self.body.startswith(text.encode("ascii"), start):
                        return view
                except UnicodeEncodeError:
                    return None  # not base64: the decoder will say so
        return None


def encode_release(views: Sequence[FileView], contents: Sequence[bytes]) -> EncodedRelease:
    """The body ``success(files=...)`` would send (the same ``json.dumps`` call)."""
    files = encode_tree(views, contents)
    body = json.dumps({"success": True, "files": files}).encode("utf-8")
    # Tornado's RequestHandler.compute_etag, computed once instead of per answer.
    etag = f'"{hashlib.sha1(body, usedforsecurity=False).hexdigest()}"'
    encodings = []
    position = 0
    for view, entry in zip(views, files, strict=True):
        start = body.index(_CONTENT_OPENS, position) + len(_CONTENT_OPENS)
        position = start + len(entry["content"])
        if not body.startswith(entry["content"].encode("ascii"), start):
            return EncodedRelease(body, etag)  # never expected; recognise nothing
        encodings.append((view, start, position))
    return EncodedRelease(body, etag, tuple(encodings))


class ReleaseCache:
    """Encoded release answers by :data:`ReleaseKey`, least recently used evicted first.

    Safe to use from the event loop and from worker threads alike.
    """

    def __init__(self, budget: int) -> None:
        self.budget = budget
        self._entries: OrderedDict[ReleaseKey, EncodedRelease] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()

    @property
    def size(self) -> int:
        """Bytes of response bodies held."""
        return self._bytes

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, key: ReleaseKey) -> EncodedRelease | None:
        with self._lock:
            found = self._entries.get(key)
            if found is not None:
                self._entries.move_to_end(key)
            return found

    def put(self, key: ReleaseKey, encoded: EncodedRelease) -> None:
        """Keep ``encoded`` unless it alone is over the budget; evict to make room."""
        cost = len(encoded.body)
        if cost > self.budget:
            return
        with self._lock:
            previous = self._entries.pop(key, None)
            if previous is not None:
                self._bytes -= len(previous.body)
            self._entries[key] = encoded
            self._bytes += cost
            while self._bytes > self.budget:
                _, evicted = self._entries.popitem(last=False)
                self._bytes -= len(evicted.body)
