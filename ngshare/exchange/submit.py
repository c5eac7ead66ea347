"""``nbgrader submit``: upload ./<assignment> as a new submission.

The submission is one bundle: its manifest and only the content the server
lacks (``POST api/v2/courses/{c}/assignments/{a}/submissions``). What it
lacks is read from this user's record of what the fetch and earlier
submits moved (:mod:`ngshare.exchange.known_content`); without a record,
the server is asked first (``POST api/v2/blobs/missing``). The server names
the submission by its own timestamp, which is written to ``timestamp.txt``
in the local submission cache (and, on collect, in the instructor's copy).
The bundle carries an ``Idempotency-Key``, one per submit, reused by its
retries: a retry after a lost response gets the first attempt's timestamp
back instead of creating a second submission.

The server's answer names the release's files, from which nbgrader's warning
about missing or extra notebooks is made; only ``strict`` mode, which must
refuse before submitting, asks for the release's listing first.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from nbgrader.exchange.abc import ExchangeSubmit as ABCExchangeSubmit
from nbgrader.utils import find_all_notebooks

from ngshare.client import api
from ngshare.client.errors import ClientError
from ngshare.client.uploads import submit_bundle
from ngshare.exchange.assignments import local_timestamp
from ngshare.exchange.exchange import Exchange
from ngshare.exchange.files import (
    FileRules,
    LocalFile,
    check_total_size,
    discard,
    find_files,
    staging_directory,
)
from ngshare.protocol.sizes import counted, human_size


class ExchangeSubmit(Exchange, ABCExchangeSubmit):
    def init_src(self) -> None:
        root = self.local_root(self.coursedir.course_id, self.coursedir.assignment_id)
        self.src_path = os.path.abspath(os.path.join(self.assignment_dir, root))
        # As nbgrader does: "nbgrader submit path/to/ps1" submits ps1.
        self.coursedir.assignment_id = os.path.split(self.src_path)[-1]
        if not os.path.isdir(self.src_path):
            self.fail(f"Assignment not found at: {self.src_path}")

    def init_dest(self) -> None:
        self.course_id = self.require_course()
        self.check_access(self.course_id)
        # ngshare records the submission for the owner of the API token, and
        # its answer names them: only a --student given explicitly must be
        # checked against the server's word before anything is sent.
        student_id = self.coursedir.student_id
        if student_id in ("*", ""):
            return
        refused = (
            f"Cannot submit as {student_id!r}: ngshare records the submission for the owner "
            "of the API token"
        )
        try:
            me = self.username
        except ClientError as error:
            if student_id in ("*", ""):
                raise
            self.fail(f"{refused}, and could not be asked who that is: {error}")
        if student_id not in ("*", "", me):
            self.fail(f"{refused} ({me!r}). Leave out --student.")

    def check_filename_diff(self, released: list[str]) -> None:
        """Warn (or, with ``strict``, fail) when notebooks are missing or extra."""
        released_notebooks = sorted(p for p in released if p.endswith(".ipynb"))
        submitted_notebooks = find_all_notebooks(self.src_path)
        missing = [nb for nb in released_notebooks if nb not in submitted_notebooks]
        extra = [nb for nb in submitted_notebooks if nb not in released_notebooks]
        if not missing and not extra:
            return
        expected = "\n\t".join(
            f"{nb}: {'MISSING' if nb in missing else 'FOUND'}" for nb in released_notebooks
        )
        submitted = "\n\t".join(
            f"{nb}: {'EXTRA' if nb in extra else 'OK'}" for nb in submitted_notebooks
        )
        diff = f"Expected:\n\t{expected}\nSubmitted:\n\t{submitted}"
        assignment_id = self.coursedir.assignment_id
        if missing and self.strict:
            self.fail(
                f"Assignment {assignment_id} not submitted. "
                f"There are missing notebooks for the submission:\n{diff}"
            )
        self.log.warning(
            "Possible missing notebooks and/or extra notebooks submitted for assignment %s:\n%s",
            assignment_id,
            diff,
        )

    def copy_files(self) -> None:
        course_id, assignment_id = self.course_id, self.coursedir.assignment_id
        if self.strict:
            released = api.release_manifest(self.client, course_id, assignment_id)
            self.check_filename_diff([entry.path for entry in released])
        files = find_files(Path(self.src_path), FileRules.from_coursedir(self.coursedir), self.log)
        total = check_total_size(files, self.coursedir.max_dir_size, f"Assignment {assignment_id}")
        self.log.info("Source: %s", self.src_path)
        self.log.info(
            "Uploading %s (%s) to %s",
            counted(len(files), "file"),
            human_size(total),
            self.client.base_url,
        )
        what = f"submit assignment {assignment_id!r} of course {course_id!r}"
        known = self.known_content(course_id, assignment_id)
        response, manifest = submit_bundle(
            self.client,
            files,
            course_id,
            assignment_id,
            what=what,
            idempotency_key=self.client.new_idempotency_key(),
            known=set(known.load()),
        )
        known.remember(entry.sha256 for entry in manifest)
        if not self.strict:
            released_paths = response.get("released")
            if isinstance(released_paths, list):
                self.check_filename_diff([str(path) for path in released_paths])
        self.timestamp = local_timestamp(api.server_time(response.get("timestamp"), what))
        self.cache_submission(files, self.submitter(response))
        self.log.info("Submitted as: %s %s %s", course_id, assignment_id, self.timestamp)

    def submitter(self, response: dict[str, object]) -> str:
        """Whom the server recorded the submission for (its answer says; else ask)."""
        student = response.get("student")
        if not isinstance(student, str) or not student:
            return self.username
        self.warn_if_environment_disagrees(student)
        return student

    def cache_submission(self, files: list[LocalFile], student: str) -> None:
        """Keep a copy as nbgrader does: ``list --cached`` and the extensions read it.

        Filed under the name the server knows the user by (``<user>+<assignment>+
        <timestamp>``), never the operating system's: in a Zero to JupyterHub pod
        that would be every student's ``jovyan``.
        """
        name = f"{student}+{self.coursedir.assignment_id}+{self.timestamp}"
        cache_path = Path(self.cache, self.course_id, name)
        staging = staging_directory(cache_path)
        try:
            for local in files:
                target = staging.joinpath(*local.path.split("/"))
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(local.source, target)
            (staging / "timestamp.txt").write_text(self.timestamp, encoding="utf-8")
            staging.rename(cache_path)
        except BaseException:
            discard(staging)
            raise
