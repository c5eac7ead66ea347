"""The simulated users of a deadline rush, one client class per API.

:class:`V1Client` makes the requests ngshare-exchange 0.5.3 makes, the way it
makes them: ``requests.request`` without a session (so a new connection per
request), form-encoded fields, a ``files`` field holding a JSON list of
``{path, content}`` in base64, the ``user`` field it always adds to uploads,
and the ``Authorization: token`` header. Against a stand-alone ngshare 0.6
(vngshare) the user is named by the ``user`` argument instead of a token.

:class:`V2Client` speaks the project's own API as the exchange plugin does:
one keep-alive session per user, a local content cache keyed by sha256 (the
files a user already has on disk); a fetch is one request (the release as a
bundle: manifest and content), a submit one (a bundle of the manifest and
the blobs the user does not know the server holds, gzip-encoded when they
look like text; a 409 naming what the server lacks sends those too, and
without anything known the server is asked first, ``blobs/missing``); a
collect lists the latest submissions and downloads, in one streamed request,
only blobs absent from the cache.

Every operation checks what came back and raises :class:`BenchmarkError` on
any failure or any byte that differs: a benchmark of a wrong answer is void.
"""

from __future__ import annotations

import base64
import hashlib
import json
import threading
import time
import uuid
import zlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import quote, urlencode

import requests

from ngshare.protocol import blob_frames

FORM = "application/x-www-form-urlencoded"
SNIFF_BYTES = 8192


class BenchmarkError(RuntimeError):
    """A request failed or returned the wrong content."""


@dataclass
class Meter:
    """Requests and bytes on the wire (bodies only), shared by all client threads."""

    requests: int = 0
    bytes_up: int = 0
    bytes_down: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def count(self, up: int, down: int) -> None:
        with self.lock:
            self.requests += 1
            self.bytes_up += up
            self.bytes_down += down


def exchange(
    session: requests.Session, meter: Meter, method: str, url: str, **kwargs: Any
) -> tuple[requests.Response, bytes]:
    """Send a request; return the response and its decoded body, counting wire bytes.

    The body is read undecoded and gunzipped here, because urllib3 does not
    count the bytes of chunked responses it decodes itself.
    """
    parts: list[bytes] = []
    response, refusal = exchange_streamed(session, meter, method, url, parts.append, **kwargs)
    raw = b"".join(parts) if response.ok else refusal
    encoding = response.headers.get("Content-Encoding", "identity").lower()
    if encoding == "gzip":
        return response, zlib.decompress(raw, wbits=31)
    if encoding in ("identity", ""):
        return response, raw
    raise BenchmarkError(f"{method} {url}: unexpected Content-Encoding {encoding}")


def exchange_streamed(
    session: requests.Session,
    meter: Meter,
    method: str,
    url: str,
    consume: Callable[[bytes], None],
    **kwargs: Any,
) -> tuple[requests.Response, bytes]:
    """Send a request, handing a successful body to ``consume`` as it arrives.

    Parsing while the server still sends lets both work at once, as the
    exchange plugin's downloads do. The body of a refusal is returned whole.
    Bytes are counted as they travel (undecoded).
    """
    response = session.request(method, url, stream=True, **kwargs)
    received, refusal = 0, b""
    with response:
        for chunk in response.raw.stream(256 * 1024, decode_content=False):
            received += len(chunk)
            if response.ok:
                consume(chunk)
            else:
                refusal += chunk
    sent = response.request.body
    meter.count(len(sent) if sent is not None else 0, received)
    return response, refusal


