"""``nbgrader fetch_assignment``: download a release into ./<assignment>.

``GET /assignment/{course}/{assignment}``. A student's files are never
overwritten: an existing assignment directory is refused, as nbgrader does,
and with ``--replace`` (``replace_missing_files``) only files the student
does not have are written.
"""

from __future__ import annotations

import os

from nbgrader.exchange.abc import ExchangeFetchAssignment as ABCExchangeFetchAssignment

from ngshare.exchange.exchange import Exchange
from ngshare.exchange.files import (
    FileRules,
    decode_tree,
    discard,
    staging_directory,
    write_new_files,
)


class ExchangeFetchAssignment(Exchange, ABCExchangeFetchAssignment):
    def _load_config(self, cfg, **kwargs):  # type: ignore[no-untyped-def]
        # nbgrader < 0.7 named this class ExchangeFetch; keep old configs working.
        if "ExchangeFetch" in cfg:
            self.log.warning("Use ExchangeFetchAssignment in config, not ExchangeFetch.")
            cfg.ExchangeFetchAssignment.merge(cfg.ExchangeFetch)
            del cfg.ExchangeFetch
        super()._load_config(cfg, **kwargs)

    def init_src(self) -> None:
        self.course_id = self.require_course()
        self.assignment_id = self.require_assignment()
        self.check_access(self.course_id)

    def init_dest(self) -> None:
        root = self.local_root(self.course_id, self.assignment_id)
        self.dest_path = self.local_path(self.course_id, self.assignment_id)
        if self.dest_path.is_dir() and not self.replace_missing_files:
            self.fail(f"You already have a copy of the assignment in this directory: {root}")

    def copy_files(self) -> None:
        what = f"fetch assignment {self.assignment_id!r} of course {self.course_id!r}"
        response = self.client.get("assignment", self.course_id, self.assignment_id, what=what)
        rules = FileRules(exclude=tuple(self.coursedir.ignore))
        files = [
            f
            for f in decode_tree(response.get("files"), what)
            if not any(rules.excludes(part) for part in f.path.split("/"))
        ]
        self.log.info(
            "Source: %s", self.client.url("assignment", self.course_id, self.assignment_id)
        )
        self.log.info("Destination: %s", self.dest_path)
        if self.dest_path.is_dir():
            written, kept = write_new_files(self.dest_path, files, self.log)
            for path in written:
                self.log.warning("Replacing missing file '%s'", os.path.join(self.dest_path, path))
            self.log.info("Kept %d existing file(s) unchanged", len(kept))
        else:
            staging = staging_directory(self.dest_path)
            try:
                write_new_files(staging, files, self.log)
                staging.rename(self.dest_path)
            except BaseException:
                discard(staging)
                raise
        self.log.info("Fetched as: %s %s", self.course_id, self.assignment_id)
