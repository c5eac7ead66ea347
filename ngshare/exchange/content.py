"""Moving file trees through the own API: only the content the other side lacks.

Uploading hashes the local files, asks the server which blobs it lacks
(``POST blobs/missing``) and sends just those in one streamed request,
compressing text on the way: a submission as one bundle (the manifest, then
those blobs), a release or feedback as a batch (``POST blobs``) and then its
manifest. Downloading takes a manifest, copies whatever content is already
on this machine (a released data file the instructor has, a file already
collected) and fetches the rest in one streamed request (``POST
blobs/download``); a fetch, where nothing is local yet, takes the release as
one bundle. Every byte is checked against its sha256 before anything is
placed where nbgrader will look.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from nbgrader.exchange.abc import ExchangeError

from ngshare.exchange.client import JSON, NgshareClient, NgshareError
from ngshare.exchange.files import LocalFile, is_safe_path
from ngshare.protocol import blob_frames
from ngshare.protocol.names import is_sha256
from ngshare.protocol.sizes import human_size
from ngshare.protocol.timestamps import format_iso, format_v1, parse_iso, parse_v1

# The own API's path below the service URL.
API = ("api", "v2")
READ_SIZE = 1024 * 1024


@dataclass(frozen=True)
class ManifestFile:
    """A file as the own API names it: where it goes and what it holds."""

    path: str
    sha256: str
    size: int

    def as_json(self) -> dict[str, Any]:
        return {"path": self.path, "sha256": self.sha256, "size": self.size}


def api_timestamp(text: str) -> str:
    """The own API's name for a submission whose timestamp nbgrader holds as text.

    Local files (``timestamp.txt``, the submission cache) keep the v1 form
    nbgrader has always seen; the own API names submissions in ISO 8601.
    """
    parsed = parse_v1(text) or parse_iso(text)
    if parsed is None:
        raise ExchangeError(f"{text!r} is not a timestamp ngshare wrote")
    return format_iso(parsed)


def local_timestamp(text: str) -> str:
    """The v1 form of an own-API timestamp, as written to local files."""
    parsed = parse_iso(text)
    if parsed is None:
        raise ExchangeError(f"The server sent an unreadable timestamp {text!r}")
    return format_v1(parsed)


def submission_path(course: str, assignment: str, student: str, timestamp: str) -> tuple[str, ...]:
    """API path parts of a submission, from nbgrader's timestamp text."""
    return (
        *API,
        "courses",
        course,
        "assignments",
        assignment,
        "submissions",
        student,
        api_timestamp(timestamp),
    )


def assignment_path(course: str, assignment: str) -> tuple[str, ...]:
    return (*API, "courses", course, "assignments", assignment)


def hash_file(path: Path) -> tuple[str, int]:
    digest = hashlib.sha256()
    size = 0
    with open(path, "rb") as handle:
        while chunk := handle.read(READ_SIZE):
            digest.update(chunk)
            size += len(chunk)
    return digest.hexdigest(), size


def parse_manifest(files: object, what: str) -> list[ManifestFile]:
    """Check a manifest the server sent before anything is written from it."""
    if not isinstance(files, list):
        raise ExchangeError(f"Could not {what}: the server sent no file list.")
    parsed = []
    for item in files:
        path = item.get("path") if isinstance(item, dict) else None
        if not is_safe_path(path):
            raise ExchangeError(f"Could not {what}: the server sent an unsafe path {path!r}.")
        assert isinstance(item, dict) and isinstance(path, str)
        sha256, size = item.get("sha256"), item.get("size")
        if not is_sha256(sha256) or not isinstance(size, int) or size < 0:
            raise ExchangeError(f"Could not {what}: the server sent a bad entry for {path}.")
        parsed.append(ManifestFile(path, sha256, size))
    return parsed


# -- uploading ------------------------------------------------------------------------


def upload_files(
    client: NgshareClient, files: Sequence[LocalFile], what: str
) -> list[ManifestFile]:
    """Send the content the server lacks; returns the manifest to commit."""
    manifest, sources = _manifest_of(files)
    to_send = _ask_missing(client, manifest, sources, what)
    if to_send:
        client.upload_stream(
            *API,
            "blobs",
            body=lambda: _frames(to_send, sources),
            content_type=blob_frames.CONTENT_TYPE,
            what=what,
        )
    return manifest


