"""The client core (``ngshare.client``) that the plugin and ngsharectl share.

Tested against a real ngshare process (for real messages, idempotent
submits, transfers) and against small fake servers that fail on purpose
(503s, redirects, HTML, silence, a proxy that loses a response). Messages are
checked as the plugin's users read them: with the plugin's words for its
settings (``ngshare.exchange.settings.SOURCES``).
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
from server_process import ServerProcess, free_port

from ngshare.client import api
from ngshare.client.connection import Connection
from ngshare.client.downloads import DIRECT_DOWNLOAD_SIZE, LocalContent, download_blobs
from ngshare.client.errors import (
    ClientError,
    NotFound,
    OldServer,
    ServerUnreachable,
    WrongService,
)
from ngshare.client.manifests import LocalFile, ManifestFile, parse_manifest
from ngshare.client.uploads import submit_bundle, upload_blobs
from ngshare.exchange.settings import SOURCES
from ngshare.protocol import blob_frames

OK_COURSES = Response(200, b'{"success": true, "courses": []}')


def client_for(
    url: str, token: str | None = None, **options: object
) -> tuple[Connection, list[float]]:
    """A connection that records its backoff delays instead of sleeping."""
    delays: list[float] = []
    options.setdefault("retries", 3)
    client = Connection(
        url,
        token or "unchecked",
        sources=SOURCES,
        sleep=delays.append,
        **options,  # type: ignore[arg-type]
    )
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


def files_in(root: Path) -> list[LocalFile]:
    return [
        LocalFile(p.relative_to(root).as_posix(), p) for p in sorted(root.rglob("*")) if p.is_file()
    ]


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
        with pytest.raises(ServerUnreachable, match=r"HTTP 504 from GET") as caught:
            client.get("courses", what="list courses")
    assert len(fake.requests) == 3
    assert len(delays) == 2
    assert caught.value.status == 504


def test_a_post_that_is_not_idempotent_is_not_retried_on_503() -> None:
    with serve(lambda request: Response(503, b'{"success": false, "message": "busy"}')) as fake:
        client, delays = client_for(fake.url)
        with pytest.raises(ClientError, match="Could not release it: busy"):
            client.post_form("assignment", "c", "a", data={"files": "[]"}, what="release it")
    assert len(fake.requests) == 1
    assert delays == []


def test_connection_refused_is_retried_then_explained() -> None:
    url = f"http://127.0.0.1:{free_port()}/services/ngshare/"
    client, delays = client_for(url, retries=2)
    with pytest.raises(ServerUnreachable) as caught:
        # Even a POST may be resent when the connection was never made.
        client.post_form("assignment", "c", "a", data={"files": "[]"}, what="release it")
    message = str(caught.value)
    assert "cannot reach ngshare at " + url in message
    assert "connection refused" in message
    assert "NGSHARE_URL" in message
    assert caught.value.explanation == f"{url} refused the connection"
    assert len(delays) == 2


def test_every_request_has_a_timeout() -> None:
    def never_answers(request: Request) -> Response:
        time.sleep(3)
        return OK_COURSES

    with serve(never_answers) as fake:
        client, _ = client_for(fake.url, timeout=0.3, retries=1)
        started = time.monotonic()
        with pytest.raises(ClientError, match="timed out"):
            client.get("courses", what="list courses")
        assert time.monotonic() - started < 2.5
    assert len(fake.requests) == 2


def test_a_read_that_timed_out_is_not_resent_when_asked_not_to() -> None:
    """ngsharectl's choice: a slow server is not asked again."""

    def never_answers(request: Request) -> Response:
        time.sleep(2)
        return OK_COURSES

    with serve(never_answers) as fake:
        client, delays = client_for(fake.url, timeout=0.3, retries=2, retry_read_timeouts=False)
        with pytest.raises(ServerUnreachable, match="timed out"):
            client.get("courses", what="list courses")
    assert len(fake.requests) == 1
    assert delays == []


