"""``nbgrader release_assignment``: upload release/<assignment> to ngshare.

Only the files the server lacks are sent, then the manifest is committed
(``PUT api/v2/courses/{course}/assignments/{assignment}``). With ``--force`` an
existing release gets the new files in place (``?replace=true``): its
submissions and feedback stay.
"""

from __future__ import annotations

import os
from pathlib import Path

from nbgrader.exchange.abc import ExchangeReleaseAssignment as ABCExchangeReleaseAssignment

from ngshare.client import api
from ngshare.client.uploads import upload_blobs
from ngshare.exchange.exchange import Exchange
from ngshare.exchange.files import FileRules, check_total_size, find_files
from ngshare.protocol.sizes import counted, human_size


class ExchangeReleaseAssignment(Exchange, ABCExchangeReleaseAssignment):
    def _load_config(self, cfg, **kwargs):
        # nbgrader < 0.7 named this class ExchangeRelease; keep old configs working.
        if "ExchangeRelease" in cfg:
            self.log.warning("Use ExchangeReleaseAssignment in config, not ExchangeRelease.")
            cfg.ExchangeReleaseAssignment.merge(cfg.ExchangeRelease)
            del cfg.ExchangeRelease
        super()._load_config(cfg, **kwargs)

    def init_src(self) -> None:
        assignment_id = self.require_assignment()
        self.src_path = self.coursedir.format_path(
            self.coursedir.release_directory, ".", assignment_id
        )
        if not os.path.isdir(self.src_path):
            source = self.coursedir.format_path(self.coursedir.source_directory, ".", assignment_id)
            if os.path.isdir(source):
                self.fail(
                    f"Assignment found in '{source}' but not '{self.src_path}', "
                    "run `nbgrader generate_assignment` first."
                )
            self.fail(f"Assignment not found at: {self.src_path}")

    def init_dest(self) -> None:
        self.course_id = self.require_course()

    def copy_files(self) -> None:
        course_id, assignment_id = self.course_id, self.coursedir.assignment_id
        files = find_files(Path(self.src_path), FileRules.from_coursedir(self.coursedir), self.log)
        total = check_total_size(files, self.coursedir.max_dir_size, f"Assignment {assignment_id}")
        replace = assignment_id in api.assignments(self.client, course_id)
        if replace:
            if not self.force:
                self.fail(
                    "Destination already exists, add --force to overwrite: "
                    f"{course_id} {assignment_id}"
                )
            self.log.info("Overwriting files: %s %s", course_id, assignment_id)
        self.log.info("Source: %s", self.src_path)
        self.log.info(
            "Releasing %s (%s) to %s",
            counted(len(files), "file"),
            human_size(total),
            self.client.base_url,
        )
        what = f"release assignment {assignment_id!r} of course {course_id!r}"
        manifest = upload_blobs(self.client, files, what)
        api.release(self.client, course_id, assignment_id, manifest, replace=replace, what=what)
        self.log.info("Released as: %s %s", course_id, assignment_id)