class FrameReceiver:
    """Checks each blob of a streamed download and puts it in a client's cache."""

    def __init__(
        self, client: V2Client, parser: blob_frames.FrameParser | blob_frames.BundleParser
    ) -> None:
        self.client = client
        self.parser = parser
        self.head: dict[str, Any] | None = None
        self.parts: list[bytes] = []

    def consume(self, chunk: bytes) -> None:
        for event in self.parser.feed(chunk):
            if isinstance(event, blob_frames.FrameData):
                self.parts.append(event.data)
            elif isinstance(event, blob_frames.FrameEnd):
                data, self.parts = b"".join(self.parts), []
                digest = event.header.sha256
                if hashlib.sha256(data).hexdigest() != digest:
                    raise BenchmarkError(f"Blob {digest} came back with other content")
                self.client.remember(digest, data)
            elif isinstance(event, blob_frames.BundleHead):
                self.head = event.fields


@dataclass
class Collected:
    """One student's latest submission as the instructor received it."""

    student: str
    timestamp: str
    files: dict[str, bytes]
    seconds: float


def form_body(fields: Mapping[str, str]) -> bytes:
    """Form-encode fields exactly as requests does for ``data=dict``."""
    return urlencode(list(fields.items()), doseq=True).encode("ascii")


def encoded_files(files: Mapping[str, bytes]) -> str:
    """The ``files`` field of ngshare-exchange 0.5.3's ``encode_dir``."""
    return json.dumps(
        [{"path": path, "content": base64.b64encode(data).decode()} for path, data in files.items()]
    )


def check_files(what: str, got: Mapping[str, bytes], expected: Mapping[str, bytes]) -> None:
    if set(got) != set(expected):
        raise BenchmarkError(f"{what}: got files {sorted(got)}, expected {sorted(expected)}")
    for path, data in expected.items():
        if got[path] != data:
            raise BenchmarkError(
                f"{what}: {path} differs ({len(got[path])} bytes, expected {len(data)})"
            )


def parse_v1_timestamp(text: str) -> datetime:
    for pattern in ("%Y-%m-%d %H:%M:%S.%f %Z", "%Y-%m-%d %H:%M:%S.%f"):
        try:
            return datetime.strptime(text, pattern)
        except ValueError:
            continue
    raise BenchmarkError(f"Unparseable v1 timestamp {text!r}")


