"""Blobs in an S3-compatible bucket: ``<prefix>blobs/<sha[:2]>/<sha256>``.

For replicas on Kubernetes that share a bucket (AWS S3, MinIO, Ceph RGW, any
store speaking the S3 API) instead of a volume or the database. Credentials
come from boto3's standard chain (environment, shared files, an IAM role of
the pod): never from ngshare's settings, never logged.

Writing. The hash, and so the content key, is known only when the last byte
has arrived, and an object must never be visible under its content key
unless whole. A writer therefore keeps up to one part (``part_size``, 8 MiB)
in memory:

- a blob that fits is hashed in memory and PUT straight to its content key
  once committed (a PUT is atomic: the object appears whole or not at all);
- a larger one goes out as a multipart upload to ``<prefix>incoming/<uuid>``,
  a part whenever the buffer is full (memory stays at one part), is completed
  at commit and then copied, server side, to its content key (a copy is
  atomic too), and the incoming object deleted. Completing the upload
  directly under the content key is impossible: a multipart upload's key is
  fixed when it starts.

A crash leaves at most an incomplete multipart upload or an object under
``incoming/``, never a half object under a content key; ``abort()`` aborts
the multipart upload. ``ngshare gc-blobs`` removes what is older than a day
(:meth:`S3BlobStore.remove_leftovers`), and so can a lifecycle rule on the
bucket (see docs/s3.md). Every PUT and part carries its Content-MD5, so the
store refuses a body damaged on the way.

Claiming. Content already stored is claimed, not left alone: its
LastModified, the time :meth:`stored` reports to the garbage collector, is
refreshed. A small blob is simply PUT again (a PUT replaces the object whole,
which is the claim); a large one, already uploaded to ``incoming/``, is
claimed by copying the stored object onto itself (``MetadataDirective=
REPLACE``) instead of copying its bytes again, and if that copy finds no
object (collected meanwhile) the writer copies its own into place. S3 has no
rename, so the collector cannot move a candidate aside as the filesystem
store does: it checks LastModified and then deletes. A claim landing in
between is lost, but never silently: the transaction that references the
content checks under the collector's lock that it still exists
(:func:`ngshare.server.service.files.hold_content`) and the upload is
refused with a retryable conflict instead of referencing nothing.

Faults. Every call has bounded connect and read timeouts and a bounded number
of retries, so a store that is down or stalled becomes an ``OSError`` (a 503)
within seconds, never a hung request or a 500.
"""

from __future__ import annotations

import base64
import contextlib
import datetime
import hashlib
import os
import time
import uuid
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from traitlets import Bool, CaselessStrEnum, Float, Integer, Unicode, default, validate

from ngshare.protocol.names import is_sha256
from ngshare.server.storage.blobs import (
    CHUNK_SIZE,
    BlobInfo,
    BlobNotFound,
    BlobStore,
    BlobStoreUnusable,
    BlobWriter,
)
from ngshare.server.storage.blobs.s3_errors import (
    is_not_found,
    lost_conditional_write,
    s3_faults,
)
from ngshare.server.storage.models import BlobStoreIdentity

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from ngshare.server.storage.db import Database

IDENTITY_KIND = "s3"
# The object under the prefix that names the store (see check()).
IDENTITY_KEY = "store-id"
# S3's smallest part (except the last) is 5 MiB.
MIN_PART_SIZE = 5 * 1024 * 1024
# Objects up to this size are copied with one CopyObject; S3 refuses larger.
SINGLE_COPY_LIMIT = 5 * 1024**3


def _env(name: str, fallback: str = "") -> str:
    return os.environ.get(name, fallback)


def _made_at(key: str, listed: datetime.datetime) -> float:
    """When an ``incoming/`` key was made: from its name, else as the store lists it."""
    stamp = key.rsplit("/", 1)[-1].split("-", 1)[0]
    return float(stamp) if stamp.isdigit() else listed.timestamp()


def content_md5(digest: bytes) -> str:
    """The Content-MD5 header of a body with this md5 digest: the store checks the body."""
    return base64.b64encode(digest).decode("ascii")


