"""gzip variants of blobs, compressed once and kept in memory.

Every student of a course downloads the same released notebooks; compressing
them anew for each download was a third of the server's CPU for a fetch.
Blobs never change (the name is the content's hash), so a compressed variant
stays valid for as long as it is kept: no invalidation, only eviction of the
least recently used variants beyond a byte budget. Each server process (each
replica) keeps its own; nothing is shared or persisted.

A gzip member a client uploaded is kept as is (:meth:`GzipCache.offer`): the
upload already proved that it inflates to exactly the blob, so collecting a
class's submissions sends back what the students compressed instead of
compressing every notebook again.

A variant compressed on a miss joins at the cold end and earns its place
when it is asked for again (a released notebook, by the next student). A
collect larger than the budget then compresses only what had been evicted,
instead of each miss evicting the next submission the same collect needs.
"""

from __future__ import annotations

import itertools
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable

from ngshare.protocol.blob_frames import gzip_compressor, worth_compressing

# What an entry saying "not worth compressing" is counted as.
NEGATIVE_ENTRY_COST = 128
# Below this ratio the wire saving does not pay for decompressing.
WORTHWHILE_RATIO = 0.9


def gzip_member(chunks: Iterable[bytes]) -> bytes:
    compressor = gzip_compressor()
    parts = [compressor.compress(chunk) for chunk in chunks]
    parts.append(compressor.flush())
    return b"".join(parts)


class GzipCache:
    """sha256 -> gzip member of the blob, or None if compressing did not pay."""

    def __init__(self, budget: int, max_blob_size: int) -> None:
        self.budget = budget
        self.max_blob_size = max_blob_size
        self._entries: OrderedDict[str, bytes | None] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()

    def accepts(self, size: int) -> bool:
        return self.budget > 0 and size <= self.max_blob_size

    def get_or_compress(
        self, sha256: str, size: int, read: Callable[[], Iterable[bytes]]
    ) -> bytes | None:
        """The cached variant, compressing it on first use (call from a worker thread)."""
        with self._lock:
            if sha256 in self._entries:
                self._entries.move_to_end(sha256)
                return self._entries[sha256]
        chunks = iter(read())
        first = next(chunks, b"")
        compressed: bytes | None = None
        if worth_compressing(first, size):
            compressed = gzip_member(itertools.chain([first], chunks))
            if len(compressed) > size * WORTHWHILE_RATIO:
                compressed = None
        self._add(sha256, compressed, hot=False)
        return compressed

    def offer(self, sha256: str, size: int, member: bytes) -> None:
        """Keep a gzip member known to inflate to the blob, if it saves enough."""
        if self.accepts(size) and len(member) <= size * WORTHWHILE_RATIO:
            self._add(sha256, member, hot=True)

    def _add(self, sha256: str, compressed: bytes | None, *, hot: bool) -> None:
        with self._lock:
            if sha256 in self._entries:
                return  # the first variant stays: any valid one will do
            self._entries[sha256] = compressed
            if not hot:
                self._entries.move_to_end(sha256, last=False)
            self._bytes += _cost(compressed)
            while self._bytes > self.budget and self._entries:
                _, evicted = self._entries.popitem(last=False)
                self._bytes -= _cost(evicted)


def _cost(entry: bytes | None) -> int:
    return NEGATIVE_ENTRY_COST if entry is None else len(entry)
