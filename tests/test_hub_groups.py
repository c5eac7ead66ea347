"""Course roles from hub groups, without a hub: the reconciliation and the sync.

The reconciliation runs on a real database (SQLite, or PostgreSQL with
NGSHARE_TEST_DB=postgresql), including several "replicas" (each with its own
engine and runner) reconciling the same course at once. The sync reads a fake
hub's groups over HTTP. tests/test_hub_group_roles.py does the same through a
real JupyterHub.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable
from typing import Any, TypeVar

import pytest
from fake_http import Request, Response, serve
from jupyterhub.services.auth import HubAuth
from sqlalchemy import select, text

from ngshare.server.auth.hub_groups import GroupSyncError, HubGroups
from ngshare.server.service import courses
from ngshare.server.service.errors import Unavailable
from ngshare.server.service.group_enrollments import (
    CourseMembers,
    GroupPrefixes,
    courses_out_of_sync,
    reconcile_course,
    reconcile_user,
    roles_from_groups,
    rosters_from_groups,
    user_out_of_sync,
)
from ngshare.server.service.permissions import Caller
from ngshare.server.service.runner import ServiceRunner
from ngshare.server.storage.blobs.filesystem import FilesystemBlobStore
from ngshare.server.storage.db import Database
from ngshare.server.storage.models import Course, Enrollment, Role, User

T = TypeVar("T")
ADMIN = Caller("admin", is_admin=True)
PREFIXES = GroupPrefixes()


def run(database: Database, operation: Callable[..., T], *args: Any) -> T:
    with database.transaction() as session:
        return operation(session, *args)


def roster(database: Database, course: str) -> dict[str, tuple[str, str]]:
    """{user: (role, source)} of a course."""
    with database.transaction(readonly=True) as session:
        query = (
            select(User.name, Enrollment.role, Enrollment.source)
            .join(User, User.id == Enrollment.user_id)
            .join(Course, Course.id == Enrollment.course_id)
            .where(Course.name == course)
        )
        return {name: (role, source) for name, role, source in session.execute(query)}


def members(instructors: set[str] | None = None, students: set[str] | None = None) -> CourseMembers:
    return CourseMembers(frozenset(instructors or ()), frozenset(students or ()))


def sync_all(database: Database, rosters: dict[str, CourseMembers], create: bool = True) -> None:
    """What the periodic sync does, in the test's thread."""
    for name in run(database, courses_out_of_sync, rosters, create):
        run(database, reconcile_course, name, rosters.get(name, members()), create)


# -- group names -----------------------------------------------------------------


def test_groups_name_courses_by_nbgrader_convention() -> None:
    groups = {
        "formgrade-c9": ["kim", "lee"],
        "nbgrader-c9": ["ana", "lee", "bad/name"],
        "nbgrader-c10": ["bob"],
        "staff": ["kim"],
        "formgrade-": ["nobody"],
        "nbgrader-../x": ["eve"],
    }
    assert rosters_from_groups(groups, PREFIXES) == {
        "c10": members(students={"bob"}),
        "c9": members({"kim", "lee"}, {"ana", "lee"}),
    }
    # Someone in both groups of a course is its instructor.
    assert members({"lee"}, {"ana", "lee"}).roles() == {"lee": Role.instructor, "ana": Role.student}
    assert roles_from_groups(["nbgrader-c9", "formgrade-c9", "nbgrader-c10", "x"], PREFIXES) == {
        "c9": Role.instructor,
        "c10": Role.student,
    }


def test_custom_prefixes_prefer_the_longest_match() -> None:
    prefixes = GroupPrefixes(instructor="course-staff-", student="course-")
    assert prefixes.course_role("course-staff-c1") == ("c1", Role.instructor)
    assert prefixes.course_role("course-c1") == ("c1", Role.student)
    assert prefixes.course_role("formgrade-c1") is None


# -- reconciling courses -----------------------------------------------------------


def test_sync_changes_only_group_made_enrollments(database: Database) -> None:
    run(database, courses.create_course, ADMIN, "c1", ["kim"])
    run(database, courses.set_student, ADMIN, "c1", courses.Person("ana", "Ana", "D", "a@x"))

    sync_all(database, {"c1": members({"lee"}, {"ana", "bob", "lee", "kim"})})
    assert roster(database, "c1") == {
        "kim": ("instructor", "roster"),  # hand-made: the groups change nothing
        "ana": ("student", "roster"),
        "lee": ("instructor", "hub-group"),  # both groups: instructor
        "bob": ("student", "hub-group"),
    }
    # Idempotent: nothing left to do, and doing it again changes nothing.
    rosters = {"c1": members({"lee"}, {"ana", "bob", "lee"})}
    assert run(database, courses_out_of_sync, rosters, True) == []
    assert not run(database, reconcile_course, "c1", rosters["c1"], True)

    # Roles change and members leave; hand-made enrollments stay.
    sync_all(database, {"c1": members(set(), {"lee"})})
    assert roster(database, "c1") == {
        "kim": ("instructor", "roster"),
        "ana": ("student", "roster"),
        "lee": ("student", "hub-group"),
    }

    # Groups that are gone altogether leave no group-made enrollment behind.
    sync_all(database, {})
    assert roster(database, "c1") == {
        "kim": ("instructor", "roster"),
        "ana": ("student", "roster"),
    }


