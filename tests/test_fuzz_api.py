"""Fuzzing the own API (``api/v2``) against its OpenAPI document with schemathesis.

Every operation of the document is exercised against a real server as an
instructor, as a student and as an admin, with a bounded, derandomized number of
generated requests. Whatever is sent, the server must never answer 5xx, every
answer must match the documented status codes, content types and schemas, and
every error body must be ``{"success": false, "message": str}``.

The schema is built at import time from :func:`build_document` (the test
collection needs it before any server runs) and checked against the document
the live server serves, so the two cannot drift apart. Path parameters are
mostly random, but part of the time they name the course, assignment,
student, submission and blobs that exist, so the fuzzing also reaches the
code past the "not found" answers.
"""

from __future__ import annotations

import hashlib
from typing import Any

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)
from server_process import PREFIX, ServerProcess

from ngshare.handlers.api.openapi import build_document

API = ("api", "v2")
RELEASED = {"ps1.ipynb": b'{"cells": []}', "data/table.csv": b"a,b\n1,2\n"}
SUBMITTED = {"ps1.ipynb": b'{"cells": ["answer"]}', "data/table.csv": b"a,b\n1,2\n"}

schema = schemathesis.openapi.from_dict(build_document(PREFIX))

# Values that exist on the server under test, per path parameter. Timestamps
# are only known once the submission is made, so the fixture fills them in;
# the hook below reads this mapping while generating, which is after that.
KNOWN: dict[str, list[str]] = {
    "course": ["c1", "c2"],
    "assignment": ["ps1"],
    "student": ["ana", "bob", "eve"],
    "timestamp": [],
    "sha256": sorted({hashlib.sha256(d).hexdigest() for d in (*RELEASED.values(), b"")}),
}


@schema.hook
def flatmap_path_parameters(
    context: schemathesis.HookContext, path_parameters: dict[str, Any] | None
) -> st.SearchStrategy[dict[str, Any] | None]:
    """Half of the time, replace random path parameters with existing names."""
    if not path_parameters:
        return st.just(path_parameters)
    known = {
        name: st.sampled_from(KNOWN[name]) if KNOWN.get(name) else st.just(value)
        for name, value in path_parameters.items()
    }
    return st.one_of(st.just(path_parameters), st.fixed_dictionaries(known))


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def upload(server: ServerProcess, user: str, files: dict[str, bytes]) -> list[dict[str, Any]]:
    client = server.client(user)
    for data in files.values():
        response = client.request("PUT", *API, "blobs", sha(data), data=data)
        assert response.status_code == 201, response.text
    return [{"path": p, "sha256": sha(d), "size": len(d)} for p, d in files.items()]


@pytest.fixture
def exchange(course: ServerProcess) -> ServerProcess:
    """``course`` with ps1 released in c1 and submitted once by ana."""
    kim, ana = course.client("kim"), course.client("ana")
    manifest = upload(course, "kim", RELEASED)
    response = kim.request(
        "PUT", *API, "courses", "c1", "assignments", "ps1", json={"files": manifest}
    )
    assert response.status_code == 201, response.text
    manifest = upload(course, "ana", SUBMITTED)
    response = ana.post(
        *API, "courses", "c1", "assignments", "ps1", "submissions", json={"files": manifest}
    )
    assert response.status_code == 201, response.text
    KNOWN["timestamp"] = [response.json()["timestamp"]]
    return course


def test_served_document_is_the_fuzzed_one(server: ServerProcess) -> None:
    response = requests.get(server.url + "api/v2/openapi.json", timeout=30)
    assert response.status_code == 200
    assert response.json() == schema.raw_schema


def check_error_body(response: schemathesis.Response) -> None:
    """Errors are JSON objects ``{"success": false, "message": str}``, nothing else."""
    if response.status_code < 400:
        return
    body = response.json()
    assert isinstance(body, dict), body
    assert body.get("success") is False, body
    assert isinstance(body.get("message"), str), body
    assert set(body) == {"success", "message"}, body


def operations() -> list[schemathesis.APIOperation]:
    """Every operation of the document; deletions last, so the others see the data."""
    found = [result.ok() for result in schema.get_all_operations()]
    return sorted(found, key=lambda op: op.method.lower() == "delete")


CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


# One server per user rather than per operation: starting a server costs more
# than fuzzing one operation, and one test per operation would triple the
# run time.
@pytest.mark.parametrize("user", ["kim", "ana", "admin"])
def test_api_conforms_to_document(exchange: ServerProcess, user: str) -> None:
    base_url = exchange.url.rstrip("/")
    headers = {"Authorization": f"token {exchange.token(user)}"}

    for operation in operations():

        @settings(
            max_examples=25,
            deadline=None,
            derandomize=True,
            database=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
        )
        @given(case=operation.as_strategy(hooks=schema.hooks))
        def fuzz(case: schemathesis.Case) -> None:
            response = case.call_and_validate(
                base_url=base_url, headers=headers, checks=CHECKS, timeout=30
            )
            check_error_body(response)

        # A failure shows the generated request as a curl command.
        fuzz()
