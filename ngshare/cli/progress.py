"""Progress of a download of several submissions, on standard error.

A download is one transfer of the content of every submission, then each
submission written out in turn. On a terminal it is a bar redrawn in place
(the bytes received, then the submissions written), shown only once a
download has taken longer than half a second (quick ones stay quiet);
elsewhere (a log file, CI) it is one plain line per written submission, and
only when asked for with ``--progress``. It never writes to standard output,
which holds the command's result.
"""

from __future__ import annotations

import enum
import time
from typing import TextIO

from ngshare.protocol.sizes import human_size

BAR_WIDTH = 24
# Redraws faster than this only cost time.
REDRAW_INTERVAL = 0.1
SHOW_AFTER = 0.5


class Mode(enum.Enum):
    OFF = "off"
    BAR = "bar"
    LINES = "lines"


def choose_mode(requested: bool | None, stream: TextIO) -> Mode:
    """--progress (True), --no-progress (False) or neither (None) on this stream."""
    is_terminal = stream.isatty()
    if requested is False:
        return Mode.OFF
    if is_terminal:
        return Mode.BAR
    return Mode.LINES if requested else Mode.OFF


class Progress:
    """How many of ``total`` items are done, and how far the current one is."""

    def __init__(self, total: int, mode: Mode, stream: TextIO, noun: str = "submissions") -> None:
        self.total = total
        self.mode = mode
        self.stream = stream
        self.noun = noun
        self.done = 0
        self.received = 0
        self.label = ""
        self.started = time.monotonic()
        self.last_draw = 0.0
        self.drawn = False

    def on_download(self, received: int, total: int | None) -> None:
        """A client callback: ``received`` bytes of the download so far."""
        self.label = "downloading"
        self.received = received
        self._draw()

    def start_item(self, label: str) -> None:
        self.label = label
        self._draw()

    def finish_item(self, detail: str = "") -> None:
        self.done += 1
        if self.mode is Mode.LINES:
            width = len(str(self.total))
            line = f"[{self.done:>{width}}/{self.total}] {self.label}"
            self.stream.write(f"{line}: {detail}\n" if detail else line + "\n")
            self.stream.flush()
        self._draw(force=self.done == self.total)

    def close(self) -> None:
        """Clear the bar, so what follows starts on a clean line."""
        if self.mode is Mode.BAR and self.drawn:
            self.stream.write("\r\033[K")
            self.stream.flush()

    def fraction(self) -> float:
        if self.total <= 0:
            return 1.0
        return min(self.done / self.total, 1.0)

    def _draw(self, force: bool = False) -> None:
        if self.mode is not Mode.BAR:
            return
        now = time.monotonic()
        if now - self.started < SHOW_AFTER:
            return
        if not force and now - self.last_draw < REDRAW_INTERVAL:
            return
        self.last_draw = now
        self.drawn = True
        fraction = self.fraction()
        filled = int(fraction * BAR_WIDTH)
        bar = "#" * filled + "-" * (BAR_WIDTH - filled)
        self.stream.write(
            f"\r\033[K[{bar}] {fraction:4.0%} {self.done}/{self.total} {self.noun}, "
            f"{human_size(self.received)} received  {self.label}"
        )
        self.stream.flush()
