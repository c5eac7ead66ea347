"""The exchange plugin's HTTP client, settings and file handling, without nbgrader's CLI.

The client is tested against a real ngshare process (for real messages and the
idempotent submit) and against small fake servers that fail on purpose
(503s, redirects, HTML, silence, a proxy that loses a response).
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import os
import time
from pathlib import Path

import pytest
from fake_http import Request, Response, forward, serve
from nbgrader.exchange.abc import ExchangeError
from server_process import ServerProcess, free_port

from ngshare.exchange import settings
from ngshare.exchange.client import NgshareClient, NgshareError
from ngshare.exchange.content import (
    LocalContent,
    ManifestFile,
    assignment_path,
    download_files,
    local_timestamp,
    parse_manifest,
    place_new_files,
    submit_files,
    upload_files,
)
from ngshare.exchange.exchange import Exchange
from ngshare.exchange.files import FileRules, find_files
from ngshare.exchange.known_content import KnownContent
from ngshare.protocol import blob_frames

OK_COURSES = Response(200, b'{"success": true, "courses": []}')


def client_for(
    url: str, token: str | None = None, **options: object
) -> tuple[NgshareClient, list[float]]:
    """A client that records its backoff delays instead of sleeping."""
    delays: list[float] = []
    options.setdefault("retries", 3)
    client = NgshareClient(url, token or "unchecked", sleep=delays.append, **options)  # type: ignore[arg-type]
    return client, delays


def tree(*files: tuple[str, bytes]) -> str:
    return json.dumps(
        [
            {
                "path": path,
                "content": base64.b64encode(data).decode(),
                "checksum": hashlib.md5(data, usedforsecurity=False).hexdigest(),
            }
            for path, data in files
        ]
    )


# -- retries, timeouts and error messages ---------------------------------------------


def test_get_is_retried_with_backoff_on_503() -> None:
    answers = iter([Response(503, b"busy"), Response(502, b"bad gateway"), OK_COURSES])
    with serve(lambda request: next(answers)) as fake:
        client, delays = client_for(fake.url, backoff=0.5)
        assert client.get("courses", what="list courses") == {"success": True, "courses": []}
    assert len(fake.requests) == 3
    assert delays == [0.5, 1.0]


def test_retries_give_up_with_the_last_status() -> None:
    with serve(lambda request: Response(504, b"<html>gateway timeout</html>")) as fake:
        client, delays = client_for(fake.url, retries=2)
        with pytest.raises(NgshareError, match=r"HTTP 504 from GET") as caught:
            client.get("courses", what="list courses")
    assert len(fake.requests) == 3
    assert len(delays) == 2
    assert caught.value.status == 504


def test_a_post_that_is_not_idempotent_is_not_retried_on_503() -> None:
    with serve(lambda request: Response(503, b'{"success": false, "message": "busy"}')) as fake:
        client, delays = client_for(fake.url)
        with pytest.raises(NgshareError, match="Could not release it: busy"):
            client.post("assignment", "c", "a", data={"files": "[]"}, what="release it")
    assert len(fake.requests) == 1
    assert delays == []


def test_connection_refused_is_retried_then_explained() -> None:
    url = f"http://127.0.0.1:{free_port()}/services/ngshare/"
    client, delays = client_for(url, retries=2)
    with pytest.raises(NgshareError) as caught:
        # Even a POST may be resent when the connection was never made.
        client.post("assignment", "c", "a", data={"files": "[]"}, what="release it")
    message = str(caught.value)
    assert "cannot reach ngshare at " + url in message
    assert "connection refused" in message
    assert "NGSHARE_URL" in message
    assert len(delays) == 2


def test_every_request_has_a_timeout() -> None:
    def never_answers(request: Request) -> Response:
        time.sleep(3)
        return OK_COURSES

    with serve(never_answers) as fake:
        client, _ = client_for(fake.url, timeout=0.3, retries=1)
        started = time.monotonic()
        with pytest.raises(NgshareError, match="timed out"):
            client.get("courses", what="list courses")
        assert time.monotonic() - started < 2.5
    assert len(fake.requests) == 2


def test_a_redirect_to_the_login_page_is_reported_as_a_token_problem() -> None:
    login = Response(302, b"", {"Location": "/hub/login?next=/services/ngshare/courses"})
    with serve(lambda request: login) as fake:
        client, _ = client_for(fake.url)
        with pytest.raises(NgshareError, match="JUPYTERHUB_API_TOKEN") as caught:
            client.get("courses", what="list courses")
    assert "/hub/login" in str(caught.value)


def test_a_non_json_answer_points_at_the_url() -> None:
    page = Response(200, b"<html>JupyterHub</html>", {"Content-Type": "text/html"})
    with serve(lambda request: page) as fake:
        client, _ = client_for(fake.url)
        with pytest.raises(
            NgshareError, match=r"did not answer with ngshare's JSON.*Is NGSHARE_URL"
        ):
            client.get("courses", what="list courses")


def test_server_messages_are_carried_not_swallowed(course: ServerProcess) -> None:
    client, _ = client_for(course.url, course.token("ana"))
    with pytest.raises(NgshareError) as caught:
        client.get("assignment", "c1", "nope", what="fetch assignment 'nope'")
    assert caught.value.status == 404
    assert caught.value.server_message == "Assignment not found"
    assert str(caught.value).startswith("Could not fetch assignment 'nope': Assignment not found")
    assert isinstance(caught.value, ExchangeError)

    with pytest.raises(NgshareError, match=r"Invalid or expired token.*JUPYTERHUB_API_TOKEN"):
        client_for(course.url, "wrong")[0].get("courses", what="list courses")


def test_names_are_quoted_in_urls(course: ServerProcess) -> None:
    admin, _ = client_for(course.url, course.token("admin"))
    admin.post("course", "physics 101 ü", data={"instructors": '["zoë"]'}, what="create")
    zoe, _ = client_for(course.url, course.token("zoë"))
    assert zoe.get("courses", what="list")["courses"] == ["physics 101 ü"]
    assert zoe.get("assignments", "physics 101 ü", what="list")["assignments"] == []


def test_large_transfers_log_progress(
    course: ServerProcess, caplog: pytest.LogCaptureFixture
) -> None:
    kim, _ = client_for(course.url, course.token("kim"), log=logging.getLogger("progress"))
    big = os.urandom(7 * 1024 * 1024)  # base64 and form encoding make it > 8 MB
    with caplog.at_level(logging.INFO, logger="progress"):
        kim.post("assignment", "c1", "big", data={"files": tree(("big.bin", big))}, what="up")
        files = kim.get("assignment", "c1", "big", what="down")["files"]
    assert base64.b64decode(files[0]["content"]) == big
    messages = [r.getMessage() for r in caplog.records]
    assert any(m.startswith("up: uploading ") for m in messages), messages
    assert any(m.startswith("up: uploaded 50% of") for m in messages), messages
    assert any(m.startswith("up: uploaded 100% of") for m in messages), messages
    assert any(m.startswith("down: downloaded 100% of") for m in messages), messages


# -- idempotent submit through a proxy that loses the first response ----------------------


def test_a_retried_submit_creates_one_submission(course: ServerProcess) -> None:
    kim, _ = client_for(course.url, course.token("kim"))
    kim.post("assignment", "c1", "ps1", data={"files": tree(("a.txt", b"x"))}, what="release")
    first: list[Response] = []

    def lose_first_submit_response(request: Request) -> Response:
        response = forward(request, course.root_url)
        if request.method == "POST" and not first:
            first.append(response)
            return Response(502, b"<html>502 Bad Gateway</html>")
        return response

    with serve(lose_first_submit_response) as proxy:
        ana, delays = client_for(proxy.url, course.token("ana"))
        key = ana.new_idempotency_key()
        answer = ana.post(
            "submission",
            "c1",
            "ps1",
            data={"files": tree(("a.txt", b"mine"))},
            what="submit",
            retry=True,
            idempotency_key=key,
        )
    posts = [r for r in proxy.requests if r.method == "POST"]
    assert len(posts) == 2
    assert {r.headers["Idempotency-Key"] for r in posts} == {key}
    assert delays == [0.5]
    # The retry got the first attempt's timestamp, and only one submission exists.
    assert answer["timestamp"] == json.loads(first[0].body)["timestamp"]
    listed = kim.get("submissions", "c1", "ps1", what="list")["submissions"]
    assert listed == [{"student_id": "ana", "timestamp": answer["timestamp"]}]


# -- settings: read when a command runs --------------------------------------------------


def test_service_url_resolution(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (settings.URL_VARIABLE, settings.Z2JH_VARIABLE):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(ExchangeError, match=r"NGSHARE_URL.*configure_exchange"):
        settings.service_url()
    monkeypatch.setenv(settings.Z2JH_VARIABLE, "10.0.0.1")
    assert settings.service_url() == "http://proxy-public/services/ngshare/"
    monkeypatch.setenv(settings.URL_VARIABLE, "http://hub:8000/services/ngshare")
    assert settings.service_url() == "http://hub:8000/services/ngshare/"
    assert settings.service_url("https://x/y/") == "https://x/y/"
    with pytest.raises(ExchangeError, match="must start with http"):
        settings.service_url("hub:8000/services/ngshare")


def test_token_and_user_are_read_at_run_time(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(settings.TOKEN_VARIABLE, raising=False)
    with pytest.raises(ExchangeError, match="JUPYTERHUB_API_TOKEN is not set"):
        settings.api_token()
    monkeypatch.setenv(settings.TOKEN_VARIABLE, "secret")
    assert settings.api_token() == "secret"

    exchange = Exchange()
    monkeypatch.setenv(settings.USER_VARIABLE, "ana")
    assert exchange.username == "ana"
    monkeypatch.setenv(settings.USER_VARIABLE, "bob")
    assert exchange.username == "bob"
    monkeypatch.delenv(settings.USER_VARIABLE)
    monkeypatch.setenv("USER", "os-user")
    monkeypatch.delenv("LOGNAME", raising=False)
    assert exchange.username == "os-user"


# -- files ----------------------------------------------------------------------------


def test_find_files_follows_nbgraders_rules(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    root = tmp_path / "ps1"
    (root / "data" / "__pycache__").mkdir(parents=True)
    (root / ".ipynb_checkpoints").mkdir()
    (root / "p1.ipynb").write_text("{}")
    (root / "data" / "small.csv").write_text("a,b\n")
    (root / "data" / "big.csv").write_bytes(b"x" * 2001)
    (root / "data" / "__pycache__" / "m.pyc").write_bytes(b"")
    (root / ".ipynb_checkpoints" / "p1-checkpoint.ipynb").write_text("{}")
    (root / "notes.tmp").write_text("")
    (root / "loop").symlink_to(root)  # a link loop is walked once
    rules = FileRules(
        exclude=(".ipynb_checkpoints", "__pycache__", "*.tmp"),
        include=("*.ipynb", "*.csv"),
        max_file_size=2,
    )
    with caplog.at_level(logging.INFO):
        found = find_files(root, rules, logging.getLogger("test"))
    assert [f.path for f in found] == ["data/small.csv", "p1.ipynb"]
    messages = "\n".join(r.getMessage() for r in caplog.records)
    assert "Skipping data/big.csv: too large" in messages
    assert "Skipping notes.tmp: excluded" in messages
    assert "Skipping .ipynb_checkpoints: excluded" in messages
    assert "symbolic link loop" in messages


@pytest.mark.parametrize("path", ["../evil", "/etc/passwd", "a/../../b", "a//b", ".", ""])
def test_unsafe_paths_from_the_server_are_refused(path: str) -> None:
    entry = {"path": path, "sha256": "0" * 64, "size": 1}
    with pytest.raises(ExchangeError, match="unsafe path"):
        parse_manifest([entry], "fetch")


def frames_response(*blobs: tuple[str, bytes]) -> Response:
    body = b"".join(
        blob_frames.frame_header(digest, len(data), blob_frames.IDENTITY) + data
        for digest, data in blobs
    )
    return Response(200, body, {"Content-Type": blob_frames.CONTENT_TYPE})


def test_corrupted_or_incomplete_downloads_are_refused(tmp_path: Path) -> None:
    good = hashlib.sha256(b"x").hexdigest()
    wanted = [(tmp_path / "a.txt", ManifestFile("a.txt", good, 1))]
    with serve(lambda request: frames_response((good, b"y"))) as fake:
        client, _ = client_for(fake.url)
        with pytest.raises(ExchangeError, match=r"a\.txt arrived corrupted"):
            download_files(client, wanted, "fetch")
    with serve(lambda request: frames_response()) as fake:
        client, _ = client_for(fake.url)
        with pytest.raises(ExchangeError, match="lacks 1 file"):
            download_files(client, wanted, "fetch")
    with serve(lambda request: Response(200, b"not frames")) as fake:
        client, _ = client_for(fake.url)
        with pytest.raises(ExchangeError, match="answer is broken"):
            download_files(client, wanted, "fetch")


def test_only_missing_content_is_uploaded_and_only_absent_content_downloaded(
    course: ServerProcess, tmp_path: Path
) -> None:
    data, notebook = os.urandom(300_000), b'{"cells": []}' * 1000
    release = tmp_path / "release"
    release.mkdir()
    (release / "data.bin").write_bytes(data)
    (release / "p1.ipynb").write_bytes(notebook)
    with serve(lambda request: forward(request, course.root_url)) as proxy:
        kim, _ = client_for(proxy.url, course.token("kim"))
        files = find_files(release, FileRules(), logging.getLogger("test"))
        first = upload_files(kim, files, "release")
        assert upload_files(kim, files, "release again") == first
        uploads = [r for r in proxy.requests if r.path.endswith("/api/v2/blobs")]
        # Sent once; the second time the server had both.
        assert len(uploads) == 1
        assert len(uploads[0].body) < len(data) + len(notebook) / 5  # the notebook compressed

        kim.send_json(
            "PUT",
            *assignment_path("c1", "ps1"),
            body={"files": [entry.as_json() for entry in first]},
            what="release",
        )
        ana, _ = client_for(proxy.url, course.token("ana"))
        target = tmp_path / "fetched"
        local = tmp_path / "local"
        local.mkdir()
        (local / "same-data.bin").write_bytes(data)
        placements = [(target / entry.path, entry) for entry in first]
        download_files(ana, placements, "fetch", LocalContent([local]))
    assert (target / "data.bin").read_bytes() == data
    assert (target / "p1.ipynb").read_bytes() == notebook
    downloads = [r for r in proxy.requests if r.path.endswith("/blobs/download")]
    # The data file was copied from the local one: only the notebook was asked for.
    assert [json.loads(r.body)["sha256"] for r in downloads] == [[first[1].sha256]]


def test_existing_files_are_never_overwritten(tmp_path: Path) -> None:
    staging, destination = tmp_path / "staging", tmp_path / "work"
    (staging / "sub").mkdir(parents=True)
    destination.mkdir()
    (staging / "mine.txt").write_text("template")
    (staging / "sub" / "new.txt").write_text("new")
    (destination / "mine.txt").write_text("student's work")
    placed = place_new_files(
        staging, destination, ["mine.txt", "sub/new.txt"], logging.getLogger("test")
    )
    assert placed == ["sub/new.txt"]
    assert (destination / "mine.txt").read_text() == "student's work"
    assert (destination / "sub" / "new.txt").read_text() == "new"


def test_a_tree_that_cannot_exist_on_disk_is_an_exchange_error(tmp_path: Path) -> None:
    staging, destination = tmp_path / "staging", tmp_path / "work"
    (staging / "a").mkdir(parents=True)
    (staging / "a" / "b").write_text("under a file")
    destination.mkdir()
    (destination / "a").write_text("a file")
    with pytest.raises(ExchangeError, match="Could not write a/b"):
        place_new_files(staging, destination, ["a/b"], logging.getLogger("test"))


def _release_data_and_notebook(
    kim: NgshareClient, tmp_path: Path
) -> tuple[list[ManifestFile], Path]:
    """ps1 of c1 released with a data file and a notebook; returns its manifest and folder."""
    release = tmp_path / "release"
    release.mkdir()
    (release / "data.bin").write_bytes(os.urandom(100_000))
    (release / "p1.ipynb").write_bytes(b'{"cells": []}' * 100)
    files = find_files(release, FileRules(), logging.getLogger("test"))
    manifest = upload_files(kim, files, "release")
    kim.send_json(
        "PUT",
        *assignment_path("c1", "ps1"),
        body={"files": [entry.as_json() for entry in manifest]},
        what="release",
    )
    return manifest, release


def _bundle_frames(body: bytes) -> list[str]:
    """The sha256 of each frame a submitted bundle carries."""
    parser = blob_frames.BundleParser(max_size=2**30)
    events = list(parser.feed(body))
    parser.close()
    return [e.header.sha256 for e in events if isinstance(e, blob_frames.FrameStart)]


def test_a_submit_sends_what_the_server_lacks_without_asking_when_it_knows(
    course: ServerProcess, tmp_path: Path
) -> None:
    kim, _ = client_for(course.url, course.token("kim"))
    released, release = _release_data_and_notebook(kim, tmp_path)
    (release / "p1.ipynb").write_bytes(b'{"cells": ["answered"]}' * 100)
    files = find_files(release, FileRules(), logging.getLogger("test"))
    answered = hashlib.sha256((release / "p1.ipynb").read_bytes()).hexdigest()
    where = (*assignment_path("c1", "ps1"), "submissions")
    with serve(lambda request: forward(request, course.root_url)) as proxy:
        ana, _ = client_for(proxy.url, course.token("ana"))
        known = {entry.sha256 for entry in released}
        answer, manifest = submit_files(ana, files, where, "submit", "key-1", known=known)
    assert answer["released"] == ["data.bin", "p1.ipynb"]
    assert {entry.sha256 for entry in manifest} == {released[0].sha256, answered}
    # One request: no question first, and the data file not sent back.
    assert [(r.method, r.path.rsplit("/", 1)[-1]) for r in proxy.requests] == [
        ("POST", "submissions")
    ]
    assert _bundle_frames(proxy.requests[0].body) == [answered]


def test_a_wrong_guess_is_answered_with_what_is_missing_and_sent_again(
    course: ServerProcess, tmp_path: Path
) -> None:
    kim, _ = client_for(course.url, course.token("kim"))
    released, release = _release_data_and_notebook(kim, tmp_path)
    (release / "extra.bin").write_bytes(os.urandom(5000))
    files = find_files(release, FileRules(), logging.getLogger("test"))
    extra = hashlib.sha256((release / "extra.bin").read_bytes()).hexdigest()
    where = (*assignment_path("c1", "ps1"), "submissions")
    answers: list[Response] = []

    def forward_and_keep(request: Request) -> Response:
        answers.append(forward(request, course.root_url))
        return answers[-1]

    with serve(forward_and_keep) as proxy:
        ana, _ = client_for(proxy.url, course.token("ana"))
        # Ana believes the server holds extra.bin, which nobody ever sent.
        answer, _ = submit_files(
            ana, files, where, "submit", "key-2", known={e.sha256 for e in released} | {extra}
        )
    first, second = proxy.requests
    assert first.headers["Idempotency-Key"] == second.headers["Idempotency-Key"] == "key-2"
    assert answers[0].status == 409 and json.loads(answers[0].body)["missing"] == [extra]
    assert _bundle_frames(first.body) == []
    assert _bundle_frames(second.body) == [extra]
    listed = kim.get("submissions", "c1", "ps1", what="list")["submissions"]
    assert [s["timestamp"] for s in listed] == [local_timestamp(answer["timestamp"])]


def test_without_a_record_a_submit_asks_what_is_missing_first(
    course: ServerProcess, tmp_path: Path
) -> None:
    kim, _ = client_for(course.url, course.token("kim"))
    _, release = _release_data_and_notebook(kim, tmp_path)
    files = find_files(release, FileRules(), logging.getLogger("test"))
    where = (*assignment_path("c1", "ps1"), "submissions")
    with serve(lambda request: forward(request, course.root_url)) as proxy:
        ana, _ = client_for(proxy.url, course.token("ana"))
        submit_files(ana, files, where, "submit", "key-3")
    assert [r.path.rsplit("/", 1)[-1] for r in proxy.requests] == ["missing", "submissions"]
    assert _bundle_frames(proxy.requests[1].body) == []


def test_the_record_of_known_content_survives_only_what_it_can(tmp_path: Path) -> None:
    record = KnownContent(tmp_path, "http://hub/services/ngshare/", "c 1", "ps/1")
    assert record.load() == []
    a, b, c = (hashlib.sha256(x).hexdigest() for x in (b"a", b"b", b"c"))
    record.remember([a, b])
    record.remember([c, a])
    assert record.load() == [b, c, a]
    # Another server or assignment has its own record.
    assert KnownContent(tmp_path, "http://other/", "c 1", "ps/1").load() == []
    assert KnownContent(tmp_path, "http://hub/services/ngshare/", "c 1", "ps2").load() == []
    record.path.write_text(json.dumps({"sha256": ["not a hash", a]}))
    assert record.load() == [a]
    record.path.write_text("{broken")
    assert record.load() == []
