"""``nbgrader fetch_assignment``: download a release into ./<assignment>.

The release as one bundle (``GET api/v2/courses/{course}/assignments/{assignment}``
with ``Accept: application/x-ngshare-bundle``: its manifest, then every blob
of it, streamed). A student's files are never overwritten: an existing
assignment directory is refused, as nbgrader does, and with ``--replace``
(``replace_missing_files``) the manifest comes first and only the files the
student does not have are downloaded and written.
"""

from __future__ import annotations

import os

from nbgrader.exchange.abc import ExchangeFetchAssignment as ABCExchangeFetchAssignment

from ngshare.client import api
from ngshare.client.downloads import download_blobs, download_bundle
from ngshare.client.manifests import ManifestFile
from ngshare.exchange.exchange import Exchange
from ngshare.exchange.files import FileRules, discard, place_new_files, staging_directory
from ngshare.protocol.sizes import counted


class ExchangeFetchAssignment(Exchange, ABCExchangeFetchAssignment):
    def _load_config(self, cfg, **kwargs):
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
        where = api.assignment_path(self.course_id, self.assignment_id)
        rules = FileRules(exclude=tuple(self.coursedir.ignore))

        def wanted(entry: ManifestFile) -> bool:
            return not any(rules.excludes(part) for part in entry.path.split("/"))

        self.log.info("Source: %s", self.client.url(*where))
        self.log.info("Destination: %s", self.dest_path)
        replacing = self.dest_path.is_dir()
        staging = staging_directory(self.dest_path)
        try:
            if not replacing:
                # Nothing of it is here yet: the manifest and every blob in one request.
                files = download_bundle(self.client, where, staging, wanted, what)
                self.log.info("Downloaded %s", counted(len(files), "file"))
                staging.rename(self.dest_path)
                self.remember(files)
                self.log.info("Fetched as: %s %s", self.course_id, self.assignment_id)
                return
            released = api.release_manifest(
                self.client, self.course_id, self.assignment_id, what=what
            )
            files = [
                f
                for f in released
                if wanted(f) and not self.dest_path.joinpath(*f.path.split("/")).exists()
            ]
            placements = [(staging.joinpath(*f.path.split("/")), f) for f in files]
            download_blobs(self.client, placements, what)
            written = place_new_files(staging, self.dest_path, [f.path for f in files], self.log)
            for path in written:
                self.log.warning("Replacing missing file '%s'", os.path.join(self.dest_path, path))
            discard(staging)
        except BaseException:
            discard(staging)
            raise
        self.remember(released)
        self.log.info("Fetched as: %s %s", self.course_id, self.assignment_id)

    def remember(self, files: list[ManifestFile]) -> None:
        """The release's content is on the server: a submit need not send it back."""
        self.known_content(self.course_id, self.assignment_id).remember(f.sha256 for f in files)
