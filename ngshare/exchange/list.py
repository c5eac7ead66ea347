"""``nbgrader list``: released, fetched and submitted assignments.

The result has the shape nbgrader's default exchange returns, because the
assignment list extension and the formgrader read it:

- released / fetched: ``{course_id, assignment_id, status, path, notebooks}``
  (``status`` "fetched" when ./<assignment> exists locally);
- ``--inbound`` (from the server) and ``--cached`` (the local submission
  cache): one entry per course/student/assignment with its ``submissions``,
  each with ``timestamp`` and the feedback flags ``has_local_feedback``,
  ``has_exchange_feedback`` (feedback released on the server) and
  ``feedback_updated`` (the server's differs from the fetched copy).

A user sees only the courses the server says they belong to. ``--remove``
removes released assignments (guarded, see ``allow_deleting_submissions``)
or cached submissions; the server offers no way to remove a submission.
"""

from __future__ import annotations

import datetime
import fnmatch
import glob
import json
import os
import re
import shutil
import sys
from pathlib import Path
from typing import Any

from nbgrader.exchange.abc import ExchangeList as ABCExchangeList
from traitlets import Bool

from ngshare.client import api
from ngshare.client.api import SubmissionRecord
from ngshare.client.errors import NotFound, PermissionRefused
from ngshare.client.manifests import hash_file
from ngshare.exchange.assignments import (
    delete_assignment,
    local_timestamp,
    parse_local_timestamp,
    server_timestamp,
    top_level,
)
from ngshare.exchange.exchange import Exchange

Info = dict[str, Any]
CACHE_ENTRY = re.compile(
    r".*/(?P<course_id>.*)/(?P<student_id>.*)\+(?P<assignment_id>.*)\+(?P<timestamp>.*)"
)


def _has_glob(pattern: str) -> bool:
    return any(ch in pattern for ch in "*?[")