def submit_files(
    client: NgshareClient,
    files: Sequence[LocalFile],
    where: Sequence[str],
    what: str,
    idempotency_key: str,
    known: Collection[str] = (),
) -> tuple[JSON, list[ManifestFile]]:
    """Submit ``files`` as one bundle (their manifest and the content the server lacks).

    The server refuses a bundle from its manifest before storing any of its
    content, and records the content and the submission in one transaction.
    ``known``: content the server is believed to hold for this user (see
    :mod:`ngshare.exchange.known_content`); with it, the bundle goes without
    asking first, and a 409 naming what the server lacks sends that too.
    Returns the server's answer (the timestamp and the release's paths) and
    the manifest submitted.
    """
    manifest, sources = _manifest_of(files)
    if known:
        to_send = [sha256 for sha256 in sources if sha256 not in known]
    else:
        to_send = _ask_missing(client, manifest, sources, what)
    head = blob_frames.bundle_head({"files": [entry.as_json() for entry in manifest]})

    def send(hashes: list[str]) -> JSON:
        def body() -> Iterator[bytes]:
            yield head
            yield from _frames(hashes, sources)

        return client.upload_stream(
            *where,
            body=body,
            content_type=blob_frames.BUNDLE_CONTENT_TYPE,
            what=what,
            idempotency_key=idempotency_key,
        )

    try:
        return send(to_send), manifest
    except NgshareError as error:
        lacking = _lacking(error, sources)
        if not known or not lacking:
            raise
    # The guess was wrong (content removed since, or another server): nothing
    # was recorded, so the same key submits again, with what it lacks. What
    # the first attempt sent is sent again: a refused bundle leaves its
    # content no one's to name.
    client.log.info("The server lacks %d more files; sending them too", len(lacking))
    return send(list(dict.fromkeys([*to_send, *lacking]))), manifest


def _lacking(error: NgshareError, sources: Mapping[str, LocalBlob]) -> list[str]:
    """The blobs a 409 says the server lacks, if they are this submission's."""
    missing = error.answer.get("missing") if error.status == 409 else None
    if not isinstance(missing, list) or not all(h in sources for h in missing):
        return []
    return [str(h) for h in missing]


@dataclass(frozen=True)
class LocalBlob:
    """Content to upload: its size, and a file that holds it."""

    size: int
    source: Path


def _manifest_of(files: Sequence[LocalFile]) -> tuple[list[ManifestFile], dict[str, LocalBlob]]:
    """The manifest of ``files``, and each distinct blob's (by sha256) size and source."""
    manifest: list[ManifestFile] = []
    sources: dict[str, LocalBlob] = {}
    for local in files:
        sha256, size = hash_file(local.source)
        manifest.append(ManifestFile(local.path, sha256, size))
        sources.setdefault(sha256, LocalBlob(size, local.source))
    return manifest, sources


def _ask_missing(
    client: NgshareClient,
    manifest: Sequence[ManifestFile],
    sources: Mapping[str, LocalBlob],
    what: str,
) -> list[str]:
    """Of the blobs in ``sources``, those the server lacks (``POST blobs/missing``)."""
    if not sources:
        return []
    missing = client.send_json(
        "POST", *API, "blobs", "missing", body={"sha256": list(sources)}, what=what, retry=True
    )["missing"]
    if missing:
        if len(missing) < len(sources):
            client.log.info(
                "Sending %d of %d files (%s); the server has the rest",
                len(missing),
                len(manifest),
                human_size(sum(sources[sha256].size for sha256 in missing)),
            )
    else:
        client.log.info("The server has all %d files already; sending none", len(manifest))
    return [str(sha256) for sha256 in missing]


def _frames(hashes: Sequence[str], sources: Mapping[str, LocalBlob]) -> Iterator[bytes]:
    """Each blob of ``hashes`` as a frame, compressed while it streams if it looks like text."""
    for sha256 in hashes:
        size = sources[sha256].size
        with open(sources[sha256].source, "rb") as handle:
            first = handle.read(READ_SIZE)
            if not blob_frames.worth_compressing(first, size):
                yield blob_frames.frame_header(sha256, size, blob_frames.IDENTITY)
                yield from _file_chunks(first, handle)
                continue
            yield blob_frames.frame_header(sha256, size, blob_frames.GZIP)
            compressor = blob_frames.gzip_compressor()
            for chunk in _file_chunks(first, handle):
                yield compressor.compress(chunk)
            yield compressor.flush()


def _file_chunks(first: bytes, handle: IO[bytes]) -> Iterator[bytes]:
    chunk = first
    while chunk:
        yield chunk
        chunk = handle.read(READ_SIZE)


# -- downloading ----------------------------------------------------------------------


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


def download_files(
    client: NgshareClient,
    placements: Sequence[tuple[Path, ManifestFile]],
    what: str,
    local: LocalContent | None = None,
) -> None:
    """Write each manifest file to its target path, fetching only what is not local.

    Targets are new files in staging directories; a file whose bytes do not
    match its sha256 is an error, and nothing of it is left behind by the
    caller's discarding the staging directory.
    """
    wanted = {entry.sha256: entry.size for _, entry in placements}
    have = local.find(wanted) if local is not None and wanted else {}
    first_target: dict[str, Path] = {}
    for target, entry in placements:
        first_target.setdefault(entry.sha256, target)
    fetch = [sha256 for sha256 in first_target if sha256 not in have]
    if fetch:
        total = sum(wanted[sha256] for sha256 in fetch)
        client.log.info("Downloading %d files (%s)", len(fetch), human_size(total))
        receiver = _FrameReceiver({sha256: first_target[sha256] for sha256 in fetch}, what)
        client.download_stream(
            *API,
            "blobs",
            "download",
            body={"sha256": fetch, "gzip": True},
            consume=receiver.consume,
            what=what,
        )
        receiver.check_complete()
    for sha256, source in have.items():
        _copy(source, first_target[sha256])
    for target, entry in placements:
        if target != first_target[entry.sha256]:
            _copy(first_target[entry.sha256], target)


