"""Where downloaded submissions go: a directory tree or a .zip file.

Both hold one folder per student, ``<student>/<path of each file>``, with
the bytes exactly as submitted, copied from the downloaded files on disk in
steps (never whole in memory). Nothing half-written is ever left under the
final name: a directory's student folders are written aside and moved into
place one by one, a zip file is written under a temporary name and renamed
at the end. Names and paths come from the server, and are still checked
here, so no answer can make ``ngsharectl`` write outside the output.
"""

from __future__ import annotations

import datetime
import os
import shutil
import tempfile
import zipfile
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

from ngshare.cli.errors import CliError, ExitCode
from ngshare.protocol.names import is_valid_relative_path

#: A submission's files: (path in the submission, the local file holding its bytes).
Files = Sequence[tuple[str, Path]]
# Zip entries above this size need the zip64 extension.
ZIP32_LIMIT = 2**31 - 1


def check_member(student: str, path: str) -> str:
    """``student/path``, refusing anything that could escape the output."""
    if not is_valid_relative_path(student) or "/" in student:
        raise CliError(
            f"The server sent a student name that cannot be a folder name: {student!r}.",
            ExitCode.SERVER,
        )
    if not is_valid_relative_path(path):
        raise CliError(
            f"The server sent an unsafe file path for {student!r}: {path!r}.", ExitCode.SERVER
        )
    return f"{student}/{path}"


class Writer(Protocol):
    def scratch(self) -> Path: ...
    def check_free(self, students: Sequence[str]) -> None: ...
    def add(self, student: str, files: Files, timestamp: datetime.datetime) -> None: ...
    def commit(self) -> None: ...
    def abort(self) -> None: ...


def _local_error(action: str, error: OSError) -> CliError:
    return CliError(f"Cannot {action}: {error.strerror or error}", ExitCode.LOCAL)


class DirectoryWriter:
    """``OUTPUT/<student>/...``; OUTPUT may exist, a student's folder in it may not."""

    def __init__(self, output: Path, overwrite: bool) -> None:
        self.output = output
        self.overwrite = overwrite
        if output.exists() and not output.is_dir():
            raise CliError(f"{output} exists and is not a directory.", ExitCode.LOCAL)
        self._staging: Path | None = None

    def check_free(self, students: Sequence[str]) -> None:
        taken = [s for s in students if (self.output / s).exists()]
        if taken and not self.overwrite:
            raise CliError(
                f"{self.output} already holds {', '.join(taken)}: pass --overwrite to replace "
                "these folders, or choose another --output.",
                ExitCode.LOCAL,
            )

    def scratch(self) -> Path:
        """A directory for temporary files, on the output's file system."""
        return self._staging_dir()

    def _staging_dir(self) -> Path:
        if self._staging is None:
            try:
                self.output.mkdir(parents=True, exist_ok=True)
                # Inside the output, so the final move is a rename on one file system.
                self._staging = Path(tempfile.mkdtemp(prefix=".ngsharectl-", dir=self.output))
            except OSError as error:
                raise _local_error(f"create {self.output}", error) from None
        return self._staging

    def add(self, student: str, files: Files, timestamp: datetime.datetime) -> None:
        staging = self._staging_dir()
        try:
            (staging / student).mkdir()
            for path, source in files:
                target = staging / check_member(student, path)
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(source, target)
            final = self.output / student
            if final.is_dir() and self.overwrite:
                shutil.rmtree(final)
            elif final.exists() and self.overwrite:
                final.unlink()
            os.replace(staging / student, final)
        except OSError as error:
            raise _local_error(f"write {self.output / student}", error) from None

    def commit(self) -> None:
        self.abort()

    def abort(self) -> None:
        if self._staging is not None:
            shutil.rmtree(self._staging, ignore_errors=True)
            self._staging = None


class ZipWriter:
    """A zip file with ``<student>/...`` entries, dated with each submission's time."""

    def __init__(self, output: Path, overwrite: bool) -> None:
        self.output = output
        if output.exists() and not overwrite:
            raise CliError(
                f"{output} exists: pass --overwrite to replace it, or choose another --output.",
                ExitCode.LOCAL,
            )
        if output.is_dir():
            raise CliError(f"{output} is a directory, not a zip file.", ExitCode.LOCAL)
        try:
            output.parent.mkdir(parents=True, exist_ok=True)
            handle, name = tempfile.mkstemp(
                prefix=f".{output.name}.", suffix=".partial", dir=output.parent
            )
            os.close(handle)
        except OSError as error:
            raise _local_error(f"create {output}", error) from None
        self._temporary = Path(name)
        self._zip: zipfile.ZipFile | None = zipfile.ZipFile(
            self._temporary, "w", compression=zipfile.ZIP_DEFLATED
        )

    def scratch(self) -> Path:
        """A directory for temporary files: the output's."""
        return self.output.parent

    def check_free(self, students: Sequence[str]) -> None:
        return None  # the whole file is replaced, or refused up front

    def add(self, student: str, files: Files, timestamp: datetime.datetime) -> None:
        assert self._zip is not None
        # Zip times have no zone and start in 1980; UTC, like the server's.
        stamp = max(timestamp.astimezone(datetime.timezone.utc), _ZIP_EPOCH)
        try:
            for path, source in files:
                info = zipfile.ZipInfo(check_member(student, path), stamp.timetuple()[:6])
                info.compress_type = zipfile.ZIP_DEFLATED
                info.external_attr = 0o644 << 16
                large = source.stat().st_size > ZIP32_LIMIT
                with (
                    open(source, "rb") as reader,
                    self._zip.open(info, "w", force_zip64=large) as entry,
                ):
                    shutil.copyfileobj(reader, entry, COPY_SIZE)
        except OSError as error:
            raise _local_error(f"write {self.output}", error) from None

    def commit(self) -> None:
        assert self._zip is not None
        try:
            self._zip.close()
            self._zip = None
            os.replace(self._temporary, self.output)
        except OSError as error:
            self.abort()
            raise _local_error(f"write {self.output}", error) from None

    def abort(self) -> None:
        if self._zip is not None:
            self._zip.close()
            self._zip = None
        self._temporary.unlink(missing_ok=True)


COPY_SIZE = 1024 * 1024
_ZIP_EPOCH = datetime.datetime(1980, 1, 1, tzinfo=datetime.timezone.utc)


def open_writer(output: Path, kind: str, overwrite: bool) -> Writer:
    """A writer for ``kind`` ("dir" or "zip")."""
    if kind == "zip":
        return ZipWriter(output, overwrite)
    return DirectoryWriter(output, overwrite)