def test_courses_are_created_from_groups_unless_turned_off(database: Database) -> None:
    rosters = {"c2": members({"kim"}, {"ana"}), "c3": members(set(), {"bob"})}
    run(database, courses.create_course, ADMIN, "c3", [])
    sync_all(database, rosters, create=False)
    assert roster(database, "c2") == {}
    with database.transaction(readonly=True) as session:
        assert Course.all_names(session) == ["c3"]
    assert roster(database, "c3") == {"bob": ("student", "hub-group")}

    sync_all(database, rosters, create=True)
    assert roster(database, "c2") == {
        "kim": ("instructor", "hub-group"),
        "ana": ("student", "hub-group"),
    }


def test_a_role_given_by_hand_is_kept(database: Database) -> None:
    sync_all(database, {"c1": members({"kim"}, {"ana", "bob"})})
    # Editing a group member's details keeps them a group member...
    run(database, courses.set_student, Caller("kim"), "c1", courses.Person("ana", "A", "B", ""))
    # ...while an admin's change of role is a decision the groups must not undo.
    run(database, courses.set_instructor, ADMIN, "c1", courses.Person("bob", "", "", ""))
    assert roster(database, "c1")["ana"] == ("student", "hub-group")
    assert roster(database, "c1")["bob"] == ("instructor", "roster")

    sync_all(database, {"c1": members({"kim"}, set())})
    assert roster(database, "c1") == {
        "kim": ("instructor", "hub-group"),
        "bob": ("instructor", "roster"),
    }


def test_reconcile_one_user_from_their_groups(database: Database) -> None:
    run(database, courses.create_course, ADMIN, "c3", [])
    run(database, courses.set_student, ADMIN, "c3", courses.Person("ana", "", "", ""))
    run(database, courses.create_course, ADMIN, "c4", [])

    wanted = roles_from_groups(["nbgrader-c1", "formgrade-c2", "formgrade-c3"], PREFIXES)
    assert run(database, user_out_of_sync, "ana", wanted, True)
    changes = run(database, reconcile_user, "ana", wanted, True)
    assert (changes.created_course, changes.added) == (True, 2)
    assert roster(database, "c1") == {"ana": ("student", "hub-group")}
    assert roster(database, "c2") == {"ana": ("instructor", "hub-group")}
    assert roster(database, "c3") == {"ana": ("student", "roster")}  # by hand: kept
    assert not run(database, user_out_of_sync, "ana", wanted, True)

    # Without course creation, only existing courses are joined.
    wanted = roles_from_groups(["nbgrader-c4", "nbgrader-c5", "nbgrader-c1"], PREFIXES)
    run(database, reconcile_user, "ana", wanted, False)
    assert not run(database, user_out_of_sync, "ana", wanted, False)
    assert roster(database, "c4") == {"ana": ("student", "hub-group")}
    assert roster(database, "c2") == {}
    assert roster(database, "c1") == {"ana": ("student", "hub-group")}
    with database.transaction(readonly=True) as session:
        assert "c5" not in Course.all_names(session)

    run(database, reconcile_user, "ana", {}, True)
    for course in ("c1", "c2", "c4"):
        assert roster(database, course) == {}
    assert roster(database, "c3") == {"ana": ("student", "roster")}


def test_replicas_reconciling_at_once_agree(db_url: str, tmp_path: Any) -> None:
    """Several replicas (own engines, own runners) sync the same groups at once."""
    setup = Database(db_url)
    setup.upgrade()
    setup.dispose()
    rosters = {
        "c1": members({"kim", "lee"}, {f"s{i}" for i in range(20)}),
        "c2": members({"lee"}, {f"s{i}" for i in range(10, 30)}),
    }
    runners = [
        ServiceRunner(Database(db_url), FilesystemBlobStore(tmp_path / "blobs"), workers=2)
        for _ in range(6)
    ]

    async def replica(runner: ServiceRunner) -> None:
        # The course path of one replica races the caller path of another.
        await runner.call(reconcile_user, "s15", {"c1": Role.student, "c2": Role.student}, True)
        for name in sorted(rosters):
            await runner.call(reconcile_course, name, rosters[name], True)

    async def all_replicas() -> None:
        await asyncio.gather(*(replica(runner) for runner in runners))

    try:
        asyncio.run(all_replicas())
    finally:
        for runner in runners:
            runner.shutdown()
    check = Database(db_url)
    try:
        assert run(check, courses_out_of_sync, rosters, True) == []
        assert len(roster(check, "c1")) == 22 and len(roster(check, "c2")) == 21
        with check.transaction(readonly=True) as session:
            counts = session.execute(text("SELECT COUNT(*), COUNT(DISTINCT name) FROM users"))
            assert counts.one() == (32, 32)
    finally:
        check.dispose()


