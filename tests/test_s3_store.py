"""The S3 store's own promises, on a real S3 endpoint (moto, ``s3_server.py``).

The contract every store keeps is in ``test_blob_stores.py``; here: large
blobs go out as multipart uploads and appear under their content key only
when committed, an aborted one leaves no object and no open upload, claims
and the collector agree on LastModified, a store that is down or stalled is
an ``OSError`` (what the service answers with 503), ``check()`` says in one
line what is wrong, and the store's identity lives in the bucket, written once however many
servers start at once.
"""

from __future__ import annotations

import errno
import hashlib
import os
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from s3_server import CREDENTIALS, MotoServer, moto_server

from ngshare.server.storage.blobs import BlobStoreUnusable
from ngshare.server.storage.blobs.s3 import IDENTITY_KEY, MIN_PART_SIZE, S3BlobStore
from ngshare.server.storage.db import Database


def make_store(s3: MotoServer, bucket: str, **settings: object) -> S3BlobStore:
    return S3BlobStore(
        endpoint_url=s3.endpoint_url, bucket=bucket, part_size=MIN_PART_SIZE, **settings
    )


def open_uploads(s3: MotoServer, bucket: str) -> list[str]:
    uploads = s3.client().list_multipart_uploads(Bucket=bucket).get("Uploads", [])
    return [upload["Key"] for upload in uploads]


@pytest.fixture
def own_s3(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[MotoServer]:
    """An endpoint of this test's own, which it may stop or freeze."""
    with moto_server(tmp_path / "moto") as server:
        for name, value in CREDENTIALS.items():
            monkeypatch.setenv(name, value)
        yield server


def test_a_large_blob_appears_whole_only_when_committed(s3: MotoServer, s3_bucket: str) -> None:
    store = make_store(s3, s3_bucket, prefix="ng/")
    content = os.urandom(2 * MIN_PART_SIZE + 12345)
    sha256 = hashlib.sha256(content).hexdigest()
    writer = store.writer()
    step = 1024 * 1024
    for start in range(0, len(content), step):
        writer.write(content[start : start + step])
    # Two parts are out, the rest in memory: nothing under the content key yet.
    assert open_uploads(s3, s3_bucket) != []
    assert not store.exists(sha256)
    assert s3.keys(s3_bucket) == []
    info = writer.commit()
    assert info.sha256 == sha256
    assert store.read(sha256) == content
    assert s3.keys(s3_bucket) == [f"ng/blobs/{sha256[:2]}/{sha256}"]
    assert open_uploads(s3, s3_bucket) == []


def test_an_aborted_large_blob_leaves_nothing(s3: MotoServer, s3_bucket: str) -> None:
    store = make_store(s3, s3_bucket)
    writer = store.writer()
    writer.write(os.urandom(MIN_PART_SIZE + 1))
    assert open_uploads(s3, s3_bucket) != []
    writer.abort()
    assert open_uploads(s3, s3_bucket) == []
    assert s3.keys(s3_bucket) == []


def test_storing_stored_content_again_claims_it(s3: MotoServer, s3_bucket: str) -> None:
    store = make_store(s3, s3_bucket)
    content = os.urandom(MIN_PART_SIZE + 7)
    first = store.put(content)
    [(name, stored_at)] = list(store.stored())
    assert name == first.sha256
    # Kept when claimed at or after the cutoff, removed when used before it.
    assert not store.remove_unless_used_since(name, stored_at, db=None)  # type: ignore[arg-type]
    assert store.claim(name)
    again = store.put(content)  # multipart, then claimed: still one object
    assert again == first
    assert len(s3.keys(s3_bucket)) == 1
    assert store.remove_unless_used_since(name, stored_at + 3600, db=None)  # type: ignore[arg-type]
    assert not store.exists(name)
    assert not store.claim(name)  # gone: a writer stores its own copy
    assert store.put(content) == first
    assert store.read(name) == content


def test_check_says_what_is_wrong_in_one_line(s3: MotoServer, s3_bucket: str) -> None:
    make_store(s3, s3_bucket).check()
    with pytest.raises(BlobStoreUnusable) as missing:
        make_store(s3, "no-such-bucket-here").check()
    assert str(missing.value).startswith("cannot use bucket 'no-such-bucket-here' at http://")
    assert "\n" not in str(missing.value)
    with pytest.raises(BlobStoreUnusable, match="needs a bucket"):
        S3BlobStore(endpoint_url=s3.endpoint_url, bucket="")


def test_a_store_that_is_down_is_an_os_error(own_s3: MotoServer) -> None:
    bucket = own_s3.create_bucket()
    store = make_store(own_s3, bucket, connect_timeout=1, read_timeout=1, max_attempts=2)
    stored = store.put(b"before")
    own_s3.kill()
    for operation in (
        lambda: store.put(b"after"),
        lambda: store.read(stored.sha256),
        lambda: store.exists(stored.sha256),
        lambda: list(store.stored()),
    ):
        with pytest.raises(OSError) as fault:
            operation()
        assert fault.value.errno == errno.ECONNREFUSED
        assert fault.value.strerror.startswith("S3 store unreachable while ")
    with pytest.raises(BlobStoreUnusable, match="cannot use bucket"):
        store.check()


def test_a_stalled_store_is_an_os_error_not_a_hang(own_s3: MotoServer) -> None:
    bucket = own_s3.create_bucket()
    store = make_store(own_s3, bucket, connect_timeout=1, read_timeout=1, max_attempts=1)
    stored = store.put(b"before")
    own_s3.freeze()
    try:
        with pytest.raises(OSError) as fault:
            store.read(stored.sha256)
        assert fault.value.errno == errno.ETIMEDOUT
    finally:
        own_s3.thaw()
    assert store.read(stored.sha256) == b"before"


def test_the_identity_names_bucket_and_prefix(
    s3: MotoServer, s3_bucket: str, database: Database
) -> None:
    one = make_store(s3, s3_bucket, prefix="a/", database=database)
    two = make_store(s3, s3_bucket, prefix="a/", database=database)
    one.check()
    two.check()  # the same bucket and prefix: the same store
    assert one.identity() == two.identity()
    assert f"a/{IDENTITY_KEY}" in s3.keys(s3_bucket)
    elsewhere = make_store(s3, s3_bucket, prefix="b/", database=database)
    with pytest.raises(BlobStoreUnusable, match="Replicas must share one bucket and prefix"):
        elsewhere.check()


def test_servers_starting_at_once_on_a_new_bucket_agree_on_its_identity(
    s3: MotoServer, s3_bucket: str
) -> None:
    stores = [make_store(s3, s3_bucket) for _ in range(8)]
    with ThreadPoolExecutor(max_workers=8) as pool:
        identities = set(pool.map(lambda store: store.identity(), stores))
    assert len(identities) == 1


def test_missing_credentials_are_named(
    s3: MotoServer, s3_bucket: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.delenv(name)
    # Nowhere else to look: no shared files, no instance metadata service.
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    with pytest.raises(BlobStoreUnusable, match="no S3 credentials found while checking"):
        make_store(s3, s3_bucket).check()
