"""The server starts on an empty database and answers its health checks."""

from server_process import ServerProcess


def test_healthz_needs_no_token(server: ServerProcess) -> None:
    for url in (server.root_url + "healthz", server.url + "healthz"):
        import requests

        response = requests.get(url, timeout=10)
        assert response.status_code == 200
        assert response.json() == {"success": True}


def test_course_round_trip(course: ServerProcess) -> None:
    assert course.client("admin").get("courses").json() == {
        "success": True,
        "courses": ["c1", "c2"],
    }
    assert course.client("ana").get("courses").json()["courses"] == ["c1"]
