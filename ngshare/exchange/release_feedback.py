"""``nbgrader release_feedback``: upload feedback/<student>/<assignment>/*.html.

The files go to the submission they were made from
(``PUT api/v2/courses/{c}/assignments/{a}/submissions/{student}/{timestamp}/feedback``),
named by the ``timestamp.txt`` that collect wrote and generate_feedback copied
along. Putting feedback again replaces it (so retries are safe); only the
files the server lacks are sent.
"""

from __future__ import annotations

import glob
import os
import re
from collections import defaultdict
from pathlib import Path

from nbgrader.exchange.abc import ExchangeError
from nbgrader.exchange.abc import ExchangeReleaseFeedback as ABCExchangeReleaseFeedback

from ngshare.client import api
from ngshare.client.errors import ClientError
from ngshare.client.manifests import LocalFile
from ngshare.client.uploads import upload_blobs
from ngshare.exchange.assignments import server_timestamp
from ngshare.exchange.exchange import Exchange


class ExchangeReleaseFeedback(Exchange, ABCExchangeReleaseFeedback):
    def init_src(self) -> None:
        student_id = self.coursedir.student_id or "*"
        self.src_path = self.coursedir.format_path(
            self.coursedir.feedback_directory, student_id, self.coursedir.assignment_id
        )

    def init_dest(self) -> None:
        self.course_id = self.require_course()
        self.require_assignment()

    def find_feedback(self) -> dict[str, list[tuple[str, str]]]:
        """``{student: [(notebook_id, html_path), ...]}`` from the feedback directory."""
        excluded = set(filter(None, self.coursedir.student_id_exclude.split(",")))
        pattern = re.escape(os.path.sep).join(
            [
                self.coursedir.format_path(
                    self.coursedir.feedback_directory,
                    "(?P<student_id>.*)",
                    self.coursedir.assignment_id,
                    escape=True,
                ),
                "(?P<notebook_id>.*).html",
            ]
        )
        found: dict[str, list[tuple[str, str]]] = defaultdict(list)
        for html_file in sorted(glob.glob(os.path.join(self.src_path, "*.html"))):
            match = re.match(pattern, html_file)
            if match is None:
                self.log.error("Could not match '%s' with regexp '%s'", html_file, pattern)
                continue
            student_id, notebook_id = match.group("student_id"), match.group("notebook_id")
            if student_id in excluded:
                self.log.debug("Skipping student '%s'", student_id)
                continue
            found[student_id].append((notebook_id, html_file))
        return found

    def copy_files(self) -> None:
        found = self.find_feedback()
        if not found:
            self.log.warning("No feedback found in %s", self.src_path)
        failures = []
        for student_id, notebooks in sorted(found.items()):
            try:
                self.release(student_id, notebooks)
            except (ExchangeError, ClientError) as error:
                self.log.error("%s", error)
                failures.append(student_id)
        if failures:
            raise ExchangeError(
                f"Could not release the feedback of {len(failures)} student(s): "
                + ", ".join(failures)
            )

    def release(self, student_id: str, notebooks: list[tuple[str, str]]) -> None:
        course_id, assignment_id = self.course_id, self.coursedir.assignment_id
        feedback_dir = os.path.dirname(notebooks[0][1])
        timestamp_file = os.path.join(feedback_dir, "timestamp.txt")
        try:
            with open(timestamp_file, encoding="utf-8") as handle:
                timestamp = handle.read().strip()
        except FileNotFoundError:
            raise ExchangeError(
                f"Cannot release feedback for {student_id!r}: {timestamp_file} is missing, so "
                "the submission it belongs to is unknown. Collect the submission with "
                "`nbgrader collect`, then autograde and generate feedback again."
            ) from None
        submitted = server_timestamp(timestamp)
        for notebook_id, _ in notebooks:
            self.log.info(
                "Releasing feedback for student '%s' on assignment '%s/%s/%s' (%s)",
                student_id,
                course_id,
                assignment_id,
                notebook_id,
                timestamp,
            )
        what = f"release the feedback of {student_id!r} on assignment {assignment_id!r}"
        files = [LocalFile(f"{notebook_id}.html", Path(path)) for notebook_id, path in notebooks]
        manifest = upload_blobs(self.client, files, what)
        key = api.SubmissionKey(course_id, assignment_id, student_id, submitted)
        api.return_feedback(self.client, key, manifest, what=what)
        self.log.info("Feedback released for %s (submission of %s)", student_id, timestamp)
