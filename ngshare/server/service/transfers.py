"""Content-addressed transfers: who may read or reference which blob.

The project's own API moves files as manifests (path, sha256, size) plus raw
blobs. Two rules keep that safe:

- a user may *read* a blob only through a file set they may read (a release of
  their course, their own submissions and feedback; an instructor's course's
  submissions and feedback), never by knowing its hash;
- a manifest may only *name* blobs its author may read or has uploaded
  (a :class:`~ngshare.server.storage.models.BlobPossession`), so "which blobs are missing"
  tells a user nothing about what others stored.

Committing a manifest reuses the same operations as v1 (release, submit,
feedback), so both APIs share one service layer.
"""

from __future__ import annotations

import datetime
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass

from sqlalchemy import BindParameter, Select, bindparam, select, union
from sqlalchemy.orm import Session

from ngshare.protocol.api import MAX_FILES_PER_REQUEST
from ngshare.server.service import assignments, submissions
from ngshare.server.service.errors import BadRequest, Conflict, NotFound
from ngshare.server.service.files import (
    FileView,
    StoredFile,
    hold_content,
    list_fileset,
    register_blobs,
)
from ngshare.server.service.permissions import Caller, find_course, require_instructor
from ngshare.server.service.quota import require_not_full
from ngshare.server.storage.blobs import BlobInfo
from ngshare.server.storage.models import (
    Assignment,
    Blob,
    BlobPossession,
    Enrollment,
    Feedback,
    FileEntry,
    Role,
    Submission,
    User,
)
from ngshare.server.storage.soft_delete import live_rows_built_in


@dataclass(frozen=True)
class ManifestEntry:
    path: str
    sha256: str
    size: int


class MissingContent(Conflict):
    """A manifest names blobs the server lacks (or the caller may not name).

    409, not 400: the request is right, the server's state is not yet; the
    client sends the content and tries again.
    """

    def __init__(self, missing: Sequence[str]) -> None:
        super().__init__("Upload these blobs first: " + ", ".join(missing), missing=list(missing))


@dataclass(frozen=True)
class Submitted:
    timestamp: datetime.datetime
    # The paths of the release's files: a client compares them with what it
    # sent (nbgrader warns of missing notebooks) without asking again.
    released: list[str]


@dataclass(frozen=True)
class SubmissionManifest:
    student: str
    timestamp: datetime.datetime
    files: list[FileView]


# The hot path's permission queries, built once (see models: building and
# hashing a statement costs more than running it). ``user_id`` is the
# caller's id, ``hashes`` the blobs asked about.
_HASHES: BindParameter[list[str]] = bindparam("hashes", expanding=True)
_USER_ID: BindParameter[int] = bindparam("user_id")

_POSSESSED = live_rows_built_in(
    select(BlobPossession.sha256).where(
        BlobPossession.user_id == _USER_ID, BlobPossession.sha256.in_(_HASHES)
    )
)

# What most reads are: a student's fetch, or the release file a submission
# names again. One join, before the general query below.
_RELEASED_TO_MEMBER = live_rows_built_in(
    select(FileEntry.blob_sha256)
    .join(Assignment, Assignment.fileset_id == FileEntry.fileset_id)
    .join(Enrollment, Enrollment.course_id == Assignment.course_id)
    .where(Enrollment.user_id == _USER_ID, FileEntry.blob_sha256.in_(_HASHES))
    .distinct()
)


def _readable_filesets() -> Select[tuple[int]]:
    """File sets the user ``user_id`` may read as a member (admins read all of them)."""
    member_courses = select(Enrollment.course_id).where(Enrollment.user_id == _USER_ID)
    teaching = member_courses.where(Enrollment.role == Role.instructor.value)
    taught_assignments = select(Assignment.id).where(Assignment.course_id.in_(teaching))
    visible_submissions = select(Submission.id).where(
        (Submission.student_id == _USER_ID) | Submission.assignment_id.in_(taught_assignments)
    )
    return union(
        select(Assignment.fileset_id).where(Assignment.course_id.in_(member_courses)),
        select(Submission.fileset_id).where(Submission.id.in_(visible_submissions)),
        select(Feedback.fileset_id).where(Feedback.submission_id.in_(visible_submissions)),
    )  # type: ignore[return-value]


