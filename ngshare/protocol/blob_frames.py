"""Many blobs in one HTTP body: the framing of the own API's batch transfers.

One request per file made a student's fetch and submit ten requests, and
each request costs the server authentication and a transaction. A batch body
carries any number of blobs, one *frame* each::

    {"sha256": "<64 hex>", "size": <bytes>, "encoding": "identity"}\\n
    <exactly size bytes>
    {"sha256": "<64 hex>", "size": <bytes>, "encoding": "gzip"}\\n
    <one gzip member that inflates to exactly size bytes>

The header is one line of JSON. A gzip member ends itself, so a sender can
compress while it streams without knowing the compressed length first; the
``size`` lets the receiver refuse an oversize blob before reading it and stop
a decompression bomb at ``size`` bytes.

:class:`FrameParser` is a push parser shared by the server (uploads) and the
exchange plugin and benchmark (downloads): it takes the body in whatever
chunks the network delivers and never holds more than one chunk of output.
Checking that a blob's bytes match its sha256 is the receiver's job, because
only it knows where the bytes go.

A *bundle* is a manifest and content in one body: a first line of JSON (an
object whose ``files`` is the manifest), then frames. A submission travels
as one (the server can refuse it from the manifest before storing any blob),
and so does a fetch (the release's manifest and every blob of it): one
request where a manifest plus a batch took two or three.
"""

from __future__ import annotations

import json
from collections.abc import Generator, Iterator
from dataclasses import dataclass
from typing import Any, cast

from ngshare.protocol.names import is_sha256

try:
    # ISA-L's deflate writes and reads the same gzip as zlib, inflating about
    # 2.5 and compressing about 9 times faster: a server inflates every frame
    # a class submits, and compresses what it sends on a cache miss.
    from isal import isal_zlib as deflate
except ImportError:  # a platform isal has no wheel for
    import zlib as deflate  # type: ignore[no-redef]

# isal's stubs type its error as an instance; it is the exception class.
GzipError = cast("type[Exception]", deflate.error)

CONTENT_TYPE = "application/x-ngshare-blob-frames"
BUNDLE_CONTENT_TYPE = "application/x-ngshare-bundle"
IDENTITY = "identity"
GZIP = "gzip"
ENCODINGS = frozenset({IDENTITY, GZIP})
MAX_HEADER = 1024
# A bundle's first line: room for the manifest of 10,000 files.
MAX_BUNDLE_HEAD = 8 * 1024 * 1024
# Output of one decompression step: bounds memory whatever the ratio.
OUTPUT_STEP = 1024 * 1024
# Input of one decompression step: bounds what the inflater copies.
INPUT_STEP = 64 * 1024
# Level 1: most of the saving on notebook JSON for a fraction of the CPU.
GZIP_LEVEL = 1
# Compressing costs CPU on both ends; below this size it saves too little.
MIN_COMPRESSIBLE = 1024
SNIFF_BYTES = 8192


class FrameError(ValueError):
    """The body is not a valid sequence of frames."""


class FrameTooLarge(FrameError):
    """A frame announces more bytes than the receiver accepts."""


@dataclass(frozen=True)
class FrameHeader:
    sha256: str
    size: int
    encoding: str


def frame_header(sha256: str, size: int, encoding: str) -> bytes:
    line = json.dumps({"sha256": sha256, "size": size, "encoding": encoding})
    return line.encode("ascii") + b"\n"


def gzip_compressor() -> Any:
    """A compressor making one gzip member, as a gzip frame carries."""
    return deflate.compressobj(GZIP_LEVEL, wbits=31)


def gzip_inflater() -> Any:
    """A decompressor of one gzip member (``decompress(data, max_length)`` as zlib's)."""
    return deflate.decompressobj(wbits=31)


def encode_frame(sha256: str, data: bytes, *, compress: bool = True) -> bytes:
    """One whole frame of content in memory, gzip if it looks like text."""
    if compress and worth_compressing(data[:SNIFF_BYTES], len(data)):
        compressor = gzip_compressor()
        member = compressor.compress(data) + compressor.flush()
        return frame_header(sha256, len(data), GZIP) + member
    return frame_header(sha256, len(data), IDENTITY) + data


