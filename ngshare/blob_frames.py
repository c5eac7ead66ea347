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
"""

from __future__ import annotations

import json
import zlib
from collections.abc import Iterator
from dataclasses import dataclass

from ngshare.blobs import is_sha256

CONTENT_TYPE = "application/x-ngshare-blob-frames"
IDENTITY = "identity"
GZIP = "gzip"
ENCODINGS = frozenset({IDENTITY, GZIP})
MAX_HEADER = 1024
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


def gzip_compressor() -> zlib._Compress:
    """A compressor making one gzip member, as a gzip frame carries."""
    return zlib.compressobj(GZIP_LEVEL, wbits=31)


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
        self._inflater: zlib._Decompress | None = None
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

    def _read_header(self, view: memoryview) -> Iterator[FrameEvent]:
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
            self._inflater = zlib.decompressobj(wbits=31)
            self._produced = 0
            self._member = bytearray() if self.keep_members else None
        else:
            self._remaining = header.size
            if header.size == 0:
                yield self._end()
        return view[newline + 1 :]

    def _inflate(self, view: memoryview) -> Iterator[FrameEvent]:
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
            except zlib.error:
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