class _S3Writer(BlobWriter):
    def __init__(self, store: S3BlobStore) -> None:
        super().__init__()
        self._store = store
        self._buffer = bytearray()
        self._incoming: str | None = None  # the multipart upload's key, once started
        self._upload_id: str | None = None
        self._parts: list[dict[str, Any]] = []
        self._done = False

    def _write(self, data: bytes) -> None:
        self._buffer += data
        # Strictly more than a part: the last part is never empty, and a blob
        # of exactly one part is one PUT.
        size = self._store.part_size
        while len(self._buffer) > size:
            # One copy of the part, not two (a slice of a bytearray is a copy).
            with memoryview(self._buffer) as view:
                part = bytes(view[:size])
            del self._buffer[:size]
            self._send_part(part)

    def _send_part(self, part: bytes) -> None:
        store = self._store
        with s3_faults("uploading a part"):
            if self._upload_id is None:
                self._incoming = store.incoming_key()
                started = store.client.create_multipart_upload(
                    Bucket=store.bucket, Key=self._incoming
                )
                self._upload_id = started["UploadId"]
            number = len(self._parts) + 1
            sent = store.client.upload_part(
                Bucket=store.bucket,
                Key=self._incoming,
                UploadId=self._upload_id,
                PartNumber=number,
                Body=part,
                ContentMD5=content_md5(hashlib.md5(part, usedforsecurity=False).digest()),
            )
        self._parts.append({"PartNumber": number, "ETag": sent["ETag"]})

    def commit(self) -> BlobInfo:
        info = self.info()
        store = self._store
        try:
            if self._upload_id is None:
                store.put_whole(info, bytes(self._buffer))
            else:
                self._send_part(bytes(self._buffer))
                self._buffer = bytearray()
                assert self._incoming is not None
                with s3_faults("completing an upload"):
                    store.client.complete_multipart_upload(
                        Bucket=store.bucket,
                        Key=self._incoming,
                        UploadId=self._upload_id,
                        MultipartUpload={"Parts": self._parts},
                    )
                self._upload_id = None  # complete: abort() now deletes the object
                if not store.claim(info.sha256):
                    store.copy(self._incoming, store.key_for(info.sha256), info.size)
                store.remove_key(self._incoming)
                self._incoming = None
        except BaseException:
            self.abort()
            raise
        self._done = True
        self._buffer = bytearray()
        return info

    def abort(self) -> None:
        if self._done:
            return
        self._done = True
        self._buffer = bytearray()
        store = self._store
        # Best effort: what is left (the store being down) is an incomplete
        # upload or an incoming object, which the bucket's lifecycle rule expires.
        with contextlib.suppress(OSError):
            if self._upload_id is not None:
                with s3_faults("aborting an upload"):
                    store.client.abort_multipart_upload(
                        Bucket=store.bucket, Key=self._incoming, UploadId=self._upload_id
                    )
            elif self._incoming is not None:
                store.remove_key(self._incoming)


