"""``nbgrader collect``: download each student's latest submission.

``GET /submissions/{course}/{assignment}`` lists every submission; for each
student the latest one (or, with ``before_duedate``, the latest before the
due date in the gradebook) is downloaded with
``GET /submission/{course}/{assignment}/{student}?timestamp=...`` into
submitted/<student>/<assignment>/, with the server's timestamp in
``timestamp.txt``. ``--update`` replaces an older collected copy. One
student's failure does not stop the others; the command fails at the end.
"""

from __future__ import annotations

import datetime
import fnmatch
from collections import defaultdict
from pathlib import Path

from nbgrader.api import Gradebook, MissingEntry
from nbgrader.exchange.abc import ExchangeCollect as ABCExchangeCollect
from nbgrader.exchange.abc import ExchangeError
from nbgrader.utils import parse_utc

from ngshare.exchange.assignments import SubmissionEntry, submissions
from ngshare.exchange.exchange import Exchange
from ngshare.exchange.files import (
    FileRules,
    RemoteFile,
    decode_tree,
    discard,
    is_safe_path,
    staging_directory,
    write_new_files,
)


class ExchangeCollect(Exchange, ABCExchangeCollect):
    def init_src(self) -> None:
        self.course_id = self.require_course()
        assignment_id = self.require_assignment()
        pattern = self.coursedir.student_id or "*"
        by_student: dict[str, list[tuple[datetime.datetime, SubmissionEntry]]] = defaultdict(list)
        for entry in submissions(self.client, self.course_id, assignment_id):
            if fnmatch.fnmatchcase(entry.student_id, pattern):
                by_student[entry.student_id].append((parse_utc(entry.timestamp), entry))
        duedate = self._duedate() if self.before_duedate else None
        self.src_records: list[tuple[datetime.datetime, SubmissionEntry]] = []
        for records in by_student.values():
            records.sort(key=lambda record: record[0], reverse=True)
            on_time = [r for r in records if duedate is not None and r[0] <= duedate]
            self.src_records.append(on_time[0] if on_time else records[0])
        self.src_records.sort(key=lambda record: record[1].student_id)

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
        failures = []
        for timestamp, entry in self.src_records:
            try:
                self.collect_one(entry, timestamp)
            except ExchangeError as error:
                self.log.error("%s", error)
                failures.append(entry.student_id)
        if failures:
            raise ExchangeError(
                f"Could not collect the submissions of {len(failures)} student(s): "
                + ", ".join(failures)
            )

    def collect_one(self, entry: SubmissionEntry, timestamp: datetime.datetime) -> None:
        student_id, assignment_id = entry.student_id, self.coursedir.assignment_id
        if not is_safe_path(student_id) or "/" in student_id:
            raise ExchangeError(f"Skipping a submission by {student_id!r}: not a usable name")
        dest_path = Path(
            self.coursedir.format_path(
                self.coursedir.submitted_directory, student_id, assignment_id
            )
        )
        updating = dest_path.is_dir()
        if updating:
            existing = self.coursedir.get_existing_timestamp(str(dest_path))
            newer = existing is None or timestamp > existing
            if not (self.update and newer) and not (self.before_duedate and existing != timestamp):
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
                return
            self.log.info("Updating submission: %s %s", student_id, assignment_id)
        else:
            self.log.info("Collecting submission: %s %s", student_id, assignment_id)
        files = self.download(entry)
        staging = staging_directory(dest_path)
        try:
            write_new_files(staging, files, self.log)
            # The instructor's copy carries the server's time of submission:
            # autograde reads it for lateness, release_feedback to name it.
            (staging / "timestamp.txt").write_text(entry.timestamp, encoding="utf-8")
            if updating:
                discard(dest_path)
            staging.rename(dest_path)
        except BaseException:
            discard(staging)
            raise

    def download(self, entry: SubmissionEntry) -> list[RemoteFile]:
        course_id, assignment_id = self.course_id, self.coursedir.assignment_id
        what = f"download the submission of {entry.student_id!r} ({entry.timestamp})"
        response = self.client.get(
            "submission",
            course_id,
            assignment_id,
            entry.student_id,
            params={"timestamp": entry.timestamp},
            what=what,
        )
        rules = FileRules.from_coursedir(self.coursedir)
        kept = []
        for remote in decode_tree(response.get("files"), what):
            parts = remote.path.split("/")
            reason = (
                "excluded (see CourseDirectory.ignore)"
                if any(rules.excludes(part) for part in parts[:-1])
                else rules.skip_reason(parts[-1], len(remote.content))
            )
            if remote.path == "timestamp.txt":
                reason = "replaced by the server's timestamp"
            if reason is None:
                kept.append(remote)
            else:
                self.log.info("Skipping %s of %s: %s", remote.path, entry.student_id, reason)
        return kept
