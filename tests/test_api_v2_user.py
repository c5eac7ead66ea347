"""``GET api/v2/user``: who the caller's token stands for, with their courses.

The ``course`` fixture: c1 (instructor kim, students ana and bob), c2
(instructor lee, student eve); ``admin`` is the configured admin and belongs
to no course; dan belongs to none either.
"""

from __future__ import annotations

from server_process import ServerProcess

API = ("api", "v2")


def whoami(server: ServerProcess, user: str) -> dict[str, object]:
    response = server.client(user).get(*API, "user")
    assert response.status_code == 200, response.text
    return response.json()


def test_each_caller_is_told_their_name_admin_flag_and_courses(course: ServerProcess) -> None:
    assert whoami(course, "ana") == {
        "success": True,
        "name": "ana",
        "admin": False,
        "courses": [{"course": "c1", "role": "student"}],
    }
    ok = course.client("lee").post(
        "student", "c2", "zoë", data={"first_name": "Z", "last_name": "Ö", "email": ""}
    )
    assert ok.status_code == 200, ok.text
    admin = course.client("admin").post("course", "a0", data={"instructors": '["zoë"]'})
    assert admin.status_code == 200, admin.text
    assert whoami(course, "zoë")["courses"] == [
        {"course": "a0", "role": "instructor"},
        {"course": "c2", "role": "student"},
    ]
    assert whoami(course, "admin") == {
        "success": True,
        "name": "admin",
        "admin": True,
        "courses": [],
    }
    assert whoami(course, "dan")["courses"] == []


def test_deleted_courses_and_enrollments_are_not_the_callers(course: ServerProcess) -> None:
    gone = course.client("kim").delete("student", "c1", "ana")
    assert gone.status_code == 200, gone.text
    assert whoami(course, "ana")["courses"] == []
    deleted = course.client("admin").delete("course", "c2")
    assert deleted.status_code == 200, deleted.text
    assert whoami(course, "lee")["courses"] == []
    assert whoami(course, "kim")["courses"] == [{"course": "c1", "role": "instructor"}]


def test_without_a_valid_token_nobody_is_named(course: ServerProcess) -> None:
    for client in (course.client(None), course.client(token="not-a-token")):
        response = client.get(*API, "user")
        assert response.status_code == 403, response.text
        assert response.json()["success"] is False
        assert "name" not in response.json()