class V1Client:
    """One user of the v1 API, requesting as ngshare-exchange 0.5.3 does."""

    def __init__(
        self,
        base_url: str,
        user: str,
        meter: Meter,
        *,
        token: str | None = None,
        user_argument: bool = False,
        timeout: float = 600,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.user = user
        self.meter = meter
        self.token = token
        # vngshare (ngshare 0.6 stand-alone) takes the user from this argument.
        self.user_argument = user_argument
        self.timeout = timeout

    def _call(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, str] | None = None,
        fields: Mapping[str, str] | None = None,
        body: bytes | None = None,
    ) -> dict[str, Any]:
        headers: dict[str, str] = {}
        if self.token is not None:
            headers["Authorization"] = f"token {self.token}"
        if self.user_argument and method != "POST":
            params = {**(params or {}), "user": self.user}
        if fields is not None:
            fields = {"user": self.user, **fields} if self.user_argument else dict(fields)
            body = form_body(fields)
        if body is not None:
            headers["Content-Type"] = FORM
        url = self.base_url + quote(path, safe="/")
        # As requests.request does: a new session, so a new connection, per request.
        with requests.Session() as session:
            session.trust_env = False  # as for the own API's client: loopback, no proxies
            response, content = exchange(
                session,
                self.meter,
                method,
                url,
                headers=headers,
                params=params,
                data=body,
                timeout=self.timeout,
            )
        try:
            reply = json.loads(content)
        except ValueError:
            reply = None
        if response.status_code != 200 or not isinstance(reply, dict) or not reply.get("success"):
            detail = reply.get("message") if isinstance(reply, dict) else content[:200]
            raise BenchmarkError(f"{method} {path} as {self.user}: {response.status_code} {detail}")
        return reply

    # -- setup ------------------------------------------------------------------

    def create_course(self, course: str, instructor: str) -> None:
        self._call("POST", f"/course/{course}", fields={"instructors": json.dumps([instructor])})

    def add_students(self, course: str, students: list[str]) -> None:
        roster = [
            {"username": s, "first_name": s, "last_name": "Rush", "email": f"{s}@example.org"}
            for s in students
        ]
        reply = self._call("POST", f"/students/{course}", fields={"students": json.dumps(roster)})
        failed = [s for s in reply.get("status", []) if not s.get("success")]
        if failed:
            raise BenchmarkError(f"Adding students failed: {failed[:3]}")

    # -- the exchange operations ------------------------------------------------------

    def submission_body(self, files: Mapping[str, bytes]) -> bytes:
        """A submit's or release's form body: ``encode_dir``'s fields, encoded.

        Built before the clock starts: form-encoding megabytes of base64 in
        pure Python costs the load generator ~0.1 s per MB, which would make
        it, not the server, the bottleneck. The bytes sent are the same.
        """
        fields = {"user": self.user, "files": encoded_files(files)}
        return form_body(fields)

    def release(self, course: str, assignment: str, body: bytes) -> None:
        names = self._call("GET", f"/assignments/{course}")["assignments"]
        if assignment in names:
            raise BenchmarkError(f"{assignment} is already released in {course}")
        self._call("POST", f"/assignment/{course}/{assignment}", body=body)

    def fetch(self, course: str, assignment: str) -> dict[str, bytes]:
        reply = self._call("GET", f"/assignment/{course}/{assignment}")
        return {f["path"]: base64.b64decode(f["content"]) for f in reply["files"]}

    def submit(self, course: str, assignment: str, body: bytes) -> str:
        # 0.5.3 lists the released notebooks first, to warn about missing ones.
        self._call("GET", f"/assignment/{course}/{assignment}", params={"list_only": "true"})
        reply = self._call("POST", f"/submission/{course}/{assignment}", body=body)
        return str(reply["timestamp"])

    def list_latest(self, course: str, assignment: str) -> dict[str, str]:
        """Each student's latest submission timestamp, as 0.5.3's collect picks it."""
        records = self._call("GET", f"/submissions/{course}/{assignment}")["submissions"]
        latest: dict[str, str] = {}
        for record in records:
            student, stamp = record["student_id"], record["timestamp"]
            known = latest.get(student)
            if known is None or parse_v1_timestamp(stamp) > parse_v1_timestamp(known):
                latest[student] = stamp
        return latest

    def download_submission(self, course: str, assignment: str, student: str) -> Collected:
        start = time.perf_counter()
        reply = self._call("GET", f"/submission/{course}/{assignment}/{student}")
        files = {f["path"]: base64.b64decode(f["content"]) for f in reply["files"]}
        return Collected(student, str(reply["timestamp"]), files, time.perf_counter() - start)


@dataclass(frozen=True)
class PreparedUpload:
    """Files to upload, hashed, with the frame each would travel in."""

    files: dict[str, bytes]
    manifest: list[dict[str, Any]]
    frames: dict[str, bytes]  # sha256 -> encoded frame