def worth_compressing(sample: bytes, size: int) -> bool:
    """Text-like content (notebooks are JSON) compresses well; binary rarely does."""
    return size >= MIN_COMPRESSIBLE and b"\x00" not in sample[:SNIFF_BYTES]


def _parse_header(line: bytes, max_size: int) -> FrameHeader:
    try:
        fields = json.loads(line)
    except ValueError:
        raise FrameError("A frame header is not valid JSON") from None
    if not isinstance(fields, dict):
        raise FrameError("A frame header must be a JSON object")
    sha256, size, encoding = fields.get("sha256"), fields.get("size"), fields.get("encoding")
    if not is_sha256(sha256):
        raise FrameError("A frame's sha256 must be 64 lowercase hex digits")
    if not isinstance(size, int) or isinstance(size, bool) or size < 0:
        raise FrameError("A frame's size must be a non-negative integer")
    if encoding not in ENCODINGS:
        raise FrameError(f"A frame's encoding must be one of {sorted(ENCODINGS)}")
    if size > max_size:
        raise FrameTooLarge(f"A file is larger than the limit of {max_size} bytes")
    return FrameHeader(sha256, size, encoding)


@dataclass(frozen=True)
class FrameStart:
    header: FrameHeader


@dataclass(frozen=True)
class FrameData:
    data: bytes


@dataclass(frozen=True)
class FrameEnd:
    header: FrameHeader
    # The gzip member exactly as it was sent, when the parser keeps members
    # (``keep_members``) and this one was no larger than that.
    member: bytes | None = None


FrameEvent = FrameStart | FrameData | FrameEnd


class FrameParser:
    """Turns body chunks into start / data / end events, frame by frame.

    ``keep_members``: hand back each gzip member of up to that many bytes
    with its :class:`FrameEnd`, so that a receiver can keep the compressed
    form it was sent instead of compressing the content again.
    """

    def __init__(self, max_size: int, *, keep_members: int = 0) -> None:
        self.max_size = max_size
        self.keep_members = keep_members
        self._member: bytearray | None = None
        self._line = bytearray()
        self._header: FrameHeader | None = None
        self._remaining = 0  # identity: bytes still to come
        self._inflater: Any = None
        self._produced = 0  # gzip: bytes inflated so far
        self.frames = 0

    @property
    def in_frame(self) -> bool:
        return self._header is not None or bool(self._line)

    def feed(self, data: bytes) -> Iterator[FrameEvent]:
        # Bytes left over after a gzip member are parsed before the rest of
        # the chunk: a stack, so that many small frames need no recursion.
        pending = [memoryview(data)]
        while pending:
            view = pending.pop()
            while view:
                if self._header is None:
                    view = yield from self._read_header(view)
                elif self._inflater is None:
                    take = min(self._remaining, len(view))
                    self._remaining -= take
                    yield FrameData(bytes(view[:take]))
                    view = view[take:]
                    if self._remaining == 0:
                        yield self._end()
                else:
                    leftover, view = yield from self._inflate(view)
                    if leftover:
                        pending.append(view)
                        view = memoryview(leftover)

    def close(self) -> None:
        """The body ended: it must not end inside a frame."""
        if self.in_frame:
            raise FrameError("The body ends inside a frame")

    def _read_header(self, view: memoryview) -> Generator[FrameEvent, None, memoryview]:
        newline = bytes(view[: MAX_HEADER + 1]).find(b"\n")
        if newline < 0:
            self._line += view
            if len(self._line) > MAX_HEADER:
                raise FrameError("A frame header is too long")
            return memoryview(b"")
        self._line += view[:newline]
        if len(self._line) > MAX_HEADER:
            raise FrameError("A frame header is too long")
        header = _parse_header(bytes(self._line), self.max_size)
        self._line.clear()
        self._header = header
        self.frames += 1
        yield FrameStart(header)
        if header.encoding == GZIP:
            self._inflater = gzip_inflater()
            self._produced = 0
            self._member = bytearray() if self.keep_members else None
        else:
            self._remaining = header.size
            if header.size == 0:
                yield self._end()
        return view[newline + 1 :]

    def _inflate(self, view: memoryview) -> Generator[FrameEvent, None, tuple[bytes, memoryview]]:
        """Inflate from the start of ``view``; returns (bytes after the member, the rest).

        The inflater gets at most INPUT_STEP bytes at a time: what it copies
        (its unconsumed or unused input) stays small however large the chunk.
        """
        inflater, header = self._inflater, self._header
        assert inflater is not None and header is not None
        pending: bytes | memoryview = view[:INPUT_STEP]
        rest = view[INPUT_STEP:]
        if self._member is not None:
            self._member += pending
            if len(self._member) > self.keep_members + INPUT_STEP:
                self._member = None  # too large to keep: stop copying it
        while True:
            # Ask for one byte more than may come, to notice a member that
            # inflates past its announced size without inflating all of it.
            room = min(OUTPUT_STEP, header.size - self._produced + 1)
            try:
                output = inflater.decompress(pending, room)
            except GzipError:
                raise FrameError("A gzip frame is corrupt") from None
            self._produced += len(output)
            if self._produced > header.size:
                raise FrameError("A gzip frame inflates to more than its size")
            if output:
                yield FrameData(output)
            pending = inflater.unconsumed_tail
            if inflater.eof:
                if self._produced != header.size:
                    raise FrameError("A gzip frame inflates to less than its size")
                leftover = inflater.unused_data
                self._inflater = None
                yield self._end(self._kept_member(len(leftover)))
                return leftover, rest
            if not pending and len(output) < room:
                # A full output step may leave more inside the inflater.
                return b"", rest

    def _kept_member(self, unused: int) -> bytes | None:
        """The member just ended: what was fed for it, less what followed it."""
        member, self._member = self._member, None
        if member is None:
            return None
        if unused:
            del member[-unused:]
        return bytes(member) if len(member) <= self.keep_members else None

    def _end(self, member: bytes | None = None) -> FrameEnd:
        header = self._header
        assert header is not None
        self._header = None
        return FrameEnd(header, member)


