"""What the v1 API tests share: file trees, response checks, state snapshots.

This module holds no tests. The v1 test modules import it for:

- building and reading encoded directory trees (``files`` fields);
- checking a response's status and exact JSON body (``ok``, ``refused``);
- snapshotting the server's state (every row of every table of the test
  database, and the names of the stored blobs) to prove that a refused call
  changed nothing.
"""

from __future__ import annotations

import base64
import datetime
import hashlib
import json
import re
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import requests
from server_process import ServerProcess
from sqlalchemy import MetaData, create_engine, select
from sqlalchemy.pool import NullPool

# The form every v1 timestamp is written in ("%Y-%m-%d %H:%M:%S.%f UTC").
TIMESTAMP = re.compile(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}\.\d{6} UTC")
PERMISSION_DENIED = "Permission denied"


# -- encoded directory trees ----------------------------------------------------------


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def md5(data: bytes) -> str:
    return hashlib.md5(data, usedforsecurity=False).hexdigest()


def tree(files: Mapping[str, bytes], *, checksum: bool = True) -> str:
    """The ``files`` field of an upload, as ngshare-exchange sends it."""
    entries = []
    for path, data in files.items():
        entry = {"path": path, "content": b64(data)}
        if checksum:
            entry["checksum"] = md5(data)
        entries.append(entry)
    return json.dumps(entries)


def read_tree(files: list[dict[str, str]]) -> dict[str, bytes]:
    """The files of a downloaded tree, each checked against its md5 checksum."""
    found: dict[str, bytes] = {}
    for entry in files:
        assert set(entry) == {"path", "content", "checksum"}, entry
        data = base64.b64decode(entry["content"], validate=True)
        assert entry["checksum"] == md5(data), entry["path"]
        assert entry["path"] not in found, f"duplicate path {entry['path']}"
        found[entry["path"]] = data
    return found


def listing(files: Mapping[str, bytes]) -> list[dict[str, str]]:
    """The ``list_only`` form of a tree, sorted by path."""
    return sorted(({"path": p, "checksum": md5(d)} for p, d in files.items()), key=by_path)


def by_path(entry: Mapping[str, str]) -> str:
    return entry["path"]


def parse_timestamp(text: str) -> datetime.datetime:
    assert TIMESTAMP.fullmatch(text), text
    return datetime.datetime.strptime(text, "%Y-%m-%d %H:%M:%S.%f UTC")


# -- responses ------------------------------------------------------------------------


def _json_body(response: requests.Response) -> dict[str, Any]:
    assert response.headers["Content-Type"].startswith("application/json"), response.text[:500]
    assert "Traceback" not in response.text
    body = response.json()
    assert isinstance(body, dict), body
    return body


def ok(response: requests.Response) -> dict[str, Any]:
    """The body of a successful response (200, ``success: true``)."""
    assert response.status_code == 200, (response.status_code, response.text[:500])
    body = _json_body(response)
    assert body["success"] is True, body
    return body


def refused(response: requests.Response, status: int, message: str) -> None:
    """The response is exactly ``{"success": false, "message": message}`` with ``status``."""
    assert (response.status_code, _json_body(response)) == (
        status,
        {"success": False, "message": message},
    ), response.text[:500]


def release(server: ServerProcess, course: str, name: str, files: Mapping[str, bytes]) -> None:
    """Release an assignment as the admin."""
    ok(server.client("admin").post("assignment", course, name, data={"files": tree(files)}))


def submit(
    server: ServerProcess, user: str, course: str, name: str, files: Mapping[str, bytes]
) -> str:
    """Submit as ``user``; returns the submission's timestamp."""
    response = server.client(user).post("submission", course, name, data={"files": tree(files)})
    timestamp = ok(response)["timestamp"]
    parse_timestamp(timestamp)
    return timestamp


# -- state snapshots ------------------------------------------------------------------

Snapshot = dict[str, list[tuple[Any, ...]]]


# Reflected schemas by database backend. Every test database is migrated to
# the same head, and reflecting PostgreSQL takes longer than reading its rows.
_schemas: dict[str, MetaData] = {}


def snapshot(db_url: str) -> Snapshot:
    """Every row of every table of the database, sorted, by table name.

    Reflection (not the models) decides which tables exist, so a table added
    later is covered without changing this helper. Works on SQLite and
    PostgreSQL; a short-lived engine without a pool leaves no connection open.
    """
    engine = create_engine(db_url, poolclass=NullPool)
    try:
        with engine.connect() as connection:
            metadata = _schemas.get(engine.dialect.name)
            if metadata is None:
                metadata = _schemas[engine.dialect.name] = MetaData()
                metadata.reflect(connection)
            return {
                name: sorted((tuple(row) for row in connection.execute(select(table))), key=repr)
                for name, table in sorted(metadata.tables.items())
            }
    finally:
        engine.dispose()


def blob_names(server: ServerProcess) -> list[str]:
    """The blobs the server has stored (temporary upload files are not blobs)."""
    root = server.workdir / "blobs"
    return sorted(p.name for p in root.rglob("*") if p.is_file() and root / "tmp" not in p.parents)


def state(server: ServerProcess) -> tuple[Snapshot, list[str]]:
    return snapshot(server.db_url), blob_names(server)


def assert_state(server: ServerProcess, before: tuple[Snapshot, list[str]]) -> None:
    """The server's state is still ``before`` (a result of :func:`state`)."""
    tables, blobs = state(server)
    assert blobs == before[1], "blobs changed"
    for table in sorted(set(before[0]) | set(tables)):
        assert tables.get(table) == before[0].get(table), f"table {table} changed"


@contextmanager
def unchanged(server: ServerProcess) -> Iterator[None]:
    """Assert that what runs inside changes neither the database nor the blob store."""
    before = state(server)
    yield
    assert_state(server, before)


def count_rows(server: ServerProcess, table: str) -> int:
    return len(snapshot(server.db_url)[table])
