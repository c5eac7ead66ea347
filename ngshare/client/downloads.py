"""Receiving files: each content once, streamed to disk, checked before it is used.

A download takes a manifest, copies whatever content is already on this
machine (a released data file the instructor has, a file collected before)
and fetches the rest in one streamed request (``POST api/v2/blobs/download``,
gzip frames), large files each on its own (``GET api/v2/blobs/<sha256>``,
which the server may redirect to its blob store, followed without the token):
content several files share comes once and is copied. A
release can come as one bundle (its manifest, then every blob). Every byte
is checked against its sha256 as it is written, to files the caller names
(in a staging directory it discards on failure), so nothing is ever held
whole in memory and nothing unchecked is placed where it will be read.
"""

from __future__ import annotations

import hashlib
import os
import shutil
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import IO

from ngshare.client.api import API, batches
from ngshare.client.connection import Connection
from ngshare.client.errors import LocalFileError, ServerError
from ngshare.client.manifests import ManifestFile, hash_file, parse_manifest
from ngshare.client.progress import Cumulative, ProgressCallback
from ngshare.protocol import blob_frames
from ngshare.protocol.api import MAX_FILES_PER_REQUEST
from ngshare.protocol.sizes import counted, human_size

#: A file to write and the manifest entry it is written from.
Placement = tuple[Path, ManifestFile]
#: Files at least this large are downloaded each on its own (``GET api/v2/blobs/<sha256>``),
#: the size from which an S3 store's presigned downloads start by default.
DIRECT_DOWNLOAD_SIZE = 8 * 1024 * 1024


class LocalContent:
    """Files already on this machine that may hold content a manifest needs.

    Only files whose size matches a wanted blob are hashed, so pointing it at
    a large directory costs little.
    """

    def __init__(self, roots: Iterable[Path]) -> None:
        self.roots = [root for root in roots if root.is_dir()]

    def find(self, wanted: dict[str, int]) -> dict[str, Path]:
        sizes = set(wanted.values())
        found: dict[str, Path] = {}
        for root in self.roots:
            for directory, _, names in os.walk(root):
                for name in names:
                    path = Path(directory, name)
                    try:
                        if not path.is_file() or path.stat().st_size not in sizes:
                            continue
                        sha256, _ = hash_file(path)
                    except OSError:
                        continue
                    if sha256 in wanted and sha256 not in found:
                        found[sha256] = path
        return found


def download_blobs(
    conn: Connection,
    placements: Sequence[Placement],
    what: str,
    local: LocalContent | None = None,
    progress: ProgressCallback | None = None,
    size: int = MAX_FILES_PER_REQUEST,
) -> None:
    """Write each manifest file to its target path, fetching only what is not local.

    Targets are new files (in staging directories); a file whose bytes do not
    match its sha256 is an error. Content comes in one request, or in as few
    as the server's limit of blobs per request allows (a class's submissions
    together may name more).
    """
    wanted = {entry.sha256: entry.size for _, entry in placements}
    have = local.find(wanted) if local is not None and wanted else {}
    first_target: dict[str, Path] = {}
    for target, entry in placements:
        first_target.setdefault(entry.sha256, target)
    fetch = [sha256 for sha256 in first_target if sha256 not in have]
    if fetch:
        total = sum(wanted[sha256] for sha256 in fetch)
        conn.log.info("Downloading %s (%s)", counted(len(fetch), "file"), human_size(total))
        received = Cumulative(progress)
        # Large files one by one: the server may send each straight from
        # its blob store (a redirect to a presigned URL).
        for sha256 in [h for h in fetch if wanted[h] >= DIRECT_DOWNLOAD_SIZE]:
            single = BlobReceiver({sha256: first_target[sha256]}, what)
            conn.download(
                "GET",
                *API,
                "blobs",
                sha256,
                accept="application/octet-stream",
                consume=single.consume,
                what=what,
                progress=received,
                follow_redirects=True,
            )
            single.check_complete()
            received.next_transfer()
        for batch in batches([h for h in fetch if wanted[h] < DIRECT_DOWNLOAD_SIZE], size):
            receiver = FrameReceiver({sha256: first_target[sha256] for sha256 in batch}, what)
            conn.download(
                "POST",
                *API,
                "blobs",
                "download",
                accept=blob_frames.CONTENT_TYPE,
                json_body={"sha256": batch, "gzip": True},
                consume=receiver.consume,
                what=what,
                progress=received,
            )
            receiver.check_complete()
            received.next_transfer()
    for sha256, source in have.items():
        copy_file(source, first_target[sha256])
    for target, entry in placements:
        if target != first_target[entry.sha256]:
            copy_file(first_target[entry.sha256], target)