class S3BlobStore(BlobStore):
    """Blobs as objects ``<prefix>blobs/<sha[:2]>/<sha256>`` in an S3-compatible bucket."""

    identity_kind = IDENTITY_KIND

    endpoint_url = Unicode(
        help="""The S3 API's URL, e.g. http://minio.storage:9000
        ($NGSHARE_S3_ENDPOINT_URL; empty: AWS S3 itself)."""
    ).tag(config=True)
    bucket = Unicode(help="The bucket ($NGSHARE_S3_BUCKET); it must exist.").tag(config=True)
    prefix = Unicode(
        help="""Where in the bucket ngshare keeps its objects ($NGSHARE_S3_PREFIX),
        e.g. "ngshare/"; empty: at the top of the bucket."""
    ).tag(config=True)
    region = Unicode(
        help="The bucket's region ($NGSHARE_S3_REGION; empty: boto3's default, $AWS_REGION...)."
    ).tag(config=True)
    addressing_style = CaselessStrEnum(
        ["auto", "path", "virtual"],
        help="""How the bucket is named in URLs: "path" (http://host/bucket/key,
        what MinIO and most self-hosted stores expect) or "virtual"
        (http://bucket.host/key). Default: "path" with an endpoint_url, else "auto".""",
    ).tag(config=True)
    connect_timeout = Float(5.0, help="Seconds to wait for a connection to the store.").tag(
        config=True
    )
    read_timeout = Float(
        20.0, help="Seconds to wait for the store to answer (or to send more of a body)."
    ).tag(config=True)
    max_attempts = Integer(
        3,
        help="""Attempts per call, the first included (boto3's standard retry mode):
        a store that is down costs at most about max_attempts times the timeouts.""",
    ).tag(config=True)
    max_connections = Integer(
        16, help="Connections to the store kept open (at least the server's workers)."
    ).tag(config=True)
    part_size = Integer(
        8 * 1024 * 1024,
        help="""Blobs up to this size are PUT in one request from memory; larger
        ones are sent as multipart uploads in parts of this size (S3's minimum
        is 5 MiB). The memory each upload in flight holds.""",
    ).tag(config=True)

    presigned_downloads = Bool(
        False,
        help="""Answer downloads of single large blobs (GET api/v2/blobs/<sha256>)
        with a redirect to a short-lived presigned URL of the object, after the
        usual permission check, so the bytes go from the store to the client
        without passing through ngshare. The store must be reachable by the
        clients at presigned_endpoint_url.""",
    ).tag(config=True)
    presigned_min_size = Integer(
        8 * 1024 * 1024, help="Smallest blob (bytes) sent as a presigned redirect."
    ).tag(config=True)
    presigned_expiry = Integer(
        60,
        help="""Seconds a presigned URL stays valid. Anyone holding the URL can
        read the blob until then: keep it short.""",
    ).tag(config=True)
    presigned_endpoint_url = Unicode(
        help="""The store's URL as the clients reach it, for presigned URLs
        (default: endpoint_url), when the server reaches it by another name."""
    ).tag(config=True)

    @default("endpoint_url")
    def _default_endpoint_url(self) -> str:
        return _env("NGSHARE_S3_ENDPOINT_URL")

    @default("bucket")
    def _default_bucket(self) -> str:
        return _env("NGSHARE_S3_BUCKET")

    @default("prefix")
    def _default_prefix(self) -> str:
        return _env("NGSHARE_S3_PREFIX")

    @default("region")
    def _default_region(self) -> str:
        return _env("NGSHARE_S3_REGION")

    @default("addressing_style")
    def _default_addressing_style(self) -> str:
        return "path" if self.endpoint_url else "auto"

    @default("presigned_endpoint_url")
    def _default_presigned_endpoint_url(self) -> str:
        return self.endpoint_url

    @validate("part_size")
    def _valid_part_size(self, proposal: Any) -> int:
        if proposal["value"] < MIN_PART_SIZE:
            raise BlobStoreUnusable(f"S3BlobStore.part_size must be at least {MIN_PART_SIZE}")
        return int(proposal["value"])

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if not self.bucket:
            raise BlobStoreUnusable(
                "The S3 blob store needs a bucket (c.S3BlobStore.bucket or $NGSHARE_S3_BUCKET)"
            )
        self.client = self._client(self.endpoint_url)
        # Signing a URL is local: no request goes to the store.
        self._signer = (
            self.client
            if self.presigned_endpoint_url == self.endpoint_url
            else self._client(self.presigned_endpoint_url)
        )

    def _client(self, endpoint_url: str) -> Any:
        import boto3
        from botocore.config import Config

        config = Config(
            connect_timeout=self.connect_timeout,
            read_timeout=self.read_timeout,
            retries={"total_max_attempts": self.max_attempts, "mode": "standard"},
            max_pool_connections=self.max_connections,
            s3={"addressing_style": self.addressing_style},
            # Presigned URLs signed with SigV4: regions opened since 2014 and
            # most S3-compatible stores refuse the older signature.
            signature_version="s3v4",
            # Checksums only where S3 requires them: many S3-compatible stores
            # refuse the newer default trailing checksums.
            request_checksum_calculation="when_required",
            response_checksum_validation="when_required",
        )
        # A session per store: boto3's default session is shared and not thread-safe.
        session = boto3.session.Session()
        return session.client(
            "s3",
            endpoint_url=endpoint_url or None,
            region_name=self.region or None,
            config=config,
        )

    # -- keys ---------------------------------------------------------------------------

    def key(self, name: str) -> str:
        return self.prefix + name

    def incoming_key(self, kind: str = "upload") -> str:
        """A new key under ``incoming/`` that says when it was made.

        The time in the name is what :meth:`remove_leftovers` goes by: the
        dates S3-compatible stores give incomplete uploads vary (moto's are
        fixed), a key's name does not.
        """
        return self.key(f"incoming/{int(time.time())}-{kind}-{uuid.uuid4().hex}")

    def key_for(self, sha256: str) -> str:
        if not is_sha256(sha256):
            raise ValueError(f"not a sha256 hex digest: {sha256!r}")
        return self.key(f"blobs/{sha256[:2]}/{sha256}")

    # -- start-up -----------------------------------------------------------------------

    def describe(self) -> str:
        where = self.endpoint_url or "AWS S3"
        return f"S3 bucket {self.bucket!r} at {where}, prefix {self.prefix!r}"

    def check(self) -> None:
        try:
            with s3_faults("checking the bucket"):
                self.client.head_bucket(Bucket=self.bucket)
        except OSError as e:
            raise BlobStoreUnusable(
                f"cannot use bucket {self.bucket!r} at {self.endpoint_url or 'AWS S3'}: "
                f"{e.strerror or e}"
            ) from None
        probe = self.incoming_key("probe")
        try:
            with s3_faults("writing a probe object"):
                self.client.put_object(Bucket=self.bucket, Key=probe, Body=b"probe")
                self.client.delete_object(Bucket=self.bucket, Key=probe)
        except OSError as e:
            raise BlobStoreUnusable(
                f"cannot write to bucket {self.bucket!r} (prefix {self.prefix!r}): "
                f"{e.strerror or e}"
            ) from None
        if self.database is not None and self.enforce_identity:
            self._check_identity(self.database)

    def identity(self) -> str:
        """The store's identity: an object under the prefix, written on first use.

        It names the bucket *and* prefix wherever they are reached from (two
        replicas may use different endpoint names for one store), and travels
        with a copy of the objects. The first writer wins: the PUT is
        conditional (If-None-Match), and whoever loses reads the winner's.
        """
        key = self.key(IDENTITY_KEY)
        with s3_faults("reading the store's identity"):
            try:
                found = self.client.get_object(Bucket=self.bucket, Key=key)
                return str(found["Body"].read().decode("ascii").strip())
            except Exception as e:
                if not is_not_found(e):
                    raise
            try:
                self.client.put_object(
                    Bucket=self.bucket,
                    Key=key,
                    Body=(uuid.uuid4().hex + "\n").encode("ascii"),
                    IfNoneMatch="*",
                )
            except Exception as e:
                if not lost_conditional_write(e):
                    raise
                # Another server wrote it first: read the winner's below.
            found = self.client.get_object(Bucket=self.bucket, Key=key)
            return str(found["Body"].read().decode("ascii").strip())

    def _check_identity(self, database: Database) -> None:
        try:
            mine = self.identity()
        except OSError as e:
            raise BlobStoreUnusable(
                f"cannot read the store's identity: {e.strerror or e}"
            ) from None
        with database.transaction() as session:
            recorded = BlobStoreIdentity.claim(session, IDENTITY_KIND, mine)
            theirs, since = recorded.identity, recorded.recorded_at
        if theirs != mine:
            raise BlobStoreUnusable(
                f"bucket {self.bucket!r} prefix {self.prefix!r} is not the S3 store this "
                f"database's content is in (store {mine}; the database has used store "
                f"{theirs} since {since:%Y-%m-%d}). Replicas must share one bucket and prefix. "
                f"If this one really holds the content (copied), copy its {IDENTITY_KEY} "
                "object with it."
            )

    # -- the interface -------------------------------------------------------------------

    def writer(self) -> BlobWriter:
        return _S3Writer(self)

    def put(self, data: bytes, sha256: str | None = None) -> BlobInfo:
        if len(data) > self.part_size:
            return super().put(data)
        # In memory already (v1 uploads, the readiness probe): one PUT.
        sha256 = sha256 or hashlib.sha256(data).hexdigest()
        info = BlobInfo(sha256, len(data), hashlib.md5(data, usedforsecurity=False).hexdigest())
        self.put_whole(info, data)
        return info

    def put_whole(self, info: BlobInfo, data: bytes) -> None:
        """PUT a small blob to its content key: atomic, and a claim if it is there already.

        A PUT replaces the object whole and refreshes its LastModified, so for
        content already stored it is the claim, in one request (a copy onto
        itself would take one more when the content is new, the usual case:
        clients send only what the server lacks).
        """
        with s3_faults("storing a blob"):
            self.client.put_object(
                Bucket=self.bucket,
                Key=self.key_for(info.sha256),
                Body=data,
                ContentMD5=content_md5(bytes.fromhex(info.md5)),
            )

    def claim(self, sha256: str) -> bool:
        """Refresh stored content's LastModified; False if it is not (or no longer) there."""
        key = self.key_for(sha256)
        with s3_faults("claiming stored content"):
            try:
                self.client.copy_object(
                    Bucket=self.bucket,
                    Key=key,
                    CopySource={"Bucket": self.bucket, "Key": key},
                    MetadataDirective="REPLACE",
                )
            except Exception as e:
                if is_not_found(e):
                    return False
                raise
        return True

    def copy(self, source: str, target: str, size: int) -> None:
        with s3_faults("copying an upload into place"):
            if size <= SINGLE_COPY_LIMIT:
                self.client.copy_object(
                    Bucket=self.bucket,
                    Key=target,
                    CopySource={"Bucket": self.bucket, "Key": source},
                )
            else:
                # boto3's managed copy: a multipart copy, still server side.
                self.client.copy({"Bucket": self.bucket, "Key": source}, self.bucket, target)

    def remove_key(self, key: str) -> None:
        with s3_faults("deleting an object"):
            self.client.delete_object(Bucket=self.bucket, Key=key)

    def read_chunks(self, sha256: str) -> Iterator[bytes]:
        key = self.key_for(sha256)
        with s3_faults("reading a blob"):
            try:
                found = self.client.get_object(Bucket=self.bucket, Key=key)
            except Exception as e:
                if is_not_found(e):
                    raise BlobNotFound(sha256) from None
                raise
        return self._chunks(found["Body"])

    def _chunks(self, body: Any) -> Iterator[bytes]:
        try:
            while True:
                with s3_faults("reading a blob"):
                    chunk = body.read(CHUNK_SIZE)
                if not chunk:
                    return
                yield chunk
        finally:
            body.close()

    def exists(self, sha256: str) -> bool:
        with s3_faults("looking up a blob"):
            try:
                self.client.head_object(Bucket=self.bucket, Key=self.key_for(sha256))
            except Exception as e:
                if is_not_found(e):
                    return False
                raise
        return True

    def delete(self, sha256: str) -> None:
        self.remove_key(self.key_for(sha256))

    def stored(self) -> Iterator[tuple[str, float]]:
        with s3_faults("listing blobs"):
            pages = self.client.get_paginator("list_objects_v2").paginate(
                Bucket=self.bucket, Prefix=self.key("blobs/")
            )
            for page in pages:
                for item in page.get("Contents", []):
                    name = item["Key"].rsplit("/", 1)[-1]
                    if is_sha256(name):
                        yield name, item["LastModified"].timestamp()

    def remove_unless_used_since(self, sha256: str, cutoff: float, db: Session) -> bool:
        key = self.key_for(sha256)
        with s3_faults("collecting a blob"):
            try:
                head = self.client.head_object(Bucket=self.bucket, Key=key)
            except Exception as e:
                if is_not_found(e):
                    return False
                raise
            if head["LastModified"].timestamp() >= cutoff:
                return False  # claimed since the cutoff
            self.client.delete_object(Bucket=self.bucket, Key=key)
        return True

    def remove_leftovers(self, cutoff: float) -> int:
        removed = 0
        incoming = self.key("incoming/")
        with s3_faults("removing leftovers of interrupted uploads"):
            uploads = self.client.get_paginator("list_multipart_uploads").paginate(
                Bucket=self.bucket, Prefix=incoming
            )
            for page in uploads:
                for upload in page.get("Uploads", []):
                    if _made_at(upload["Key"], upload["Initiated"]) < cutoff:
                        self.client.abort_multipart_upload(
                            Bucket=self.bucket, Key=upload["Key"], UploadId=upload["UploadId"]
                        )
                        removed += 1
            objects = self.client.get_paginator("list_objects_v2").paginate(
                Bucket=self.bucket, Prefix=incoming
            )
            for page in objects:
                for item in page.get("Contents", []):
                    if _made_at(item["Key"], item["LastModified"]) < cutoff:
                        self.client.delete_object(Bucket=self.bucket, Key=item["Key"])
                        removed += 1
        return removed

    def offers_download_url(self, size: int) -> bool:
        return self.presigned_downloads and size >= self.presigned_min_size

    def download_url(self, sha256: str, size: int) -> str | None:
        if not self.offers_download_url(size):
            return None
        with s3_faults("signing a download URL"):
            url: str = self._signer.generate_presigned_url(
                "get_object",
                Params={
                    "Bucket": self.bucket,
                    "Key": self.key_for(sha256),
                    "ResponseContentType": "application/octet-stream",
                },
                ExpiresIn=self.presigned_expiry,
            )
        return url