class ExchangeList(Exchange, ABCExchangeList):
    as_json = Bool(
        False, help="Print the assignments as JSON on standard output (`nbgrader list --json`)."
    ).tag(config=True)

    def init_src(self) -> None:
        pass

    def init_dest(self) -> None:
        if self.inbound and self.remove:
            self.fail(
                "ngshare cannot remove submissions: its API has no way to delete one. "
                "(An instructor can remove a whole assignment, with its submissions, "
                "with `nbgrader list --remove`.)"
            )
        self.course_pattern = self.coursedir.course_id or "*"
        self.assignment_pattern = self.coursedir.assignment_id or "*"
        self.student_pattern = self.coursedir.student_id or "*"
        # Courses whose submissions the user may not download (students).
        self._no_submission_access: set[str] = set()
        if self.cached:
            self.assignments = self.find_cached()
        else:
            released = self.find_released()
            self.assignments = self.find_inbound(released) if self.inbound else released

    def copy_files(self) -> None:
        pass

    # -- what exists -------------------------------------------------------------

    def courses(self) -> list[str]:
        if not _has_glob(self.course_pattern):
            return [self.course_pattern]
        return sorted(
            c for c in api.courses(self.client) if fnmatch.fnmatchcase(c, self.course_pattern)
        )

    def find_released(self) -> list[Info]:
        found = []
        for course_id in self.courses():
            for assignment_id in sorted(api.assignments(self.client, course_id)):
                if fnmatch.fnmatchcase(assignment_id, self.assignment_pattern):
                    found.append({"course_id": course_id, "assignment_id": assignment_id})
        return found

    def find_inbound(self, released: list[Info]) -> list[Info]:
        found = []
        for item in released:
            course_id, assignment_id = item["course_id"], item["assignment_id"]
            for record in self.submissions_of(course_id, assignment_id):
                if fnmatch.fnmatchcase(record.student, self.student_pattern):
                    found.append(
                        {
                            "course_id": course_id,
                            "student_id": record.student,
                            "assignment_id": assignment_id,
                            "timestamp": local_timestamp(record.timestamp),
                        }
                    )
        return found

    def submissions_of(self, course_id: str, assignment_id: str) -> list[SubmissionRecord]:
        client = self.client
        if not _has_glob(self.student_pattern):
            return api.student_submissions(client, course_id, assignment_id, self.student_pattern)
        if course_id not in self._no_submission_access:
            try:
                return api.submissions(client, course_id, assignment_id)
            except PermissionRefused:
                self._no_submission_access.add(course_id)
        # Not an instructor of this course: a student sees their own submissions.
        return api.student_submissions(client, course_id, assignment_id, self.username)

    def find_cached(self) -> list[Info]:
        pattern = os.path.join(
            glob.escape(self.cache),
            self.course_pattern,
            f"{self.student_pattern}+{self.assignment_pattern}+*",
        )
        found = []
        for path in sorted(glob.glob(pattern)):
            match = CACHE_ENTRY.match(path)
            if match is not None and os.path.isdir(path):
                found.append({**match.groupdict(), "path": path})
        return found

    # -- describing it as nbgrader does ----------------------------------------------

    def parse_assignments(self) -> list[Info]:
        courses = None
        if self.coursedir.student_id and self.authenticator is not None:
            courses = self.authenticator.get_student_courses(self.coursedir.student_id)
        assignments = []
        for item in self.assignments:
            info = dict(item)
            if courses is not None and info["course_id"] not in courses:
                continue
            assignment_dir = os.path.join(
                self.assignment_dir, self.local_root(info["course_id"], info["assignment_id"])
            )
            if self.inbound or self.cached:
                info["status"] = "submitted"
                if self.inbound:
                    info["path"] = self.submission_url(info)
            elif os.path.exists(assignment_dir):
                info["status"] = "fetched"
                info["path"] = os.path.abspath(assignment_dir)
            else:
                info["status"] = "released"
                info["path"] = self.client.url(
                    *api.assignment_path(info["course_id"], info["assignment_id"])
                )
            if self.remove:
                info["status"] = "removed"
            info["notebooks"] = self.describe_notebooks(info, assignment_dir)
            if info["status"] == "submitted":
                self.summarize_feedback(info, assignment_dir)
            assignments.append(info)
        if self.inbound or self.cached:
            return self.group_submissions(assignments)
        return assignments

    @staticmethod
    def submission_key(info: Info, when: datetime.datetime) -> api.SubmissionKey:
        return api.SubmissionKey(info["course_id"], info["assignment_id"], info["student_id"], when)

    def submission_url(self, info: Info) -> str:
        key = self.submission_key(info, server_timestamp(info["timestamp"]))
        return self.client.url(*key.path)

    def describe_notebooks(self, info: Info, assignment_dir: str) -> list[Info]:
        local = info["status"] == "fetched" or self.cached
        if local:
            names = [
                os.path.splitext(os.path.basename(p))[0]
                for p in sorted(glob.glob(os.path.join(glob.escape(info["path"]), "*.ipynb")))
            ]
        elif self.inbound:
            names = self.submitted_notebooks(info)
        else:
            names = self.released_notebooks(info["course_id"], info["assignment_id"])
        if not names:
            self.log.warning("No notebooks found in %s", info["path"])
        notebooks = []
        exchange_feedback = self.exchange_feedback(info) if info["status"] == "submitted" else {}
        for notebook_id in names:
            path = (
                os.path.abspath(os.path.join(info["path"], f"{notebook_id}.ipynb"))
                if local
                else f"{notebook_id}.ipynb"
            )
            nb_info: Info = {"notebook_id": notebook_id, "path": path}
            if info["status"] == "submitted":
                nb_info.update(
                    self.notebook_feedback(
                        info, assignment_dir, notebook_id, exchange_feedback.get(notebook_id)
                    )
                )
            notebooks.append(nb_info)
        return notebooks

    def released_notebooks(self, course_id: str, assignment_id: str) -> list[str]:
        released = api.release_manifest(self.client, course_id, assignment_id)
        return top_level([entry.path for entry in released], ".ipynb")

    def submitted_notebooks(self, info: Info) -> list[str]:
        course_id = info["course_id"]
        if course_id not in self._no_submission_access:
            try:
                files = api.submission_files(
                    self.client,
                    self.submission_key(info, server_timestamp(info["timestamp"])),
                    what=f"list the submission of {info['student_id']!r} ({info['timestamp']})",
                )
                return top_level([entry.path for entry in files], ".ipynb")
            except PermissionRefused:
                self._no_submission_access.add(course_id)
        # Students may not download submissions, even their own: use their
        # cached copy when there is one, else the released notebooks.
        cached = os.path.join(
            self.cache,
            course_id,
            f"{info['student_id']}+{info['assignment_id']}+{info['timestamp']}",
        )
        if os.path.isdir(cached):
            return sorted(
                os.path.splitext(name)[0]
                for name in os.listdir(cached)
                if name.endswith(".ipynb") and os.path.isfile(os.path.join(cached, name))
            )
        return self.released_notebooks(course_id, info["assignment_id"])

    def exchange_feedback(self, info: Info) -> dict[str, str]:
        """``{notebook_id: sha256}`` of the feedback released on the server for a submission."""
        submitted = parse_local_timestamp(info["timestamp"])
        if submitted is None:
            # A cached copy another exchange made: the server cannot know it.
            self.log.debug("No feedback on the server for %s", info["path"])
            return {}
        try:
            files = api.feedback_files(
                self.client,
                self.submission_key(info, submitted),
                what=f"check for feedback on the submission of {info['timestamp']}",
            )
        except (PermissionRefused, NotFound) as error:
            if not self.cached:
                raise
            # A cached submission the server no longer has (assignment removed,
            # course left): it simply has no feedback to fetch.
            self.log.debug("No feedback on the server for %s: %s", info["path"], error)
            return {}
        return {
            entry.path[: -len(".html")]: entry.sha256
            for entry in files
            if "/" not in entry.path and entry.path.endswith(".html")
        }

    def notebook_feedback(
        self, info: Info, assignment_dir: str, notebook_id: str, exchange_checksum: str | None
    ) -> Info:
        local_path = os.path.join(
            assignment_dir, "feedback", info["timestamp"], f"{notebook_id}.html"
        )
        has_local = os.path.isfile(local_path)
        has_exchange = exchange_checksum is not None
        return {
            "has_local_feedback": has_local,
            "has_exchange_feedback": has_exchange,
            "local_feedback_path": local_path if has_local else None,
            "feedback_updated": has_local
            and has_exchange
            and hash_file(Path(local_path))[0] != exchange_checksum,
        }

    def summarize_feedback(self, info: Info, assignment_dir: str) -> None:
        notebooks = info["notebooks"]
        info["has_local_feedback"] = bool(notebooks) and all(
            nb["has_local_feedback"] for nb in notebooks
        )
        info["has_exchange_feedback"] = bool(notebooks) and all(
            nb["has_exchange_feedback"] for nb in notebooks
        )
        info["feedback_updated"] = any(nb["feedback_updated"] for nb in notebooks)
        if info["has_local_feedback"]:
            info["local_feedback_path"] = os.path.join(
                os.path.abspath(assignment_dir), "feedback", info["timestamp"]
            )
        else:
            info["local_feedback_path"] = None

    @staticmethod
    def group_submissions(assignments: list[Info]) -> list[Info]:
        groups: dict[tuple[str, str, str], list[Info]] = {}
        for info in assignments:
            key = (info["course_id"], info["student_id"], info["assignment_id"])
            groups.setdefault(key, []).append(info)
        return [
            {
                "course_id": key[0],
                "student_id": key[1],
                "assignment_id": key[2],
                "status": found[0]["status"],
                "submissions": sorted(found, key=lambda x: x["timestamp"]),
            }
            for key, found in sorted(groups.items())
        ]

    # -- output ------------------------------------------------------------------

    def format_inbound_assignment(self, info: Info) -> str:
        msg = "{course_id} {student_id} {assignment_id} {timestamp}".format(**info)
        if info["status"] == "submitted":
            if info["has_local_feedback"] and not info["feedback_updated"]:
                msg += " (feedback already fetched)"
            elif info["has_exchange_feedback"]:
                msg += " (feedback ready to be fetched)"
            else:
                msg += " (no feedback available)"
        return msg

    def format_outbound_assignment(self, info: Info) -> str:
        msg = "{course_id} {assignment_id}".format(**info)
        if os.path.exists(self.local_path(info["course_id"], info["assignment_id"])):
            msg += " (already downloaded)"
        return msg

    def log_assignments(self, assignments: list[Info], verb: str) -> None:
        if self.inbound or self.cached:
            self.log.info("%s assignments:", f"{verb}submitted".capitalize())
            for assignment in assignments:
                for info in assignment["submissions"]:
                    self.log.info(self.format_inbound_assignment(info))
        else:
            self.log.info("%s assignments:", f"{verb}released".capitalize())
            for info in assignments:
                self.log.info(self.format_outbound_assignment(info))
        if self.as_json:
            sys.stdout.write(json.dumps(assignments) + "\n")

    def list_files(self) -> list[Info]:
        assignments = self.parse_assignments()
        self.log_assignments(assignments, "")
        return assignments

    def remove_files(self) -> list[Info]:
        assignments = self.parse_assignments()
        self.log_assignments(assignments, "removing ")
        if self.cached:
            for item in self.assignments:
                shutil.rmtree(item["path"])
        else:
            for item in self.assignments:
                delete_assignment(self, item["course_id"], item["assignment_id"], action="remove")
        return assignments
