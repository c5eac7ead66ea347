"""What this user knows the server holds for an assignment: a guess that saves a request.

A submission usually sends back content the server already has: the data
files of the release, or files unchanged since the last submission. Asking
which blobs the server lacks (``POST blobs/missing``) costs a request per
submit; instead, a fetch and a submit write down the sha256 of every file
they moved, and the next submit of that assignment sends its bundle straight
away with only the other files' content. The guess is never trusted: if the
server lacks something (content removed since, another server at the same
place), it answers 409 naming the blobs and the submit sends them too.

The record lives in nbgrader's cache directory, below ``.ngshare`` (hidden
from the cache listings), per server URL, course and assignment. Losing it
costs only the request it saves.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
from collections.abc import Iterable
from pathlib import Path

from ngshare.protocol.names import is_sha256

# Enough for any assignment's files across many submissions; the oldest go first.
MAX_REMEMBERED = 2000


class KnownContent:
    """The record of one assignment on one server, in ``cache_dir``."""

    def __init__(
        self, cache_dir: str | os.PathLike[str], server_url: str, course: str, assignment: str
    ):
        server = hashlib.sha256(server_url.encode("utf-8")).hexdigest()[:16]
        # Names are hashed too: course and assignment names may hold anything
        # a file name cannot.
        key = hashlib.sha256(json.dumps([course, assignment]).encode("utf-8")).hexdigest()[:32]
        self.path = Path(cache_dir, ".ngshare", "known-content", server, key + ".json")

    def load(self) -> list[str]:
        """The remembered hashes, oldest first; nothing if there is no readable record."""
        try:
            stored = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return []
        hashes = stored.get("sha256") if isinstance(stored, dict) else None
        if not isinstance(hashes, list):
            return []
        return [h for h in hashes if is_sha256(h)]

    def remember(self, hashes: Iterable[str]) -> None:
        """Add ``hashes`` (the newest); a record that cannot be written is skipped."""
        new = list(dict.fromkeys(hashes))
        renewed = set(new)
        kept = [h for h in self.load() if h not in renewed] + new
        body = json.dumps({"sha256": kept[-MAX_REMEMBERED:]})
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            # Written aside and renamed: two commands at once never leave half a record.
            fd, name = tempfile.mkstemp(dir=self.path.parent, prefix=".record-")
            try:
                with os.fdopen(fd, "w", encoding="utf-8") as handle:
                    handle.write(body)
                os.replace(name, self.path)
            except BaseException:
                with contextlib.suppress(OSError):
                    os.unlink(name)
                raise
        except OSError:
            return