def test_a_redirect_to_the_login_page_is_reported_as_a_token_problem() -> None:
    login = Response(302, b"", {"Location": "/hub/login?next=/services/ngshare/courses"})
    with serve(lambda request: login) as fake:
        client, _ = client_for(fake.url)
        with pytest.raises(ClientError, match="JUPYTERHUB_API_TOKEN") as caught:
            client.get("courses", what="list courses")
    assert "/hub/login" in str(caught.value)


def test_a_non_json_answer_points_at_the_url() -> None:
    page = Response(200, b"<html>JupyterHub</html>", {"Content-Type": "text/html"})
    with serve(lambda request: page) as fake:
        client, _ = client_for(fake.url)
        with pytest.raises(
            ClientError, match=r"did not answer with ngshare's JSON.*Is NGSHARE_URL"
        ):
            client.get("courses", what="list courses")


def test_a_missing_own_api_on_something_else_than_ngshare_points_at_the_url() -> None:
    """Only a server whose health check is ngshare's is called an old ngshare."""
    page = Response(404, b"<h1>404 Not Found</h1>", {"Content-Type": "text/html"})
    with serve(lambda request: page) as fake:
        client, _ = client_for(fake.url)
        with pytest.raises(WrongService) as caught:
            api.courses(client)
    assert not isinstance(caught.value, OldServer)
    assert "Is NGSHARE_URL (or the url given to configure_exchange) the address" in str(
        caught.value
    )
    assert [r.path.rsplit("/", 1)[-1] for r in fake.requests] == ["courses", "healthz"]


def test_server_messages_are_carried_not_swallowed(course: ServerProcess) -> None:
    client, _ = client_for(course.url, course.token("ana"))
    with pytest.raises(NotFound) as caught:
        api.release_manifest(client, "c1", "nope", what="fetch assignment 'nope'")
    assert caught.value.status == 404
    assert caught.value.server_message == "Assignment not found"
    assert str(caught.value).startswith("Could not fetch assignment 'nope': Assignment not found")

    with pytest.raises(ClientError, match=r"Invalid or expired token.*JUPYTERHUB_API_TOKEN"):
        api.courses(client_for(course.url, "wrong")[0])


def test_names_are_quoted_in_urls(course: ServerProcess) -> None:
    admin, _ = client_for(course.url, course.token("admin"))
    admin.post_form("course", "physics 101 ü", data={"instructors": '["zoë"]'}, what="create")
    zoe, _ = client_for(course.url, course.token("zoë"))
    assert api.courses(zoe) == ["physics 101 ü"]
    assert api.assignments(zoe, "physics 101 ü") == []


def test_large_transfers_log_progress(
    course: ServerProcess, caplog: pytest.LogCaptureFixture
) -> None:
    kim, _ = client_for(course.url, course.token("kim"), log=logging.getLogger("progress"))
    big = os.urandom(7 * 1024 * 1024)  # base64 and form encoding make it > 8 MB
    with caplog.at_level(logging.INFO, logger="progress"):
        kim.post_form("assignment", "c1", "big", data={"files": tree(("big.bin", big))}, what="up")
        files = kim.get("assignment", "c1", "big", what="down")["files"]
    assert base64.b64decode(files[0]["content"]) == big
    messages = [r.getMessage() for r in caplog.records]
    assert any(m.startswith("up: uploading ") for m in messages), messages
    assert any(m.startswith("up: uploaded 50% of") for m in messages), messages
    assert any(m.startswith("up: uploaded 100% of") for m in messages), messages
    assert any(m.startswith("down: downloaded 100% of") for m in messages), messages


# -- idempotent submit through a proxy that loses the first response ----------------------