def test_a_first_request_and_the_sync_create_a_course_together(
    db_url: str, tmp_path: Any, caplog: pytest.LogCaptureFixture
) -> None:
    """A new instructor's first call races the sync creating their course.

    Each creates the course and the instructor's user; neither may fail (the
    caller would get 404 for a course their group names) nor deadlock (which
    PostgreSQL breaks only after a second, by failing one to be run again).
    """
    caplog.set_level(logging.INFO, logger="ngshare")
    setup = Database(db_url)
    setup.upgrade()
    setup.dispose()
    caller_path, sync = (
        ServiceRunner(Database(db_url), FilesystemBlobStore(tmp_path / "blobs"), workers=1)
        for _ in range(2)
    )

    # In the opposite order of inserts, about every other race deadlocked.
    rounds = 20

    async def race(i: int) -> None:
        teacher, course = f"t{i}", f"c{i}"
        await asyncio.gather(
            caller_path.call(reconcile_user, teacher, {course: Role.instructor}, True),
            sync.call(reconcile_course, course, members({teacher}, {f"s{i}", f"z{i}"}), True),
        )

    async def races() -> None:
        for i in range(rounds):
            await race(i)

    try:
        asyncio.run(races())
    finally:
        caller_path.shutdown()
        sync.shutdown()
    check = Database(db_url)
    try:
        for i in range(rounds):
            assert roster(check, f"c{i}") == {
                f"t{i}": ("instructor", "hub-group"),
                f"s{i}": ("student", "hub-group"),
                f"z{i}": ("student", "hub-group"),
            }
    finally:
        check.dispose()
    assert not [r.getMessage() for r in caplog.records if "deadlock" in r.getMessage()]


def test_upgrade_marks_existing_enrollments_as_roster_made(db_url: str) -> None:
    database = Database(db_url)
    try:
        database.upgrade("0003_blob_possessions")
        with database.engine.begin() as connection:
            for statement in (
                "INSERT INTO users (id, name, created_at) VALUES (1, 'kim', '2024-01-01')",
                "INSERT INTO courses (id, name, created_at) VALUES (1, 'c1', '2024-01-01')",
                "INSERT INTO enrollments (id, course_id, user_id, role) "
                "VALUES (1, 1, 1, 'instructor')",
            ):
                connection.execute(text(statement))
        database.upgrade()
        assert roster(database, "c1") == {"kim": ("instructor", "roster")}
    finally:
        database.dispose()


# -- the hub side: reading groups, the periodic sync, callers ------------------------


def hub_answering(pages: list[Any]) -> Callable[[Request], Response]:
    """A fake hub API: GET /groups answers page after page (then the last again)."""

    def respond(request: Request) -> Response:
        assert request.headers["Authorization"] == "token service-token"
        item = pages.pop(0) if len(pages) > 1 else pages[0]
        if isinstance(item, Response):
            return item
        return Response(200, json.dumps(item).encode(), {"Content-Type": "application/json"})

    return respond


def page(groups: dict[str, list[str]], following: int | None = None) -> dict[str, Any]:
    items = [{"kind": "group", "name": n, "users": u} for n, u in groups.items()]
    following_page = None if following is None else {"offset": following, "limit": 2, "url": ""}
    return {"items": items, "_pagination": {"offset": 0, "limit": 2, "next": following_page}}


def hub_groups(database: Database, hub_url: str, tmp_path: Any, **config: Any) -> HubGroups:
    runner = ServiceRunner(database, FilesystemBlobStore(tmp_path / "blobs"), workers=2)
    hub_auth = HubAuth(api_url=hub_url.rstrip("/"), api_token="service-token")
    return HubGroups(runner=runner, hub_auth=hub_auth, roles_from_groups=True, **config)