_READABLE_BY_USER = live_rows_built_in(
    select(FileEntry.blob_sha256)
    .where(FileEntry.blob_sha256.in_(_HASHES), FileEntry.fileset_id.in_(_readable_filesets()))
    .distinct()
)
_STORED = live_rows_built_in(
    select(FileEntry.blob_sha256).where(FileEntry.blob_sha256.in_(_HASHES)).distinct()
)
# The files of one file set with their blobs: a submission reads its
# assignment's release once, for the paths its answer names and for the
# content it names again (a member may read the release).
_FILESET_FILES = live_rows_built_in(
    select(FileEntry.path, Blob.sha256, Blob.size, Blob.md5)
    .join(Blob, Blob.sha256 == FileEntry.blob_sha256)
    .where(FileEntry.fileset_id == bindparam("fileset_id"))
)
_BLOB_SIZES = live_rows_built_in(select(Blob.sha256, Blob.size).where(Blob.sha256.in_(_HASHES)))
_BLOBS = live_rows_built_in(select(Blob).where(Blob.sha256.in_(_HASHES)))


def known_blobs(db: Session, caller: Caller, hashes: Collection[str]) -> set[str]:
    """Those of ``hashes`` the caller may read or has uploaded."""
    if len(hashes) > MAX_FILES_PER_REQUEST:
        raise BadRequest(f"At most {MAX_FILES_PER_REQUEST} hashes per request")
    wanted = set(hashes)
    if not wanted:
        return set()
    user = User.find(db, caller.name)
    found: set[str] = set()
    if user is not None:
        # The cheap checks first: a submission's new files are the caller's
        # own uploads, and the rest usually come from a release.
        for query in (_POSSESSED, _RELEASED_TO_MEMBER):
            found.update(db.scalars(query, {"user_id": user.id, "hashes": list(wanted - found)}))
            if found == wanted:
                return found
    rest = list(wanted - found)
    if caller.is_admin:
        found.update(db.scalars(_STORED, {"hashes": rest}))
    elif user is not None:
        found.update(db.scalars(_READABLE_BY_USER, {"user_id": user.id, "hashes": rest}))
    return found


def missing_blobs(db: Session, caller: Caller, hashes: Sequence[str]) -> list[str]:
    known = known_blobs(db, caller, hashes)
    return [h for h in dict.fromkeys(hashes) if h not in known]


def readable_blob_sizes(db: Session, caller: Caller, hashes: Sequence[str]) -> dict[str, int]:
    """The sizes of blobs the caller asked to download, checked all at once.

    Unreadable and absent look the same (404), so a hash reveals nothing.
    """
    known = known_blobs(db, caller, hashes)
    unknown = [h for h in hashes if h not in known]
    if unknown:
        raise NotFound("Blob not found")
    rows = db.execute(_BLOB_SIZES, {"hashes": list(known)})
    return {sha256: size for sha256, size in rows}


def record_uploads(db: Session, caller: Caller, blobs: Sequence[BlobInfo]) -> None:
    """The caller sent these bytes: register the blobs and their possession of them."""
    if not blobs:
        return
    hashes = list(dict.fromkeys(b.sha256 for b in blobs))
    hold_content(db, hashes)
    register_blobs(db, blobs)
    user = User.find_or_create(db, caller.name)
    held = set(db.scalars(_POSSESSED, {"user_id": user.id, "hashes": hashes}))
    db.add_all(BlobPossession(user_id=user.id, sha256=h) for h in hashes if h not in held)
    db.flush()


