"""/metrics on a real server: admins only by default, ngshare_ names, no course or user names.

The figures are read back with prometheus_client's own parser, so what is
checked is what Prometheus would scrape.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable

import requests
from prometheus_client.parser import text_string_to_metric_families
from server_process import ServerProcess

COURSE = "physics-secret-course"


def scrape(server: ServerProcess, user: str | None = "admin") -> dict[tuple[str, tuple], float]:
    """{(sample name, sorted labels): value} of one scrape."""
    response = server.client(user).get("metrics")
    assert response.status_code == 200, response.text
    assert response.headers["Content-Type"].startswith("text/plain; version=")
    samples = {}
    for family in text_string_to_metric_families(response.text):
        assert family.name.startswith("ngshare_"), family.name
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def value(samples: dict[tuple[str, tuple], float], name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def test_metrics_need_an_admin_by_default(server: ServerProcess) -> None:
    anonymous = server.client(None).get("metrics")
    assert anonymous.status_code == 403
    assert anonymous.json()["success"] is False
    student = server.client("ana").get("metrics")
    assert student.status_code == 403
    assert student.json()["message"] == "Only admins may read the metrics"
    root = requests.get(server.root_url + "metrics", timeout=30)
    assert root.status_code == 403
    assert scrape(server)


def test_metrics_can_be_open_to_in_cluster_scrapers(
    start_server: Callable[..., ServerProcess],
) -> None:
    server = start_server(extra_args=["--NgshareApp.authenticate_prometheus=False"])
    response = requests.get(server.root_url + "metrics", timeout=30)
    assert response.status_code == 200
    assert "ngshare_requests_in_flight" in response.text


def test_metrics_move_when_a_student_submits_and_name_nobody(server: ServerProcess) -> None:
    admin, kim = server.client("admin"), server.client("kim")
    assert admin.post("course", COURSE, data={"instructors": '["kim"]'}).status_code == 200
    person = {"first_name": "Zoë", "last_name": "Doe", "email": "z@x.edu"}
    assert kim.post("student", COURSE, "zoë", data=person).status_code == 200
    release = json.dumps([{"path": "q.txt", "content": ""}])
    assert kim.post("assignment", COURSE, "ps1", data={"files": release}).status_code == 200

    before = scrape(server)
    response = server.client("zoë").post(
        "submission",
        COURSE,
        "ps1",
        data={"files": json.dumps([{"path": "a.txt", "content": "aGVsbG8="}])},
    )
    assert response.status_code == 200, response.text
    after = scrape(server)

    key = {"handler": "SubmitHandler", "method": "POST", "code": "200"}
    count = "ngshare_request_duration_seconds_count"
    assert value(after, count, **key) == value(before, count, **key) + 1
    received = "ngshare_received_bytes_total"
    assert value(after, received, handler="SubmitHandler") > value(
        before, received, handler="SubmitHandler"
    )
    transfers = "ngshare_transfers_total"
    submitted = {"kind": "submission", "api": "v1"}
    assert value(after, transfers, **submitted) == value(before, transfers, **submitted) + 1

    # The same over the own API: a manifest of content uploaded first.
    zoe = server.client("zoë")
    content = b"own api"
    sha = hashlib.sha256(content).hexdigest()
    assert zoe.request("PUT", "api", "v2", "blobs", sha, data=content).status_code == 201
    manifest = {"files": [{"path": "a.txt", "sha256": sha, "size": len(content)}]}
    own = zoe.post(
        "api", "v2", "courses", COURSE, "assignments", "ps1", "submissions", json=manifest
    )
    assert own.status_code == 201, own.text
    final = scrape(server)
    own_api = {"kind": "submission", "api": "v2"}
    assert value(final, transfers, **own_api) == value(after, transfers, **own_api) + 1
    assert value(final, transfers, **submitted) == value(after, transfers, **submitted)

    # The blob store, whatever it is: v1 content arrives whole (put), own-API
    # content streamed (write, commit), and referencing content checks it exists.
    store = "ngshare_blob_store_operation_seconds_count"
    assert value(after, store, operation="put") > value(before, store, operation="put")
    for call in ("write", "commit", "exists"):
        assert value(final, store, operation=call) > value(after, store, operation=call), call

    operation = {"operation": "submit"}
    database = "ngshare_database_operation_seconds_count"
    assert value(after, database, **operation) == value(before, database, **operation) + 1
    pool = {k[1]: v for k, v in after.items() if k[0] == "ngshare_database_pool_connections"}
    assert (("state", "size"),) in pool

    # Privacy and cardinality: no course or user name in any label.
    text = server.client("admin").get("metrics").text
    for name in (COURSE, "zoë", "kim", "admin", "ps1"):
        assert name not in text, name


def test_refusals_are_counted_by_reason(server: ServerProcess) -> None:
    before = scrape(server)
    assert server.client(token="not-a-token").get("courses").status_code == 403
    assert server.client("ana").post("course", "c9").status_code == 403
    assert server.client("admin").get("course", "no-such-course").status_code in (404, 405)
    after = scrape(server)
    refusals = "ngshare_refusals_total"
    assert value(after, refusals, reason="auth") >= value(before, refusals, reason="auth") + 1
    assert value(after, refusals, reason="permission") == (
        value(before, refusals, reason="permission") + 1
    )


def test_requests_in_flight_come_back_to_the_scrape_itself(server: ServerProcess) -> None:
    for _ in range(3):
        assert server.client("kim").get("courses").status_code == 200
    # The scrape is the only request being handled while it runs.
    assert value(scrape(server), "ngshare_requests_in_flight") == 1