def test_fetch_groups_follows_pages_and_explains_missing_scopes(
    database: Database, tmp_path: Any
) -> None:
    pages: list[Any] = [
        page({"formgrade-c1": ["kim"], "nbgrader-c1": ["ana"]}, following=2),
        page({"nbgrader-c2": ["bob"]}),
    ]
    with serve(hub_answering(pages), prefix="/hub/api/") as hub:
        groups = hub_groups(database, hub.url, tmp_path)
        fetched = asyncio.run(groups.fetch_groups())
        assert fetched == {"formgrade-c1": ["kim"], "nbgrader-c1": ["ana"], "nbgrader-c2": ["bob"]}
        assert [r.path for r in hub.requests] == ["/hub/api/groups", "/hub/api/groups?offset=2"]
        assert hub.requests[0].headers["Accept"] == "application/jupyterhub-pagination+json"

    # A hub that does not paginate answers with a plain list.
    with serve(hub_answering([[{"name": "nbgrader-c3", "users": ["eve"]}]]), "/hub/api/") as hub:
        fetched = asyncio.run(hub_groups(database, hub.url, tmp_path).fetch_groups())
        assert fetched == {"nbgrader-c3": ["eve"]}

    # Without list:groups the hub says 403; without read:groups it hides members.
    for answer in (Response(403, b"{}"), [{"kind": "group", "name": "nbgrader-c1"}]):
        with (
            serve(hub_answering([answer]), prefix="/hub/api/") as hub,
            pytest.raises(GroupSyncError, match="list:groups, read:groups"),
        ):
            asyncio.run(hub_groups(database, hub.url, tmp_path).fetch_groups())


def test_periodic_sync_survives_hub_failures(database: Database, tmp_path: Any) -> None:
    pages: list[Any] = [
        Response(500, b"down"),
        Response(502, b"still down"),
        page({"formgrade-c1": ["kim"], "nbgrader-c1": ["ana", "bob"]}),
    ]
    with serve(hub_answering(pages), prefix="/hub/api/") as hub:
        groups = hub_groups(database, hub.url, tmp_path, group_sync_interval=0.05)

        async def sync_for_a_while() -> None:
            groups.start()
            for _ in range(200):
                if roster(database, "c1"):
                    break
                await asyncio.sleep(0.05)
            await groups.stop()

        asyncio.run(sync_for_a_while())
        groups.runner.shutdown()
    assert roster(database, "c1") == {
        "kim": ("instructor", "hub-group"),
        "ana": ("student", "hub-group"),
        "bob": ("student", "hub-group"),
    }


class CountingRunner(ServiceRunner):
    """A runner that counts operations, or fails them all like a lost database."""

    fail = False

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.calls: list[str] = []

    async def call(self, operation: Callable[..., T], *args: object, readonly: bool = False) -> T:
        self.calls.append(operation.__name__)
        if self.fail:
            raise Unavailable("The database is unavailable; try again shortly")
        return await super().call(operation, *args, readonly=readonly)


def test_a_caller_is_reconciled_once_per_change_of_groups(
    database: Database, tmp_path: Any, caplog: pytest.LogCaptureFixture
) -> None:
    runner = CountingRunner(database, FilesystemBlobStore(tmp_path / "blobs"), workers=2)
    hub_auth = HubAuth(api_url="http://127.0.0.1:1/hub/api", api_token="unused")
    groups = HubGroups(runner=runner, hub_auth=hub_auth, roles_from_groups=True)

    async def requests() -> None:
        await groups.reconcile_caller("ana", ["nbgrader-c1", "other"])
        await groups.reconcile_caller("ana", ["other", "nbgrader-c1"])
        assert runner.calls == ["user_out_of_sync", "reconcile_user"]
        await groups.reconcile_caller("ana", [])
        assert runner.calls[2:] == ["user_out_of_sync", "reconcile_user"]
        # A failing database never fails the request, and is tried again next time.
        runner.fail = True
        await groups.reconcile_caller("ana", ["nbgrader-c2"])
        runner.fail = False
        await groups.reconcile_caller("ana", ["nbgrader-c2"])
        assert runner.calls[4:] == ["user_out_of_sync", "user_out_of_sync", "reconcile_user"]

    with caplog.at_level(logging.WARNING):
        asyncio.run(requests())
    runner.shutdown()
    assert "Could not update ana's enrollments" in caplog.text
    assert roster(database, "c1") == {}
    assert roster(database, "c2") == {"ana": ("student", "hub-group")}


def test_sync_changes_are_in_the_audit_log(database: Database) -> None:
    from ngshare.server.storage.models import Event

    sync_all(database, {"c7": members({"lee"}, {"bob", "cat"})})
    sync_all(database, {"c7": members({"lee"}, {"bob"})})
    with database.transaction(readonly=True) as db:
        logged = [
            (e.actor, e.action, e.course, e.user)
            for e in db.scalars(select(Event).order_by(Event.id))
        ]
    assert logged[0] == ("hub-groups", "course.create", "c7", None)
    assert set(logged[1:4]) == {
        ("hub-groups", "instructor.add", "c7", "lee"),
        ("hub-groups", "student.add", "c7", "bob"),
        ("hub-groups", "student.add", "c7", "cat"),
    }
    assert logged[4:] == [("hub-groups", "student.remove", "c7", "cat")]
