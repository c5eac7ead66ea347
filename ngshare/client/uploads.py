"""Sending files: only the content the server lacks, streamed and compressed.

Uploading hashes the local files, learns which blobs the server lacks and
sends just those in one streamed body, compressing what looks like text on
the way (:mod:`ngshare.protocol.blob_frames`): a release or feedback as a
batch (``POST api/v2/blobs``) whose manifest the caller commits next, a
submission as one bundle (the manifest, then those blobs) that the server
records together or not at all.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from ngshare.client.api import API, assignment_path
from ngshare.client.connection import Connection
from ngshare.client.errors import JSON, ClientError, Conflict, ServerError
from ngshare.client.manifests import READ_SIZE, LocalFile, ManifestFile, hash_file, manifest_json
from ngshare.protocol import blob_frames
from ngshare.protocol.sizes import counted, human_size


@dataclass(frozen=True)
class LocalBlob:
    """Content to upload: its size, and a file that holds it."""

    size: int
    source: Path


def manifest_of(files: Sequence[LocalFile]) -> tuple[list[ManifestFile], dict[str, LocalBlob]]:
    """The manifest of ``files``, and each distinct blob's (by sha256) size and source."""
    manifest: list[ManifestFile] = []
    sources: dict[str, LocalBlob] = {}
    for local in files:
        sha256, size = hash_file(local.source)
        manifest.append(ManifestFile(local.path, sha256, size))
        sources.setdefault(sha256, LocalBlob(size, local.source))
    return manifest, sources


def upload_blobs(conn: Connection, files: Sequence[LocalFile], what: str) -> list[ManifestFile]:
    """Send the content of ``files`` the server lacks; returns the manifest to commit."""
    manifest, sources = manifest_of(files)
    to_send = ask_missing(conn, manifest, sources, what)
    if to_send:
        conn.upload_stream(
            *API,
            "blobs",
            body=lambda: frames(to_send, sources),
            content_type=blob_frames.CONTENT_TYPE,
            what=what,
        )
    return manifest


def submit_bundle(
    conn: Connection,
    files: Sequence[LocalFile],
    course: str,
    assignment: str,
    *,
    what: str,
    idempotency_key: str,
    known: Collection[str] = (),
) -> tuple[JSON, list[ManifestFile]]:
    """Submit ``files`` as one bundle (their manifest and the content the server lacks).

    The server refuses a bundle from its manifest before storing any of its
    content, and records the content and the submission in one transaction.
    ``known``: content the server is believed to hold for this user (what
    they fetched and submitted before); with it, the bundle goes without
    asking first, and a 409 naming what the server lacks sends that too.
    Returns the server's answer (the timestamp and the release's paths) and
    the manifest submitted.
    """
    manifest, sources = manifest_of(files)
    if known:
        to_send = [sha256 for sha256 in sources if sha256 not in known]
    else:
        to_send = ask_missing(conn, manifest, sources, what)
    head = blob_frames.bundle_head(manifest_json(manifest))

    def send(hashes: list[str]) -> JSON:
        def body() -> Iterator[bytes]:
            yield head
            yield from frames(hashes, sources)

        return conn.upload_stream(
            *assignment_path(course, assignment),
            "submissions",
            body=body,
            content_type=blob_frames.BUNDLE_CONTENT_TYPE,
            what=what,
            who_may="members of the course",
            idempotency_key=idempotency_key,
        )

    try:
        return send(to_send), manifest
    except Conflict as error:
        lacking = _lacking(error, sources)
        if not known or not lacking:
            raise
    # The guess was wrong (content removed since, or another server): nothing
    # was recorded, so the same key submits again, with what it lacks. What
    # the first attempt sent is sent again: a refused bundle leaves its
    # content no one's to name.
    conn.log.info("The server lacks %d more files; sending them too", len(lacking))
    return send(list(dict.fromkeys([*to_send, *lacking]))), manifest


def _lacking(error: ClientError, sources: Mapping[str, LocalBlob]) -> list[str]:
    """The blobs a 409 says the server lacks, if they are this submission's."""
    missing = error.answer.get("missing")
    if not isinstance(missing, list) or not all(h in sources for h in missing):
        return []
    return [str(h) for h in missing]


def ask_missing(
    conn: Connection,
    manifest: Sequence[ManifestFile],
    sources: Mapping[str, LocalBlob],
    what: str,
) -> list[str]:
    """Of the blobs in ``sources``, those the server lacks (``POST blobs/missing``)."""
    if not sources:
        return []
    missing = conn.send_json(
        "POST", *API, "blobs", "missing", body={"sha256": list(sources)}, what=what, retry=True
    ).get("missing")
    if not isinstance(missing, list) or not all(h in sources for h in missing):
        raise ServerError("the server's list of missing content is broken", what=what)
    if missing:
        if len(missing) < len(sources):
            conn.log.info(
                "Sending %d of %s (%s); the server has the rest",
                len(missing),
                counted(len(manifest), "file"),
                human_size(sum(sources[sha256].size for sha256 in missing)),
            )
    else:
        conn.log.info("The server has all %s already; sending none", counted(len(manifest), "file"))
    return [str(sha256) for sha256 in missing]


def frames(hashes: Sequence[str], sources: Mapping[str, LocalBlob]) -> Iterator[bytes]:
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