def download_bundle(
    client: NgshareClient,
    where: Sequence[str],
    staging: Path,
    wanted: Callable[[ManifestFile], bool],
    what: str,
) -> list[ManifestFile]:
    """Fetch a release as one bundle into ``staging``: the files ``wanted`` keeps.

    Returns the manifest of the files written. Content only unwanted files
    name is checked and dropped.
    """
    receiver = _BundleReceiver(staging, wanted, what)
    client.get_stream(
        *where, accept=blob_frames.BUNDLE_CONTENT_TYPE, consume=receiver.consume, what=what
    )
    receiver.check_complete()
    for target, entry in receiver.placements:
        first = receiver.targets[entry.sha256]
        if target != first:
            _copy(first, target)
    return [entry for _, entry in receiver.placements]


def _copy(source: Path, target: Path) -> None:
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, target)
    except OSError as error:
        raise ExchangeError(f"Could not write {target}: {error.strerror or error}") from None


class _FrameReceiver:
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
                        handle, digest = self._open(event.header.sha256), hashlib.sha256()
                    else:
                        assert handle is not None
                        handle.close()
                        handle = None
                        self._check(event.header.sha256, digest.hexdigest())
            parser.close()
        except blob_frames.FrameError as error:
            raise ExchangeError(
                f"Could not {self.what}: the server's answer is broken ({error})"
            ) from None
        finally:
            if handle is not None:
                handle.close()

    def parser(self) -> blob_frames.FrameParser | blob_frames.BundleParser:
        return blob_frames.FrameParser(max_size=2**63)

    def on_head(self, fields: dict[str, object]) -> None:
        raise ExchangeError(f"Could not {self.what}: the server's answer is broken.")

    def _open(self, sha256: str) -> IO[bytes]:
        target = self.targets.get(sha256)
        if target is None:
            raise ExchangeError(f"Could not {self.what}: the server sent content not asked for.")
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            return open(target, "wb")
        except OSError as error:
            raise ExchangeError(f"Could not write {target}: {error.strerror or error}") from None

    def _check(self, sha256: str, actual: str) -> None:
        if actual != sha256:
            raise ExchangeError(
                f"Could not {self.what}: {self.targets[sha256].name} arrived corrupted."
            )
        self.received.add(sha256)

    def check_complete(self) -> None:
        lacking = set(self.targets) - self.received
        if lacking:
            raise ExchangeError(
                f"Could not {self.what}: the server's answer lacks {len(lacking)} file(s)."
            )


def place_new_files(
    staging: Path, destination: Path, paths: Iterable[str], log: logging.Logger
) -> list[str]:
    """Copy downloaded files into an existing tree without touching any file there.

    Opening with "x" fails if the target exists, even if it appeared
    meanwhile, so a student's own file is never replaced. Returns the paths
    placed.
    """
    placed = []
    for path in paths:
        target = destination.joinpath(*path.split("/"))
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            try:
                handle = open(target, "xb")  # noqa: SIM115 (closed by the with below)
            except FileExistsError:
                continue
            with handle, open(staging.joinpath(*path.split("/")), "rb") as source:
                shutil.copyfileobj(source, handle, READ_SIZE)
        except OSError as error:
            raise ExchangeError(f"Could not write {path}: {error.strerror or error}") from None
        log.debug("Wrote %s", target)
        placed.append(path)
    return placed


def replace_files(staging: Path, destination: Path, paths: Iterable[str]) -> None:
    """Move downloaded files into place, replacing older copies (feedback)."""
    for path in paths:
        target = destination.joinpath(*path.split("/"))
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            os.replace(staging.joinpath(*path.split("/")), target)
        except OSError as error:
            raise ExchangeError(f"Could not write {path}: {error.strerror or error}") from None


class _BundleReceiver(_FrameReceiver):
    """Writes a bundle's frames where its manifest (the first line) places them."""

    def __init__(self, staging: Path, wanted: Callable[[ManifestFile], bool], what: str) -> None:
        super().__init__({}, what)
        self.staging = staging
        self.wanted = wanted
        self.placements: list[tuple[Path, ManifestFile]] = []
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

    def _open(self, sha256: str) -> IO[bytes]:
        if sha256 in self.unwanted:
            return open(os.devnull, "wb")  # checked all the same, then dropped
        return super()._open(sha256)

    def _check(self, sha256: str, actual: str) -> None:
        if sha256 in self.unwanted:
            self.unwanted.discard(sha256)
            if actual != sha256:
                raise ExchangeError(f"Could not {self.what}: a file arrived corrupted.")
            return
        super()._check(sha256, actual)