def download_bundle(
    conn: Connection,
    where: Sequence[str],
    staging: Path,
    wanted: Callable[[ManifestFile], bool],
    what: str,
) -> list[ManifestFile]:
    """Fetch a release as one bundle into ``staging``: the files ``wanted`` keeps.

    Returns the manifest of the files written. Content only unwanted files
    name is checked and dropped.
    """
    receiver = BundleReceiver(staging, wanted, what)
    conn.download(
        "GET",
        *where,
        accept=blob_frames.BUNDLE_CONTENT_TYPE,
        consume=receiver.consume,
        what=what,
        who_may="members of the course",
    )
    receiver.check_complete()
    for target, entry in receiver.placements:
        first = receiver.targets[entry.sha256]
        if target != first:
            copy_file(first, target)
    return [entry for _, entry in receiver.placements]


def copy_file(source: Path, target: Path) -> None:
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, target)
    except OSError as error:
        raise LocalFileError(str(error.strerror or error), what=f"write {target}") from None


class FrameReceiver:
    """Writes the frames of a download into their target files, verifying each."""

    def __init__(self, targets: dict[str, Path], what: str) -> None:
        self.targets = targets
        self.what = what
        self.received: set[str] = set()

    def consume(self, chunks: Iterator[bytes]) -> None:
        # Called again from the start if the transfer is retried.
        self.received.clear()
        parser = self.parser()
        handle: IO[bytes] | None = None
        digest = hashlib.sha256()
        try:
            for chunk in chunks:
                for event in parser.feed(chunk):
                    if isinstance(event, blob_frames.BundleHead):
                        self.on_head(event.fields)
                    elif isinstance(event, blob_frames.FrameData):
                        assert handle is not None
                        digest.update(event.data)
                        handle.write(event.data)
                    elif isinstance(event, blob_frames.FrameStart):
                        handle, digest = self.open(event.header.sha256), hashlib.sha256()
                    else:
                        assert handle is not None
                        handle.close()
                        handle = None
                        self.check(event.header.sha256, digest.hexdigest())
            parser.close()
        except blob_frames.FrameError as error:
            raise ServerError(f"the server's answer is broken ({error})", what=self.what) from None
        finally:
            if handle is not None:
                handle.close()

    def parser(self) -> blob_frames.FrameParser | blob_frames.BundleParser:
        return blob_frames.FrameParser(max_size=2**63)

    def on_head(self, fields: dict[str, object]) -> None:
        raise ServerError("the server's answer is broken", what=self.what)

    def open(self, sha256: str) -> IO[bytes]:
        target = self.targets.get(sha256)
        if target is None:
            raise ServerError("the server sent content not asked for", what=self.what)
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            return open(target, "wb")
        except OSError as error:
            raise LocalFileError(str(error.strerror or error), what=f"write {target}") from None

    def check(self, sha256: str, actual: str) -> None:
        if actual != sha256:
            raise ServerError(f"{self.targets[sha256].name} arrived corrupted", what=self.what)
        self.received.add(sha256)

    def check_complete(self) -> None:
        lacking = set(self.targets) - self.received
        if lacking:
            raise ServerError(f"the server's answer lacks {len(lacking)} file(s)", what=self.what)


class BlobReceiver(FrameReceiver):
    """Writes one blob's raw bytes (a single download) into its target, verifying it."""

    def consume(self, chunks: Iterator[bytes]) -> None:
        self.received.clear()
        [sha256] = self.targets
        digest = hashlib.sha256()
        with self.open(sha256) as handle:
            for chunk in chunks:
                digest.update(chunk)
                handle.write(chunk)
        self.check(sha256, digest.hexdigest())


class BundleReceiver(FrameReceiver):
    """Writes a bundle's frames where its manifest (the first line) places them."""

    def __init__(self, staging: Path, wanted: Callable[[ManifestFile], bool], what: str) -> None:
        super().__init__({}, what)
        self.staging = staging
        self.wanted = wanted
        self.placements: list[Placement] = []
        self.unwanted: set[str] = set()

    def consume(self, chunks: Iterator[bytes]) -> None:
        self.targets, self.placements, self.unwanted = {}, [], set()
        super().consume(chunks)

    def parser(self) -> blob_frames.FrameParser | blob_frames.BundleParser:
        return blob_frames.BundleParser(max_size=2**63)

    def on_head(self, fields: dict[str, object]) -> None:
        manifest = parse_manifest(fields.get("files"), self.what)
        for entry in manifest:
            if not self.wanted(entry):
                self.unwanted.add(entry.sha256)
                continue
            target = self.staging.joinpath(*entry.path.split("/"))
            self.placements.append((target, entry))
            self.targets.setdefault(entry.sha256, target)
        self.unwanted -= set(self.targets)

    def open(self, sha256: str) -> IO[bytes]:
        if sha256 in self.unwanted:
            return open(os.devnull, "wb")  # checked all the same, then dropped
        return super().open(sha256)

    def check(self, sha256: str, actual: str) -> None:
        if sha256 in self.unwanted:
            self.unwanted.discard(sha256)
            if actual != sha256:
                raise ServerError("a file arrived corrupted", what=self.what)
            return
        super().check(sha256, actual)
