"""The limits on uploaded content, and the checks every way in shares.

One :class:`ContentLimits` is configured by the application and handed to the
service runner, which puts it in each session's info (as it does the blob
store): the intake (:mod:`ngshare.server.service.intake`) checks uploads
against it while they arrive, and the operations that commit a release,
submission or feedback check their files against it again inside their
transaction, so no way in can skip a limit.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from sqlalchemy.orm import Session

from ngshare.protocol.api import MAX_FILES_PER_REQUEST
from ngshare.server.service.errors import TooLarge
from ngshare.server.service.files import StoredFile

# Where the runner puts the limits in a session's info.
CONTENT_LIMITS = "ngshare_content_limits"

GIB = 1024**3


@dataclass(frozen=True)
class ContentLimits:
    """Sizes in bytes; a course quota of 0 means none."""

    max_file_size: int = GIB
    max_submission_size: int = 4 * GIB
    course_quota: int = 0
    max_files: int = MAX_FILES_PER_REQUEST

    def check_file_size(self, size: int, path: str | None = None) -> None:
        """Refuse one file larger than the per-file limit."""
        if size > self.max_file_size:
            what = path if path is not None else "The file"
            raise TooLarge(f"{what} is larger than the limit of {self.max_file_size} bytes")

    def check_file_count(self, count: int) -> None:
        if count > self.max_files:
            raise TooLarge(f"At most {self.max_files} files per release, submission or feedback")

    def check_total(self, total: int) -> None:
        """Refuse a release, submission or feedback whose files total too much."""
        limit = self.max_submission_size
        if total > limit:
            raise TooLarge(f"The files total {total} bytes; the limit is {limit}")

    def check_files(self, sizes: Iterable[tuple[str, int]]) -> None:
        """Every limit of one release, submission or feedback: (path, size) of each file."""
        listed = list(sizes)
        self.check_file_count(len(listed))
        for path, size in listed:
            self.check_file_size(size, path)
        self.check_total(sum(size for _, size in listed))


def limits_of(db: Session) -> ContentLimits:
    """The limits the runner gave this database session (the defaults outside the server)."""
    found = db.info.get(CONTENT_LIMITS)
    return found if isinstance(found, ContentLimits) else ContentLimits()


def require_within_limits(db: Session, files: Sequence[StoredFile]) -> None:
    """Inside the transaction that commits them: the files of one release, submission or feedback.

    Whichever way they came in, files past a limit are never referenced.
    """
    limits_of(db).check_files((f.path, f.blob.size) for f in files)
