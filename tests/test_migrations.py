"""The alembic migrations: from empty, down and up again, and with data in place.

Runs on SQLite and, with NGSHARE_TEST_DB=postgresql, on PostgreSQL.
"""

from __future__ import annotations

import base64
import datetime
import hashlib
from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from server_process import ServerProcess
from sqlalchemy import inspect, text

from ngshare.server.storage.blobs.filesystem import FilesystemBlobStore
from ngshare.server.storage.db import Database, alembic_config
from ngshare.server.storage.models import Base


def _revisions(database: Database) -> list[str]:
    script = ScriptDirectory.from_config(alembic_config(database.engine))
    return [r.revision for r in reversed(list(script.walk_revisions()))]


def test_upgrade_from_empty_matches_the_models(db_url: str) -> None:
    database = Database(db_url)
    try:
        assert database.current_revision() is None
        database.upgrade()
        assert database.current_revision() == database.head_revision()
        with database.engine.connect() as connection:
            context = MigrationContext.configure(connection, opts={"compare_type": True})
            assert compare_metadata(context, Base.metadata) == []
    finally:
        database.dispose()


def test_downgrade_to_base_and_up_again(db_url: str) -> None:
    database = Database(db_url)
    try:
        database.upgrade()
        database.downgrade("base")
        tables = set(inspect(database.engine).get_table_names()) - {"alembic_version"}
        assert tables == set()
        database.upgrade()
        assert set(Base.metadata.tables) <= set(inspect(database.engine).get_table_names())
    finally:
        database.dispose()


def test_every_revision_step_upgrades_in_order(db_url: str) -> None:
    database = Database(db_url)
    try:
        for revision in _revisions(database):
            database.upgrade(revision)
            assert database.current_revision() == revision
    finally:
        database.dispose()


def test_data_written_at_the_first_revision_survives_upgrade(db_url: str, tmp_path: Path) -> None:
    """A database made by the first release keeps its submissions through every upgrade."""
    database = Database(db_url)
    first = _revisions(database)[0]
    database.upgrade(first)
    blobs = FilesystemBlobStore(tmp_path / "blobs")
    content = b"\x00submitted notebook\xff"
    info = blobs.put(content)
    assert info.sha256 == hashlib.sha256(content).hexdigest()
    when = datetime.datetime(2024, 3, 1, 12, 30, 15, 123456)
    rows = [
        "INSERT INTO users (id, name, created_at) VALUES (1, 'kim', :t), (2, 'ana', :t)",
        "INSERT INTO courses (id, name, created_at) VALUES (1, 'c1', :t)",
        "INSERT INTO enrollments (id, course_id, user_id, role) VALUES "
        "(1, 1, 1, 'instructor'), (2, 1, 2, 'student')",
        "INSERT INTO blobs (sha256, size, md5, created_at) VALUES (:sha, :size, :md5, :t)",
        "INSERT INTO file_sets (id, created_at) VALUES (1, :t), (2, :t)",
        "INSERT INTO file_entries (id, fileset_id, path, blob_sha256) VALUES "
        "(1, 1, 'ps1.ipynb', :sha), (2, 2, 'ps1.ipynb', :sha)",
        "INSERT INTO assignments (id, course_id, name, fileset_id, created_at) "
        "VALUES (1, 1, 'ps1', 1, :t)",
        "INSERT INTO submissions (id, assignment_id, student_id, timestamp, fileset_id) "
        "VALUES (1, 1, 2, :t, 2)",
    ]
    with database.engine.begin() as connection:
        for statement in rows:
            params = {"t": when, "sha": info.sha256, "size": info.size, "md5": info.md5}
            connection.execute(text(statement), params)
    if not database.is_sqlite:
        # The ids above were given explicitly: move PostgreSQL's sequences past
        # them, as a real older server's inserts would have.
        tables = ("users", "courses", "enrollments", "file_sets", "file_entries")
        with database.engine.begin() as connection:
            for table in (*tables, "assignments", "submissions"):
                connection.execute(
                    text(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), 100)")
                )
    database.dispose()

    # The server upgrades the schema at start and serves the old data.
    server = ServerProcess(db_url=db_url, workdir=tmp_path / "server", storage_path=blobs.root)
    server.start()
    try:
        kim = server.client("kim")
        assert kim.get("submissions", "c1", "ps1").json() == {
            "success": True,
            "submissions": [{"student_id": "ana", "timestamp": "2024-03-01 12:30:15.123456 UTC"}],
        }
        body = kim.get("submission", "c1", "ps1", "ana").json()
        assert body["timestamp"] == "2024-03-01 12:30:15.123456 UTC"
        assert [f["path"] for f in body["files"]] == ["ps1.ipynb"]
        assert base64.b64decode(body["files"][0]["content"]) == content
        assert body["files"][0]["checksum"] == info.md5
        # New rows get ids past the ones the old data used.
        response = server.client("ana").post("submission", "c1", "ps1", data={"files": "[]"})
        assert response.status_code == 200, response.text
    finally:
        server.stop()
    database = Database(db_url)
    try:
        assert database.current_revision() == database.head_revision()
    finally:
        database.dispose()
    if database.is_sqlite:
        # The file was backed up, at the old revision, before the upgrade.
        backup = Path(database.url.database or "").with_name(f"ngshare.sqlite.bak-{first}")
        assert Database(f"sqlite:///{backup}").current_revision() == first


def test_due_dates_arrive_empty_and_leave_the_assignments_intact(db_url: str) -> None:
    """0006 adds due dates and extensions to existing assignments, and removes them cleanly."""
    database = Database(db_url)
    try:
        database.upgrade("0005_soft_delete")
        when = datetime.datetime(2024, 3, 1, 12, 0)
        rows = [
            "INSERT INTO users (id, name, created_at) VALUES (1, 'kim', :t), (2, 'ana', :t)",
            "INSERT INTO courses (id, name, created_at) VALUES (1, 'c1', :t)",
            "INSERT INTO file_sets (id, created_at) VALUES (1, :t)",
            "INSERT INTO assignments (id, course_id, name, fileset_id, created_at) "
            "VALUES (1, 1, 'ps1', 1, :t)",
        ]
        with database.engine.begin() as connection:
            for statement in rows:
                connection.execute(text(statement), {"t": when})
        database.upgrade("0006_due_dates")
        due = when + datetime.timedelta(days=7)
        with database.engine.begin() as connection:
            assert connection.execute(text("SELECT due_at FROM assignments")).all() == [(None,)]
            connection.execute(text("UPDATE assignments SET due_at = :d"), {"d": due})
            connection.execute(
                text(
                    "INSERT INTO extensions (assignment_id, student_id, due_at, created_at) "
                    "VALUES (1, 2, :d, :t)"
                ),
                {"d": due + datetime.timedelta(days=2), "t": when},
            )
        database.downgrade("0005_soft_delete")
        assert "extensions" not in inspect(database.engine).get_table_names()
        with database.engine.connect() as connection:
            assert connection.execute(text("SELECT name FROM assignments")).all() == [("ps1",)]
        database.upgrade()
        with database.engine.connect() as connection:
            assert connection.execute(text("SELECT due_at FROM assignments")).all() == [(None,)]
    finally:
        database.dispose()
