"""``nbgrader fetch_feedback``: download feedback into ./<assignment>/feedback/<timestamp>/.

The user's submissions come from the server (``GET api/v2/.../submissions/{me}``),
not only from the local cache, so feedback arrives even in a fresh home
directory; for each, the feedback's manifest and its files in one streamed
download. Feedback files are replaced when the instructor released newer
ones, as nbgrader's default exchange does.
"""

from __future__ import annotations

from nbgrader.exchange.abc import ExchangeFetchFeedback as ABCExchangeFetchFeedback

from ngshare.client import api
from ngshare.client.downloads import LocalContent, download_blobs
from ngshare.exchange.assignments import local_timestamp
from ngshare.exchange.exchange import Exchange
from ngshare.exchange.files import discard, replace_files, staging_directory


class ExchangeFetchFeedback(Exchange, ABCExchangeFetchFeedback):
    def init_src(self) -> None:
        self.course_id = self.require_course()
        self.assignment_id = self.require_assignment()
        student_id = self.coursedir.student_id
        if student_id in ("*", ""):
            student_id = self.username
        elif "*" in student_id or "+" in student_id:
            self.fail(f"The student ID should contain no '*' nor '+'; got {student_id}")
        self.student_id = student_id

    def init_dest(self) -> None:
        self.dest_path = self.local_path(self.course_id, self.assignment_id) / "feedback"

    def copy_files(self) -> None:
        course_id, assignment_id = self.course_id, self.assignment_id
        found = api.student_submissions(self.client, course_id, assignment_id, self.student_id)
        where = api.assignment_path(course_id, assignment_id)
        self.log.info("Source: %s", self.client.url(*where, "submissions", self.student_id))
        self.log.info("Destination: %s", self.dest_path)
        fetched = 0
        for record in found:
            timestamp = local_timestamp(record.timestamp)
            what = f"fetch the feedback on your submission of {timestamp}"
            key = api.SubmissionKey(course_id, assignment_id, self.student_id, record.timestamp)
            files = api.feedback_files(self.client, key, what=what)
            if not files:
                self.log.warning(
                    "Could not find feedback for '%s/%s' submitted at %s",
                    course_id,
                    assignment_id,
                    timestamp,
                )
                continue
            destination = self.dest_path / timestamp
            staging = staging_directory(destination)
            try:
                download_blobs(
                    self.client,
                    [(staging.joinpath(*f.path.split("/")), f) for f in files],
                    what,
                    LocalContent([destination]),
                )
                replace_files(staging, destination, [f.path for f in files])
            finally:
                discard(staging)
            for remote in files:
                self.log.info("Fetched feedback: %s", destination / remote.path)
            fetched += 1
        if not found:
            self.log.warning(
                "You have no submissions of '%s/%s' to fetch feedback for",
                course_id,
                assignment_id,
            )
        elif not fetched:
            self.log.warning("No feedback is available yet")
