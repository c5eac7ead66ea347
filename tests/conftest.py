"""Fixtures for the ngshare test suite.

- ``db_url``: a fresh, empty database for this test: an SQLite file, or a new
  PostgreSQL database on 127.0.0.1:5432 (created and dropped around the test)
  when ``NGSHARE_TEST_DB=postgresql``.
- ``migrated_db_url``: like ``db_url``, but with the current schema (a copy of
  a database migrated once per test process).
- ``database``: ngshare's :class:`~ngshare.server.storage.db.Database` with the
  schema made, for tests that call the service layer without a server.
- ``server``: a real ``ngshare`` process on a loopback port, on
  ``migrated_db_url``, with static tokens for the users in
  ``server_process.USERS`` (``admin`` is the configured admin).
  ``server.client("kim")`` is a requests client acting as kim;
  ``server.client(None)`` sends no token.
- ``start_server``: a factory for more servers (extra arguments, environment,
  a shared database for replicas); all are stopped at the end of the test.
  They are forked from an interpreter that has already imported ngshare
  (``preloaded_python.py``) and bind port 0.
- ``s3``: a moto S3 endpoint (``tests/s3_server.py``) shared by the test
  process, started on first use; ``s3_bucket``: a fresh bucket on it for
  this test, with the tests' AWS credentials in this process's environment
  (boto3's standard chain). Tests that stop or freeze the endpoint start
  their own with ``s3_server.moto_server``.
- ``course``: a course ``c1`` on ``server`` with instructor kim and students
  ana and bob, and a course ``c2`` with instructor lee and student eve.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from s3_server import CREDENTIALS, MotoServer, moto_server
from server_process import ServerProcess, database_backend, fresh_database

from ngshare.server.storage.db import Database


def pytest_report_header() -> str:
    header = f"ngshare test database: {database_backend()}"
    if database_backend() != "sqlite":
        header += " (tests marked database_independent run in the SQLite pass only)"
    return header


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """In the PostgreSQL pass, leave out what would only run the same thing again.

    A test marked ``database_independent`` gives the same result whatever
    $NGSHARE_TEST_DB says (it checks files, starts servers on a database of
    its own choosing, or uses none), so the SQLite pass runs it and the
    PostgreSQL pass, run beside it in CI, spends its time on what differs.
    """
    if database_backend() == "sqlite":
        return
    kept, left_out = [], []
    for item in items:
        (left_out if item.get_closest_marker("database_independent") else kept).append(item)
    if left_out:
        config.hook.pytest_deselected(items=left_out)
        items[:] = kept


@pytest.fixture
def db_url(tmp_path: Path) -> Iterator[str]:
    with fresh_database(tmp_path) as url:
        yield url


@pytest.fixture
def migrated_db_url(tmp_path: Path) -> Iterator[str]:
    with fresh_database(tmp_path, migrated=True) as url:
        yield url


@pytest.fixture
def database(migrated_db_url: str) -> Iterator[Database]:
    database = Database(migrated_db_url)
    database.upgrade()
    yield database
    database.dispose()


@pytest.fixture(scope="session")
def s3(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MotoServer]:
    with moto_server(tmp_path_factory.mktemp("moto")) as server:
        yield server


@pytest.fixture
def s3_bucket(s3: MotoServer, monkeypatch: pytest.MonkeyPatch) -> str:
    for name, value in CREDENTIALS.items():
        monkeypatch.setenv(name, value)
    return s3.create_bucket()


@pytest.fixture
def start_server(tmp_path: Path, migrated_db_url: str) -> Iterator[Callable[..., ServerProcess]]:
    servers: list[ServerProcess] = []

    def start(**options: object) -> ServerProcess:
        options.setdefault("db_url", migrated_db_url)
        options.setdefault("workdir", tmp_path / f"server{len(servers)}")
        options.setdefault("preloaded", True)
        server = ServerProcess(**options)  # type: ignore[arg-type]
        servers.append(server)
        return server.start()

    yield start
    for server in servers:
        server.stop()


@pytest.fixture
def server(start_server: Callable[..., ServerProcess]) -> ServerProcess:
    return start_server()


def enroll(server: ServerProcess, course: str, instructor: str, students: list[str]) -> None:
    admin = server.client("admin")
    response = admin.post("course", course, data={"instructors": f'["{instructor}"]'})
    assert response.status_code == 200, response.text
    teacher = server.client(instructor)
    for student in students:
        response = teacher.post(
            "student",
            course,
            student,
            data={"first_name": student.title(), "last_name": "Doe", "email": f"{student}@x.edu"},
        )
        assert response.status_code == 200, response.text


@pytest.fixture
def course(server: ServerProcess) -> ServerProcess:
    enroll(server, "c1", "kim", ["ana", "bob"])
    enroll(server, "c2", "lee", ["eve"])
    return server
