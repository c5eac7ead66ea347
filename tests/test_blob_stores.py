"""Every blob store keeps contents whole, once, and never half-written.

The database store runs on the suite's database (SQLite or PostgreSQL), the
S3 store on a moto endpoint (``s3_server.py``).
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from s3_server import MotoServer
from server_process import ServerProcess
from sqlalchemy import func, select

from ngshare.server.storage.blobs import CHUNK_SIZE, BlobNotFound, BlobStore
from ngshare.server.storage.blobs.database import DatabaseBlobStore
from ngshare.server.storage.blobs.filesystem import FilesystemBlobStore
from ngshare.server.storage.blobs.s3 import MIN_PART_SIZE, S3BlobStore
from ngshare.server.storage.db import Database
from ngshare.server.storage.models import BlobChunk


@pytest.fixture(params=["filesystem", "database", "s3"])
def store(request: pytest.FixtureRequest, tmp_path: Path, db_url: str) -> Iterator[BlobStore]:
    if request.param == "filesystem":
        yield FilesystemBlobStore(tmp_path / "blobs")
        return
    if request.param == "s3":
        s3: MotoServer = request.getfixturevalue("s3")
        bucket = request.getfixturevalue("s3_bucket")
        # Parts of the smallest size S3 allows, so "several-chunks" is a multipart upload.
        yield S3BlobStore(endpoint_url=s3.endpoint_url, bucket=bucket, part_size=MIN_PART_SIZE)
        return
    database = Database(db_url)
    database.upgrade()
    try:
        yield DatabaseBlobStore(database.engine)
    finally:
        database.dispose()


@pytest.mark.parametrize(
    "content",
    [b"", b"x", bytes(range(256)), os.urandom(CHUNK_SIZE), os.urandom(3 * CHUNK_SIZE + 7)],
    ids=["empty", "one-byte", "all-bytes", "one-chunk", "several-chunks"],
)
def test_round_trip(store: BlobStore, content: bytes) -> None:
    info = store.put(content)
    assert info.sha256 == hashlib.sha256(content).hexdigest()
    assert info.md5 == hashlib.md5(content, usedforsecurity=False).hexdigest()
    assert info.size == len(content)
    assert store.exists(info.sha256)
    assert store.read(info.sha256) == content
    assert all(len(c) <= CHUNK_SIZE for c in store.read_chunks(info.sha256))


def test_streamed_writes_hash_what_arrives(store: BlobStore) -> None:
    writer = store.writer()
    parts = [os.urandom(1000) for _ in range(50)]
    for part in parts:
        writer.write(part)
    info = writer.commit()
    assert store.read(info.sha256) == b"".join(parts)


def test_aborted_write_leaves_nothing(store: BlobStore, tmp_path: Path) -> None:
    writer = store.writer()
    writer.write(b"never committed")
    writer.abort()
    assert not store.exists(hashlib.sha256(b"never committed").hexdigest())
    if isinstance(store, FilesystemBlobStore):
        assert list(store.tmp_dir.iterdir()) == []


def test_missing_and_deleted_blobs(store: BlobStore) -> None:
    with pytest.raises(BlobNotFound):
        store.read("0" * 64)
    info = store.put(b"to delete")
    store.delete(info.sha256)
    assert not store.exists(info.sha256)
    with pytest.raises(BlobNotFound):
        store.read(info.sha256)


def test_leftovers_of_interrupted_writes_go_once_old(store: BlobStore) -> None:
    writer = store.writer()
    writer.write(os.urandom(MIN_PART_SIZE + 1))  # on S3, a multipart upload is open
    # Neither committed nor aborted: as if the server had been killed.
    assert store.remove_leftovers(time.time() - 3600) == 0  # could still be in flight
    left = 0 if isinstance(store, DatabaseBlobStore) else 1  # a temporary file, an upload
    assert store.remove_leftovers(time.time() + 60) == left
    assert store.remove_leftovers(time.time() + 60) == 0
    if isinstance(store, FilesystemBlobStore):
        assert list(store.tmp_dir.iterdir()) == []
    writer.abort()  # (releases what the test holds; there is nothing left to remove)


def test_concurrent_writes_of_one_content(store: BlobStore) -> None:
    content = os.urandom(2 * CHUNK_SIZE + 5)
    with ThreadPoolExecutor(max_workers=8) as pool:
        infos = list(pool.map(lambda _: store.put(content), range(8)))
    assert len({i.sha256 for i in infos}) == 1
    assert store.read(infos[0].sha256) == content
    if isinstance(store, DatabaseBlobStore):
        with store.engine.connect() as connection:
            chunks = connection.scalar(select(func.count()).select_from(BlobChunk))
        assert chunks == 3  # stored once


def test_server_with_the_database_store_keeps_no_files(db_url: str, tmp_path: Path) -> None:
    storage = tmp_path / "unused-storage"
    server = ServerProcess(
        db_url=db_url,
        workdir=tmp_path / "server",
        storage_path=storage,
        extra_args=["--blob-store=database"],
    )
    with server:
        admin, kim = server.client("admin"), server.client("kim")
        assert admin.post("course", "c1", data={"instructors": '["kim"]'}).status_code == 200
        content = os.urandom(CHUNK_SIZE + 1)
        files = [{"path": "data.bin", "content": base64.b64encode(content).decode()}]
        response = kim.post("assignment", "c1", "ps1", data={"files": json.dumps(files)})
        assert response.status_code == 200, response.text
        fetched = kim.get("assignment", "c1", "ps1").json()["files"]
        assert base64.b64decode(fetched[0]["content"]) == content
    assert not storage.exists() or not any(p.is_file() for p in storage.rglob("*"))
