"""``nbgrader collect``: download each student's latest submission.

For each student the latest submission (or, with ``before_duedate``, the
latest before the due date in the gradebook) goes into
submitted/<student>/<assignment>/, with the server's timestamp in
``timestamp.txt``. One request lists every student's latest submission with
its files (``GET api/v2/.../submissions?latest=true``); with
``before_duedate``, every submission is listed and the chosen ones' files
asked for one by one. The content the instructor does not already have
locally comes in one streamed download. ``--update`` replaces an older
collected copy. One student's failure does not stop the others; the command
fails at the end.
"""

from __future__ import annotations

import datetime
import fnmatch
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

from nbgrader.api import Gradebook, MissingEntry
from nbgrader.exchange.abc import ExchangeCollect as ABCExchangeCollect
from nbgrader.exchange.abc import ExchangeError

from ngshare.client import api
from ngshare.client.api import SubmissionRecord
from ngshare.client.downloads import LocalContent, download_blobs
from ngshare.client.errors import ClientError
from ngshare.client.manifests import ManifestFile
from ngshare.exchange.assignments import local_timestamp
from ngshare.exchange.exchange import Exchange
from ngshare.exchange.files import FileRules, discard, staging_directory
from ngshare.protocol.names import is_valid_relative_path


class ExchangeCollect(Exchange, ABCExchangeCollect):
    def init_src(self) -> None:
        self.course_id = self.require_course()
        assignment_id = self.require_assignment()
        pattern = self.coursedir.student_id or "*"
        found = api.submissions(
            self.client, self.course_id, assignment_id, latest=not self.before_duedate
        )
        by_student: dict[str, list[SubmissionRecord]] = defaultdict(list)
        for record in found:
            if fnmatch.fnmatchcase(record.student, pattern):
                by_student[record.student].append(record)
        duedate = self._duedate() if self.before_duedate else None
        self.src_records: list[SubmissionRecord] = []
        for records in by_student.values():
            records.sort(key=lambda record: record.timestamp, reverse=True)
            on_time = [r for r in records if duedate is not None and r.timestamp <= duedate]
            self.src_records.append(on_time[0] if on_time else records[0])
        self.src_records.sort(key=lambda record: record.student)

    def _duedate(self) -> datetime.datetime | None:
        with Gradebook(self.coursedir.db_url, self.coursedir.course_id) as gb:
            try:
                return gb.find_assignment(self.coursedir.assignment_id).duedate
            except MissingEntry:
                return None

    def init_dest(self) -> None:
        pass

    def copy_files(self) -> None:
        course_id, assignment_id = self.course_id, self.coursedir.assignment_id
        if not self.src_records:
            self.log.warning(
                "No submissions of '%s' for course '%s' to collect", assignment_id, course_id
            )
            return
        self.log.info(
            "Processing %d submissions of '%s' for course '%s'",
            len(self.src_records),
            assignment_id,
            course_id,
        )
        failures: list[str] = []
        wanted: list[PlannedCopy] = []
        for record in self.src_records:
            try:
                planned = self.plan(record)
            except ExchangeError as error:
                self.log.error("%s", error)
                failures.append(record.student)
                continue
            if planned is not None:
                wanted.append(planned)
        manifests = self.manifests(wanted, failures)
        ready = [planned for planned in wanted if planned.record.student in manifests]
        if ready:
            self.collect(ready, manifests)
        if failures:
            raise ExchangeError(
                f"Could not collect the submissions of {len(failures)} student(s): "
                + ", ".join(failures)
            )

    def plan(self, record: SubmissionRecord) -> PlannedCopy | None:
        """Where a submission goes, or None if the copy already there is to be kept."""
        student_id, assignment_id = record.student, self.coursedir.assignment_id
        if not is_valid_relative_path(student_id) or "/" in student_id:
            raise ExchangeError(f"Skipping a submission by {student_id!r}: not a usable name")
        dest_path = Path(
            self.coursedir.format_path(
                self.coursedir.submitted_directory, student_id, assignment_id
            )
        )
        updating = dest_path.is_dir()
        if updating:
            existing = self.coursedir.get_existing_timestamp(str(dest_path))
            newer = existing is None or record.timestamp > existing
            if not (self.update and newer) and not (
                self.before_duedate and existing != record.timestamp
            ):
                if self.update:
                    self.log.info(
                        "No newer submission to collect: %s %s", student_id, assignment_id
                    )
                else:
                    self.log.info(
                        "Submission already exists, use --update to update: %s %s",
                        student_id,
                        assignment_id,
                    )
                return None
            self.log.info("Updating submission: %s %s", student_id, assignment_id)
        else:
            self.log.info("Collecting submission: %s %s", student_id, assignment_id)
        return PlannedCopy(record, dest_path, updating)

    def manifests(
        self, wanted: list[PlannedCopy], failures: list[str]
    ) -> dict[str, list[ManifestFile]]:
        """The files of each wanted submission, by student.

        Every student's latest came with the listing; a submission chosen by
        ``before_duedate`` is asked for on its own.
        """
        course_id, assignment_id = self.course_id, self.coursedir.assignment_id
        found: dict[str, list[ManifestFile]] = {}
        for planned in wanted:
            record = planned.record
            if record.files is not None:
                found[record.student] = record.files
                continue
            when = local_timestamp(record.timestamp)
            what = f"download the submission of {record.student!r} ({when})"
            try:
                key = api.SubmissionKey(course_id, assignment_id, record.student, record.timestamp)
                found[record.student] = api.submission_files(self.client, key, what=what)
            except ClientError as error:
                self.log.error("%s", error)
                failures.append(record.student)
        return found

    def kept_files(self, student_id: str, files: list[ManifestFile]) -> list[ManifestFile]:
        rules = FileRules.from_coursedir(self.coursedir)
        kept = []
        for remote in files:
            parts = remote.path.split("/")
            reason = (
                "excluded (see CourseDirectory.ignore)"
                if any(rules.excludes(part) for part in parts[:-1])
                else rules.skip_reason(parts[-1], remote.size)
            )
            if remote.path == "timestamp.txt":
                reason = "replaced by the server's timestamp"
            if reason is None:
                kept.append(remote)
            else:
                self.log.info("Skipping %s of %s: %s", remote.path, student_id, reason)
        return kept

    def collect(self, ready: list[PlannedCopy], manifests: dict[str, list[ManifestFile]]) -> None:
        """Download every wanted submission in one transfer, then put each in place."""
        assignment_id = self.coursedir.assignment_id
        staged: list[tuple[PlannedCopy, Path]] = []
        try:
            placements = []
            for planned in ready:
                staging = staging_directory(planned.dest_path)
                staged.append((planned, staging))
                student = planned.record.student
                for remote in self.kept_files(student, manifests[student]):
                    placements.append((staging.joinpath(*remote.path.split("/")), remote))
            # Content the instructor has (the released data files, copies
            # collected before) is copied, not downloaded again.
            local = LocalContent(
                [
                    Path(
                        self.coursedir.format_path(
                            self.coursedir.release_directory, ".", assignment_id
                        )
                    ),
                    *(planned.dest_path for planned in ready if planned.updating),
                ]
            )
            download_blobs(
                self.client,
                placements,
                f"collect {len(ready)} submission(s) of assignment {assignment_id!r}",
                local,
            )
            for planned, staging in staged:
                # The instructor's copy carries the server's time of submission:
                # autograde reads it for lateness, release_feedback to name it.
                timestamp = local_timestamp(planned.record.timestamp)
                (staging / "timestamp.txt").write_text(timestamp, encoding="utf-8")
                if planned.updating:
                    discard(planned.dest_path)
                staging.rename(planned.dest_path)
        finally:
            for _, staging in staged:
                discard(staging)


@dataclass(frozen=True)
class PlannedCopy:
    record: SubmissionRecord
    dest_path: Path
    updating: bool
