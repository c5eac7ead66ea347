"""Content-addressed blob storage: the interface every store implements.

A blob is named by the sha256 of its bytes, so the same content (a data file
released to 500 students and submitted back 500 times) is stored once, and
integrity can be checked at any time.

The interface is deliberately small so other back ends (a database table, an
S3-compatible bucket) can implement it: open a :class:`BlobWriter`, stream
bytes into it, ``commit()`` it; read a blob back in chunks by hash. Every
method is synchronous and may block: the server calls them from worker threads.

A store is a traitlets configurable, chosen by ``NgshareApp.blob_store`` (a
``Type`` setting) and built the same way for the server and its maintenance
commands: ``StoreClass(parent=app, database=database)``. Its own settings are
its traits (``c.StoreClass.x = ...``); :meth:`BlobStore.check` runs once at
start-up, so a store that cannot reach its back end stops the server with one
line instead of failing its first upload. A new store is a new class and
nothing else. A store reports a fault of its back end as an ``OSError``
(``errno.ENOSPC`` or ``errno.EDQUOT`` when it is full): the service layer
answers those with 507 or 503 instead of a 500.

Stores: :mod:`ngshare.server.storage.blobs.filesystem` (the default),
:mod:`ngshare.server.storage.blobs.database` (blobs in the database, for replicas that share
nothing else) and :mod:`ngshare.server.storage.blobs.s3` (an S3-compatible bucket).
"""

from __future__ import annotations

import abc
import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

from traitlets import Bool, Instance
from traitlets.config import LoggingConfigurable
from traitlets.traitlets import MetaHasTraits

from ngshare.server.storage.db import Database

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

CHUNK_SIZE = 1024 * 1024
# The stores NgshareApp.blob_store knows by a short name; any other is named
# by its dotted class name.
STORE_NAMES = {
    "filesystem": "ngshare.server.storage.blobs.filesystem.FilesystemBlobStore",
    "database": "ngshare.server.storage.blobs.database.DatabaseBlobStore",
    "s3": "ngshare.server.storage.blobs.s3.S3BlobStore",
}


class BlobNotFound(KeyError):
    """The store has no blob with that hash."""


@dataclass(frozen=True)
class BlobInfo:
    sha256: str
    size: int
    md5: str


class BlobWriter(abc.ABC):
    """Receives the bytes of one blob, hashing while they arrive."""

    def __init__(self) -> None:
        self._sha256 = hashlib.sha256()
        self._md5 = hashlib.md5(usedforsecurity=False)
        self.size = 0

    def write(self, data: bytes) -> None:
        self._sha256.update(data)
        self._md5.update(data)
        self.size += len(data)
        self._write(data)

    def info(self) -> BlobInfo:
        return BlobInfo(self._sha256.hexdigest(), self.size, self._md5.hexdigest())

    @abc.abstractmethod
    def _write(self, data: bytes) -> None: ...

    @abc.abstractmethod
    def commit(self) -> BlobInfo:
        """Make the blob durable and visible under its hash."""

    @abc.abstractmethod
    def abort(self) -> None:
        """Throw away what was written."""


class BlobStoreUnusable(Exception):
    """The store cannot work with its settings (raised by :meth:`BlobStore.check`)."""


class _ConfigurableABC(MetaHasTraits, abc.ABCMeta):
    """Traits and abstract methods in one class."""


class BlobStore(LoggingConfigurable, metaclass=_ConfigurableABC):
    """Where blob contents live."""

    database = Instance(
        Database,
        allow_none=True,
        help="The server's database, for a store that keeps blobs there (others ignore it).",
    )
    enforce_identity = Bool(
        True,
        help="""Whether check() holds the store to the identity the database
        records for its kind (a store that has one). ``ngshare copy-blobs``
        turns it off for the stores it copies between, and records the
        target's identity once the target holds every blob.""",
    )

    #: The kind under which the database records this store's identity
    #: (:class:`~ngshare.server.storage.models.BlobStoreIdentity`); empty for
    #: a store that cannot be mistaken for another (the database store).
    identity_kind: ClassVar[str] = ""

    def check(self) -> None:
        """Start-up check: raise :class:`BlobStoreUnusable` saying what is wrong.

        The server runs it before it listens and the maintenance commands
        before they act; a store with nothing to check keeps this one.
        """

    def identity(self) -> str | None:
        """The identity kept with the content (written on first use), if the store has one.

        A store whose content could be in another place of the same kind (a
        directory, a bucket) names itself, and the database records the name
        under :attr:`identity_kind`, so a replica on the wrong place refuses
        to start.
        """
        return None

    def describe(self) -> str:
        """Where the blobs are, for the start-up log (never a secret)."""
        return type(self).__name__

    @abc.abstractmethod
    def writer(self) -> BlobWriter: ...

    @abc.abstractmethod
    def read_chunks(self, sha256: str) -> Iterator[bytes]:
        """The content in chunks; raises :class:`BlobNotFound`."""

    @abc.abstractmethod
    def exists(self, sha256: str) -> bool: ...

    @abc.abstractmethod
    def delete(self, sha256: str) -> None: ...

    # -- garbage collection (:mod:`ngshare.server.maintenance.blob_gc`) ------------------

    @abc.abstractmethod
    def stored(self) -> Iterator[tuple[str, float]]:
        """Every stored blob with when it was last written or claimed (epoch seconds).

        A writer that finds its content already stored claims it (updates this
        time) instead of writing it again, or stores its own copy if the
        content disappears while it claims it.
        """

    @abc.abstractmethod
    def remove_unless_used_since(self, sha256: str, cutoff: float, db: Session) -> bool:
        """Remove the blob unless claimed at or after ``cutoff``; True if removed.

        Runs inside the collector's transaction ``db``, under its lock.
        """

    def remove_leftovers(self, cutoff: float) -> int:
        """Remove what writes interrupted before ``cutoff`` left behind; how many.

        Temporary files or incomplete uploads of a server that crashed or was
        killed mid-upload: never visible as blobs, but taking space. The
        collector calls it with a cutoff long past any upload in flight. A
        store that leaves nothing behind keeps this one.
        """
        return 0

    def offers_download_url(self, size: int) -> bool:
        """Whether :meth:`download_url` may give a URL for a blob of ``size`` bytes.

        Answered from settings alone, without blocking, so that a server whose
        store never redirects sends no download through a worker thread to ask.
        """
        return False

    def download_url(self, sha256: str, size: int) -> str | None:
        """A URL the caller may fetch the blob's raw bytes from directly, or None.

        Asked only after the caller's permission to read the blob was
        checked; a store that can hand out short-lived URLs (presigned S3
        URLs) may answer, any other keeps this one: the server sends the
        bytes itself.
        """
        return None

    def put(self, data: bytes, sha256: str | None = None) -> BlobInfo:
        """Store ``data``; ``sha256``, if given, is its digest, computed by the caller just now.

        (A store may use it to skip hashing again; this one hashes as it writes.)
        """
        writer = self.writer()
        try:
            writer.write(data)
            return writer.commit()
        except BaseException:
            writer.abort()
            raise

    def read(self, sha256: str) -> bytes:
        return b"".join(self.read_chunks(sha256))