def bundle_head(fields: dict[str, object]) -> bytes:
    """The first line of a bundle: one JSON object."""
    return json.dumps(fields).encode("utf-8") + b"\n"


@dataclass(frozen=True)
class BundleHead:
    """The bundle's first line, parsed: a JSON object (its manifest and more)."""

    fields: dict[str, object]


class BundleParser:
    """Turns a bundle's chunks into its :class:`BundleHead`, then frame events."""

    def __init__(
        self, max_size: int, *, keep_members: int = 0, max_head: int = MAX_BUNDLE_HEAD
    ) -> None:
        self.frames = FrameParser(max_size, keep_members=keep_members)
        self.max_head = max_head
        self.head: dict[str, object] | None = None
        self._line = bytearray()

    def read_head(self, data: bytes) -> tuple[BundleHead | None, bytes]:
        """Take the first line from ``data``: (the head once complete, the bytes after it).

        A receiver that acts on the manifest before any content (the server
        refusing a submission early) calls this until it has the head, then
        feeds the rest to :attr:`frames`.
        """
        if self.head is not None:
            return None, data
        newline = data.find(b"\n", 0, self.max_head + 1)
        self._line += data if newline < 0 else data[:newline]
        if len(self._line) > self.max_head:
            raise FrameTooLarge("The manifest line of the bundle is too long")
        if newline < 0:
            return None, b""
        try:
            head = json.loads(self._line)
        except ValueError:
            raise FrameError("The first line of a bundle is not valid JSON") from None
        if not isinstance(head, dict):
            raise FrameError("The first line of a bundle must be a JSON object")
        self.head, self._line = head, bytearray()
        return BundleHead(head), data[newline + 1 :]

    def feed(self, data: bytes) -> Iterator[BundleHead | FrameEvent]:
        if self.head is None:
            head, data = self.read_head(data)
            if head is None:
                return
            yield head
        yield from self.frames.feed(data)

    def close(self) -> None:
        if self.head is None:
            raise FrameError("The body ends before the manifest line of the bundle")
        self.frames.close()
