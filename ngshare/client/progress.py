"""How far a transfer is: callbacks, and a reporter that writes to a log.

A transfer reports through a :data:`ProgressCallback`, called as bytes go out
or come in with the count so far and the total when known. ``ngsharectl``
draws a bar from it; the plugin logs large transfers every 10 % with
:class:`LoggedProgress`, which the connection uses for any body above
:data:`LARGE_TRANSFER` when the caller gave no callback.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator

from ngshare.protocol.sizes import human_size

#: Called with (bytes so far, total bytes or None).
ProgressCallback = Callable[[int, int | None], None]

# Bodies above this size are reported while they are transferred.
LARGE_TRANSFER = 8 * 1024 * 1024


class LoggedProgress:
    """Logs how much of a large transfer is done, at most every 10 %."""

    def __init__(self, log: logging.Logger, verb: str, what: str) -> None:
        self.log = log
        self.verb = verb
        self.what = what
        self.next_report = 10

    def __call__(self, done: int, total: int | None) -> None:
        if not total:
            return
        percent = done * 100 // total
        if percent >= self.next_report:
            self.log.info(
                "%s: %s %d%% of %s", self.what, self.verb, min(percent, 100), human_size(total)
            )
            self.next_report = (percent // 10 + 1) * 10


class Cumulative:
    """One progress over several transfers, each of which counts from 0."""

    def __init__(self, progress: ProgressCallback | None) -> None:
        self.progress = progress
        self.before = 0
        self.current = 0

    def __call__(self, done: int, total: int | None) -> None:
        self.current = done
        if self.progress is not None:
            self.progress(self.before + done, None)

    def next_transfer(self) -> None:
        self.before += self.current
        self.current = 0


def counted(
    chunks: Iterable[bytes], progress: ProgressCallback | None, total: int | None
) -> Iterator[bytes]:
    """``chunks`` as they pass, reporting the running count to ``progress``."""
    done = 0
    for chunk in chunks:
        done += len(chunk)
        if progress is not None:
            progress(done, total)
        yield chunk


class UploadBody:
    """Bytes to send, read in chunks so that their upload can be reported.

    requests sends an object with ``read`` as a stream and takes its length
    from ``__len__`` (so the request keeps a Content-Length, not chunking).
    """

    def __init__(self, payload: bytes, progress: ProgressCallback) -> None:
        self._payload = payload
        self._offset = 0
        self._progress = progress

    def __len__(self) -> int:
        return len(self._payload)

    def read(self, size: int = -1) -> bytes:
        end = len(self._payload) if size is None or size < 0 else self._offset + size
        chunk = self._payload[self._offset : end]
        self._offset += len(chunk)
        self._progress(self._offset, len(self._payload))
        return chunk