class V2Client:
    """One user of the own API (``api/v2/``), with a local content cache."""

    def __init__(
        self,
        base_url: str,
        user: str,
        token: str,
        meter: Meter,
        *,
        gzip_uploads: bool = True,
        timeout: float = 600,
    ) -> None:
        self.base_url = base_url.rstrip("/") + "/api/v2/"
        self.user = user
        self.meter = meter
        self.gzip_uploads = gzip_uploads
        self.timeout = timeout
        self.session = requests.Session()
        # Loopback only: no proxy settings to look up in the environment on
        # every request (a real cost to a load generator making thousands).
        self.session.trust_env = False
        self.session.headers["Authorization"] = f"token {token}"
        # sha256 -> content: what this user already holds on disk.
        self.cache: dict[str, bytes] = {}
        self.cache_lock = threading.Lock()
        # What this user fetched or submitted: content the server holds for
        # them (the plugin's record, ngshare.exchange.known_content).
        self.known: set[str] = set()

    def close(self) -> None:
        self.session.close()

    def url(self, *parts: str) -> str:
        return self.base_url + "/".join(quote(p, safe="") for p in parts)

    def _call(self, method: str, *parts: str, expect: int = 200, **kwargs: Any) -> bytes:
        kwargs.setdefault("timeout", self.timeout)
        response, body = exchange(self.session, self.meter, method, self.url(*parts), **kwargs)
        if response.status_code != expect:
            raise BenchmarkError(
                f"{method} {'/'.join(parts)} as {self.user}: {response.status_code} {body[:200]!r}"
            )
        return body

    def _json(self, method: str, *parts: str, expect: int = 200, **kwargs: Any) -> dict[str, Any]:
        reply = json.loads(self._call(method, *parts, expect=expect, **kwargs))
        if not isinstance(reply, dict) or not reply.get("success"):
            raise BenchmarkError(f"{method} {'/'.join(parts)}: {reply!r:.200}")
        return reply

    # -- blobs ------------------------------------------------------------------

    def prepare_upload(self, files: Mapping[str, bytes]) -> PreparedUpload:
        """Hash the files and encode each one's frame: the client's own work.

        The rush builds these before the clock starts, as it does the v1 form
        bodies: in a real rush every student's server hashes and compresses
        on its own core, while this one load generator would do it for all.
        """
        manifest, frames = [], {}
        for path, data in files.items():
            digest = hashlib.sha256(data).hexdigest()
            manifest.append({"path": path, "sha256": digest, "size": len(data)})
            frames[digest] = blob_frames.encode_frame(digest, data, compress=self.gzip_uploads)
        return PreparedUpload(dict(files), manifest, frames)

    def upload(self, prepared: PreparedUpload) -> list[dict[str, Any]]:
        """Upload what the server lacks; return the manifest of the files."""
        missing = self.missing(prepared)
        if missing:
            # Every missing blob in one request, as frames.
            body = b"".join(prepared.frames[digest] for digest in missing)
            headers = {"Content-Type": blob_frames.CONTENT_TYPE}
            self._json("POST", "blobs", expect=201, data=body, headers=headers)
        self._remember_all(prepared)
        return prepared.manifest

    def missing(self, prepared: PreparedUpload) -> list[str]:
        reply = self._json("POST", "blobs", "missing", json={"sha256": sorted(prepared.frames)})
        return list(reply["missing"])

    def _remember_all(self, prepared: PreparedUpload) -> None:
        for entry in prepared.manifest:
            self.remember(entry["sha256"], prepared.files[entry["path"]])

    def remember(self, digest: str, data: bytes) -> None:
        with self.cache_lock:
            self.cache[digest] = data

    def _cached(self, digest: str) -> bytes | None:
        with self.cache_lock:
            return self.cache.get(digest)

    def materialize(self, manifest: list[dict[str, Any]]) -> dict[str, bytes]:
        """The files of a manifest: from the cache, the rest in one download (checked)."""
        absent = list(
            dict.fromkeys(e["sha256"] for e in manifest if self._cached(e["sha256"]) is None)
        )
        if absent:
            receiver = FrameReceiver(self, blob_frames.FrameParser(max_size=2**40))
            url = self.url("blobs", "download")
            response, refusal = exchange_streamed(
                self.session,
                self.meter,
                "POST",
                url,
                receiver.consume,
                json={"sha256": absent, "gzip": True},
                timeout=self.timeout,
            )
            if response.status_code != 200:
                raise BenchmarkError(
                    f"POST blobs/download as {self.user}: {response.status_code} {refusal[:200]!r}"
                )
            receiver.parser.close()
        return self.cached_files(manifest)

    def cached_files(self, manifest: list[dict[str, Any]]) -> dict[str, bytes]:
        files: dict[str, bytes] = {}
        for entry in manifest:
            data = self._cached(entry["sha256"])
            if data is None or len(data) != entry["size"]:
                raise BenchmarkError(f"Blob {entry['sha256']} did not come back")
            files[entry["path"]] = data
        return files

    # -- the exchange operations ------------------------------------------------------

    def release(self, course: str, assignment: str, files: Mapping[str, bytes]) -> None:
        manifest = self.upload(self.prepare_upload(files))
        path = ("courses", course, "assignments", assignment)
        self._json("PUT", *path, expect=201, json={"files": manifest})

    def fetch(self, course: str, assignment: str) -> dict[str, bytes]:
        """The release as one bundle: its manifest, then every blob of it."""
        receiver = FrameReceiver(self, blob_frames.BundleParser(max_size=2**40))
        url = self.url("courses", course, "assignments", assignment)
        response, refusal = exchange_streamed(
            self.session,
            self.meter,
            "GET",
            url,
            receiver.consume,
            headers={"Accept": blob_frames.BUNDLE_CONTENT_TYPE, "Accept-Encoding": "gzip"},
            timeout=self.timeout,
        )
        if response.status_code != 200:
            raise BenchmarkError(
                f"GET {url} as {self.user}: {response.status_code} {refusal[:200]!r}"
            )
        receiver.parser.close()
        if receiver.head is None or not receiver.head.get("success"):
            raise BenchmarkError(f"GET {url}: bad bundle head {receiver.head!r:.200}")
        files = receiver.head["files"]
        self.known.update(entry["sha256"] for entry in files)
        return self.cached_files(files)

    def submit(self, course: str, assignment: str, prepared: PreparedUpload) -> str:
        """One bundle: the manifest and the blobs not known to be on the server.

        Its answer names the student, which the plugin files its local copy
        under: no question about the token first.
        """
        if self.known:
            to_send = [digest for digest in prepared.frames if digest not in self.known]
        else:
            to_send = self.missing(prepared)
        head = blob_frames.bundle_head({"files": prepared.manifest})
        path = ("courses", course, "assignments", assignment, "submissions")
        headers = {
            "Content-Type": blob_frames.BUNDLE_CONTENT_TYPE,
            "Idempotency-Key": uuid.uuid4().hex,
        }

        def send(hashes: list[str]) -> tuple[requests.Response, bytes]:
            body = head + b"".join(prepared.frames[digest] for digest in hashes)
            return exchange(
                self.session,
                self.meter,
                "POST",
                self.url(*path),
                data=body,
                headers=headers,
                timeout=self.timeout,
            )

        response, answer = send(to_send)
        if response.status_code == 409 and self.known:
            lacking = json.loads(answer).get("missing", [])
            response, answer = send(list(dict.fromkeys([*to_send, *lacking])))
        reply = json.loads(answer) if response.status_code == 201 else None
        if not isinstance(reply, dict) or not reply.get("success"):
            raise BenchmarkError(
                f"POST {'/'.join(path)} as {self.user}: {response.status_code} {answer[:200]!r}"
            )
        self._remember_all(prepared)
        self.known.update(prepared.frames)
        return str(reply["timestamp"])

    def list_latest(self, course: str, assignment: str) -> list[dict[str, Any]]:
        """Every student's latest submission with its manifest, in one request."""
        path = ("courses", course, "assignments", assignment, "submissions")
        return list(self._json("GET", *path, params={"latest": "true"})["submissions"])

    def download_submission(self, record: dict[str, Any]) -> Collected:
        start = time.perf_counter()
        files = self.materialize(record["files"])
        return Collected(record["student"], record["timestamp"], files, time.perf_counter() - start)

    def download_all(self, records: list[dict[str, Any]]) -> list[Collected]:
        """Every submission in one download, as the exchange plugin collects.

        Each student's files are there when that one download ends, so that
        is the time recorded for each.
        """
        start = time.perf_counter()
        self.materialize([entry for record in records for entry in record["files"]])
        seconds = time.perf_counter() - start
        return [
            Collected(r["student"], r["timestamp"], self.materialize(r["files"]), seconds)
            for r in records
        ]