def test_a_retried_submit_creates_one_submission(course: ServerProcess, tmp_path: Path) -> None:
    kim, _ = client_for(course.url, course.token("kim"))
    kim.post_form("assignment", "c1", "ps1", data={"files": tree(("a.txt", b"x"))}, what="release")
    work = tmp_path / "work"
    work.mkdir()
    (work / "a.txt").write_bytes(b"mine")
    first: list[Response] = []

    def lose_first_submit_response(request: Request) -> Response:
        response = forward(request, course.root_url)
        if request.path.endswith("/submissions") and not first:
            first.append(response)
            return Response(502, b"<html>502 Bad Gateway</html>")
        return response

    with serve(lose_first_submit_response) as proxy:
        ana, delays = client_for(proxy.url, course.token("ana"))
        key = ana.new_idempotency_key()
        answer, _ = submit_bundle(
            ana, files_in(work), "c1", "ps1", what="submit", idempotency_key=key
        )
    posts = [r for r in proxy.requests if r.path.endswith("/submissions")]
    assert len(posts) == 2
    assert {r.headers["Idempotency-Key"] for r in posts} == {key}
    assert delays == [0.5]
    # The retry got the first attempt's timestamp, and only one submission exists.
    assert answer["timestamp"] == json.loads(first[0].body)["timestamp"]
    listed = api.submissions(kim, "c1", "ps1")
    assert [(s.student, s.timestamp) for s in listed] == [
        ("ana", api.server_time(answer["timestamp"], "check"))
    ]


# -- files ----------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["../evil", "/etc/passwd", "a/../../b", "a//b", ".", ""])
def test_unsafe_paths_from_the_server_are_refused(path: str) -> None:
    entry = {"path": path, "sha256": "0" * 64, "size": 1}
    with pytest.raises(ClientError, match="unsafe path"):
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
        with pytest.raises(ClientError, match=r"a\.txt arrived corrupted"):
            download_blobs(client, wanted, "fetch")
    with serve(lambda request: frames_response()) as fake:
        client, _ = client_for(fake.url)
        with pytest.raises(ClientError, match="lacks 1 file"):
            download_blobs(client, wanted, "fetch")
    with serve(lambda request: Response(200, b"not frames")) as fake:
        client, _ = client_for(fake.url)
        with pytest.raises(ClientError, match="answer is broken"):
            download_blobs(client, wanted, "fetch")


def test_large_files_come_alone_and_a_redirect_never_gets_the_token(tmp_path: Path) -> None:
    """A large file is one GET; its redirect (a presigned URL) is followed without the token.

    The redirect here stays on the same host and port, where requests itself
    would keep the Authorization header: the client drops it all the same.
    """
    content = os.urandom(DIRECT_DOWNLOAD_SIZE)
    digest = hashlib.sha256(content).hexdigest()

    def respond(request: Request) -> Response:
        if request.path.startswith("/store/"):
            return Response(200, content, {"Content-Type": "application/octet-stream"})
        return Response(307, b"", {"Location": f"/store/{digest}?X-Amz-Signature=abc"})

    target = tmp_path / "fetched" / "data.bin"
    with serve(respond) as fake:
        client, _ = client_for(fake.url, "secret-token")
        download_blobs(client, [(target, ManifestFile("data.bin", digest, len(content)))], "fetch")
    assert target.read_bytes() == content
    asked, fetched = fake.requests
    assert (asked.method, asked.path) == ("GET", f"/services/ngshare/api/v2/blobs/{digest}")
    assert asked.headers["Authorization"] == "token secret-token"
    assert fetched.path == f"/store/{digest}?X-Amz-Signature=abc"
    assert "authorization" not in {name.lower() for name in fetched.headers}


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
        files = files_in(release)
        first = upload_blobs(kim, files, "release")
        assert upload_blobs(kim, files, "release again") == first
        uploads = [r for r in proxy.requests if r.path.endswith("/api/v2/blobs")]
        # Sent once; the second time the server had both.
        assert len(uploads) == 1
        assert len(uploads[0].body) < len(data) + len(notebook) / 5  # the notebook compressed

        api.release(kim, "c1", "ps1", first, replace=False, what="release")
        ana, _ = client_for(proxy.url, course.token("ana"))
        target = tmp_path / "fetched"
        local = tmp_path / "local"
        local.mkdir()
        (local / "same-data.bin").write_bytes(data)
        # Two files with the same content: it comes once.
        twice = [*first, ManifestFile("copy.ipynb", first[1].sha256, first[1].size)]
        placements = [(target / entry.path, entry) for entry in twice]
        download_blobs(ana, placements, "fetch", LocalContent([local]))
    assert (target / "data.bin").read_bytes() == data
    assert (target / "p1.ipynb").read_bytes() == notebook
    assert (target / "copy.ipynb").read_bytes() == notebook
    downloads = [r for r in proxy.requests if r.path.endswith("/blobs/download")]
    # The data file was copied from the local one: only the notebook was asked for.
    assert [json.loads(r.body)["sha256"] for r in downloads] == [[first[1].sha256]]