def _stored_files(
    db: Session,
    caller: Caller,
    manifest: Sequence[ManifestEntry],
    nameable: Mapping[str, BlobInfo] | None = None,
) -> list[StoredFile]:
    """Resolve a manifest (checked by the intake) to stored blobs the caller may reference.

    ``nameable``: blobs (by sha256) already known to be the caller's to name,
    whose bytes came with this very request or which are in a file set they
    read; neither their permission nor their rows are looked up.
    """
    blobs = dict(nameable or {})
    earlier = list(dict.fromkeys(e.sha256 for e in manifest if e.sha256 not in blobs))
    missing = missing_blobs(db, caller, earlier)
    if missing:
        raise MissingContent(missing)
    if earlier:
        for row in db.scalars(_BLOBS, {"hashes": earlier}):
            blobs[row.sha256] = BlobInfo(row.sha256, row.size, row.md5)
    stored = []
    for entry in manifest:
        blob = blobs[entry.sha256]
        if blob.size != entry.size:
            raise BadRequest(f"Wrong size for {entry.path}: the blob has {blob.size} bytes")
        stored.append(StoredFile(entry.path, blob))
    return stored


def release(
    db: Session,
    caller: Caller,
    course: str,
    assignment: str,
    manifest: Sequence[ManifestEntry],
    replace: bool = False,
) -> None:
    checked = assignments.check_release(db, caller, course, assignment, replace=replace)
    files = _stored_files(db, caller, manifest)
    assignments.release(db, caller, course, assignment, files, replace=replace, checked=checked)


def submit(
    db: Session,
    caller: Caller,
    course: str,
    assignment: str,
    manifest: Sequence[ManifestEntry],
    idempotency_key: str | None,
    sent: Mapping[str, BlobInfo] | None = None,
) -> Submitted:
    found = submissions.check_submit(db, caller, course, assignment)
    release = db.execute(_FILESET_FILES, {"fileset_id": found.fileset_id}).all()
    # What a submission names again mostly comes from its release.
    nameable = {sha256: BlobInfo(sha256, size, md5) for _, sha256, size, md5 in release}
    nameable.update(sent or {})
    files = _stored_files(db, caller, manifest, nameable)
    timestamp = submissions.submit(db, caller, course, assignment, files, idempotency_key, found)
    return Submitted(timestamp, sorted(path for path, *_ in release))


def check_submit_upload(db: Session, caller: Caller, course: str, assignment: str) -> None:
    """What a submission's (size-checked) manifest can be refused for before its content."""
    submissions.check_submit(db, caller, course, assignment)
    require_not_full(db, caller, course)


def submit_uploaded(
    db: Session,
    caller: Caller,
    course: str,
    assignment: str,
    manifest: Sequence[ManifestEntry],
    uploaded: Sequence[BlobInfo],
    idempotency_key: str | None,
) -> Submitted:
    """A submission whose new content came with it: one transaction for both.

    The content needs no possession records: the submission itself makes it
    readable by (so nameable for) the caller. A refused submission leaves
    only unreferenced blobs, for ``gc-blobs``.
    """
    # The submission's file set registers the new blobs and holds their
    # content against the collector (create_fileset), once for all files.
    sent = {blob.sha256: blob for blob in uploaded}
    return submit(db, caller, course, assignment, manifest, idempotency_key, sent)


def upload_feedback(
    db: Session,
    caller: Caller,
    course: str,
    assignment: str,
    student: str,
    timestamp: datetime.datetime,
    manifest: Sequence[ManifestEntry],
) -> None:
    checked = submissions.check_feedback_upload(db, caller, course, assignment, student, timestamp)
    files = _stored_files(db, caller, manifest)
    submissions.upload_feedback(
        db, caller, course, assignment, student, timestamp, files, checked=checked
    )


def latest_submissions(
    db: Session, caller: Caller, course_name: str, assignment_name: str
) -> list[SubmissionManifest]:
    """Every student's latest submission with its files: what collect needs, in one call."""
    course = find_course(db, course_name)
    require_instructor(db, course, caller)
    assignment = assignments.find_assignment(db, course, assignment_name)
    latest: dict[int, Submission] = {}
    for submission in Submission.for_assignment(db, assignment, with_files=True):
        latest[submission.student_id] = submission  # ordered by time: the last one wins
    return [
        SubmissionManifest(s.student.name, s.timestamp, list_fileset(s.files))
        for s in sorted(latest.values(), key=lambda s: s.student.name)
    ]