def _release_data_and_notebook(kim: Connection, tmp_path: Path) -> tuple[list[ManifestFile], Path]:
    """ps1 of c1 released with a data file and a notebook; returns its manifest and folder."""
    release = tmp_path / "release"
    release.mkdir()
    (release / "data.bin").write_bytes(os.urandom(100_000))
    (release / "p1.ipynb").write_bytes(b'{"cells": []}' * 100)
    manifest = upload_blobs(kim, files_in(release), "release")
    api.release(kim, "c1", "ps1", manifest, replace=False, what="release")
    return manifest, release


def test_more_blobs_than_one_request_may_name_come_in_several(
    course: ServerProcess, tmp_path: Path
) -> None:
    kim, _ = client_for(course.url, course.token("kim"))
    released, release = _release_data_and_notebook(kim, tmp_path)
    seen: list[int] = []
    with serve(lambda request: forward(request, course.root_url)) as proxy:
        ana, _ = client_for(proxy.url, course.token("ana"))
        placements = [(tmp_path / "out" / entry.path, entry) for entry in released]
        download_blobs(ana, placements, "fetch", progress=lambda done, _: seen.append(done), size=1)
    asked = [json.loads(r.body)["sha256"] for r in proxy.requests]
    assert asked == [[released[0].sha256], [released[1].sha256]]
    for entry in released:
        assert (tmp_path / "out" / entry.path).read_bytes() == (release / entry.path).read_bytes()
    # One progress over both requests: it never goes back.
    assert seen == sorted(seen) and seen[-1] > 100_000


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
    answered = hashlib.sha256((release / "p1.ipynb").read_bytes()).hexdigest()
    with serve(lambda request: forward(request, course.root_url)) as proxy:
        ana, _ = client_for(proxy.url, course.token("ana"))
        known = {entry.sha256 for entry in released}
        answer, manifest = submit_bundle(
            ana, files_in(release), "c1", "ps1", what="submit", idempotency_key="key-1", known=known
        )
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
    extra = hashlib.sha256((release / "extra.bin").read_bytes()).hexdigest()
    answers: list[Response] = []

    def forward_and_keep(request: Request) -> Response:
        answers.append(forward(request, course.root_url))
        return answers[-1]

    with serve(forward_and_keep) as proxy:
        ana, _ = client_for(proxy.url, course.token("ana"))
        # Ana believes the server holds extra.bin, which nobody ever sent.
        answer, _ = submit_bundle(
            ana,
            files_in(release),
            "c1",
            "ps1",
            what="submit",
            idempotency_key="key-2",
            known={e.sha256 for e in released} | {extra},
        )
    first, second = proxy.requests
    assert first.headers["Idempotency-Key"] == second.headers["Idempotency-Key"] == "key-2"
    assert answers[0].status == 409 and json.loads(answers[0].body)["missing"] == [extra]
    assert _bundle_frames(first.body) == []
    assert _bundle_frames(second.body) == [extra]
    listed = api.submissions(kim, "c1", "ps1")
    assert [s.timestamp for s in listed] == [api.server_time(answer["timestamp"], "check")]


def test_without_a_record_a_submit_asks_what_is_missing_first(
    course: ServerProcess, tmp_path: Path
) -> None:
    kim, _ = client_for(course.url, course.token("kim"))
    _, release = _release_data_and_notebook(kim, tmp_path)
    with serve(lambda request: forward(request, course.root_url)) as proxy:
        ana, _ = client_for(proxy.url, course.token("ana"))
        submit_bundle(ana, files_in(release), "c1", "ps1", what="submit", idempotency_key="key-3")
    assert [r.path.rsplit("/", 1)[-1] for r in proxy.requests] == ["missing", "submissions"]
    assert _bundle_frames(proxy.requests[1].body) == []
