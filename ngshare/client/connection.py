"""requests, pointed at one ngshare server, authenticated as one user.

One :class:`Connection` per command: a keep-alive session, and a connect and a
read timeout on every request (the read timeout bounds each wait for data, so
a long transfer is fine while data flows). Requests that are safe to repeat
(reads, content-addressed uploads, writes carrying an idempotency key) are
retried with exponential backoff when the server cannot be reached or a proxy
in front of it answers 502/503/504; any other write is resent only when the
first attempt certainly never reached the server. Bodies stream both ways: an
upload is produced in chunks (made anew for each attempt), a download is
handed to a consumer in chunks, and both report progress. A method returns
the decoded JSON of a success or raises a :class:`~ngshare.client.errors.ClientError`;
nothing is swallowed.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any
from urllib.parse import quote, urlencode, urljoin

import requests
from requests.auth import AuthBase

from ngshare import __version__
from ngshare.client.answers import (
    RETRY_STATUSES,
    Answer,
    StreamBroken,
    decode,
    never_sent,
    reason,
    unreachable,
)
from ngshare.client.errors import JSON
from ngshare.client.identity import Identity, parse_identity
from ngshare.client.progress import (
    LARGE_TRANSFER,
    LoggedProgress,
    ProgressCallback,
    UploadBody,
    counted,
)
from ngshare.client.settings import Sources
from ngshare.protocol.api import API_PATH, IDEMPOTENCY_HEADER
from ngshare.protocol.sizes import human_size

#: The own API's path parts below the service URL.
OWN_API = tuple(API_PATH.strip("/").split("/"))
PROBE_TIMEOUT = 10.0
CHUNK_SIZE = 256 * 1024
# Redirects a download may follow (to the blob store's presigned URL).
REDIRECTS = frozenset({302, 303, 307})
#: Takes a successful response's body, in chunks.
Consumer = Callable[[Iterator[bytes]], None]
#: An upload body: bytes, or a function making its chunks (called again for a retry).
Body = bytes | Callable[[], Iterable[bytes]]


class _TokenAuth(AuthBase):
    """``Authorization: token ...``, JupyterHub's form.

    An auth object rather than a plain header: requests replaces a plain
    Authorization header with credentials from ~/.netrc.
    """

    def __init__(self, token: str) -> None:
        self._token = token

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        request.headers["Authorization"] = f"token {self._token}"
        return request


class Connection:
    """One server, one token, one session."""

    def __init__(
        self,
        base_url: str,
        token: str,
        *,
        sources: Sources,
        timeout: float = 120.0,
        connect_timeout: float = 10.0,
        retries: int = 3,
        backoff: float = 0.5,
        retry_read_timeouts: bool = True,
        user_agent: str = f"ngshare-client/{__version__}",
        log: logging.Logger | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.base_url = base_url if base_url.endswith("/") else base_url + "/"
        self.sources = sources
        self.timeout = (connect_timeout, timeout)
        self.retries = max(0, retries)
        self.backoff = backoff
        # A server that is merely slow may not be worth asking again: that
        # multiplies the wait (and its load) by the retries.
        self.retry_read_timeouts = retry_read_timeouts
        self.log = log or logging.getLogger(__name__)
        self._sleep = sleep
        self.session = requests.Session()
        self.session.auth = _TokenAuth(token)
        self.session.headers["Accept"] = "application/json"
        self.session.headers["User-Agent"] = user_agent
        self._identity: Identity | None = None

    def url(self, *parts: str) -> str:
        """The URL of an API path; each part is quoted (names may hold spaces, unicode)."""
        return self.base_url + "/".join(quote(part, safe="") for part in parts)

    def close(self) -> None:
        self.session.close()

    def __enter__(self) -> Connection:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @staticmethod
    def new_idempotency_key() -> str:
        return uuid.uuid4().hex

    def identity(self) -> Identity:
        """Who the token stands for (``GET api/v2/user``), asked once per connection."""
        if self._identity is None:
            what = "ask ngshare whose API token this is"
            self._identity = parse_identity(self.get(*OWN_API, "user", what=what), what)
        return self._identity

    @property
    def known_identity(self) -> Identity | None:
        """The identity if it was asked for already (no request)."""
        return self._identity

    # -- the verbs -------------------------------------------------------------

    def get(
        self,
        *parts: str,
        what: str,
        who_may: str | None = None,
        params: Mapping[str, str] | None = None,
    ) -> JSON:
        return self.request("GET", parts, what=what, who_may=who_may, params=params, retry=True)

    def delete(self, *parts: str, what: str, who_may: str | None = None) -> JSON:
        # Idempotent in HTTP terms, but a retry after a lost response would
        # report "not found" for what the first attempt deleted: only resent
        # when the first attempt cannot have arrived.
        return self.request("DELETE", parts, what=what, who_may=who_may, retry=False)

    def post_form(
        self,
        *parts: str,
        data: Mapping[str, str],
        what: str,
        who_may: str | None = None,
        retry: bool = False,
    ) -> JSON:
        """POST form fields (the v1 API); ``retry`` only for requests safe to repeat."""
        return self.request(
            "POST",
            parts,
            what=what,
            who_may=who_may,
            body=urlencode(data).encode("ascii"),
            headers={"Content-Type": "application/x-www-form-urlencoded"},
            retry=retry,
        )

    def send_json(
        self,
        method: str,
        *parts: str,
        body: Any,
        what: str,
        who_may: str | None = None,
        params: Mapping[str, str] | None = None,
        retry: bool = False,
    ) -> JSON:
        """A JSON body (the own API); ``retry`` only for requests safe to repeat."""
        return self.request(
            method,
            parts,
            what=what,
            who_may=who_may,
            params=params,
            body=json.dumps(body).encode("utf-8"),
            headers={"Content-Type": "application/json"},
            retry=retry,
        )

    def upload_stream(
        self,
        *parts: str,
        body: Callable[[], Iterable[bytes]],
        content_type: str,
        what: str,
        who_may: str | None = None,
        idempotency_key: str | None = None,
        progress: ProgressCallback | None = None,
    ) -> JSON:
        """POST a body produced in chunks (made anew for each attempt); retried.

        Only for uploads that are safe to repeat: content-addressed blobs, or
        a submission carrying its idempotency key.
        """
        headers = {"Content-Type": content_type}
        if idempotency_key:
            headers[IDEMPOTENCY_HEADER] = idempotency_key
        return self.request(
            "POST",
            parts,
            what=what,
            who_may=who_may,
            body=body,
            headers=headers,
            retry=True,
            progress=progress,
        )

    def download(
        self,
        method: str,
        *parts: str,
        consume: Consumer,
        what: str,
        who_may: str | None = None,
        accept: str = "application/json",
        json_body: Any = None,
        progress: ProgressCallback | None = None,
        follow_redirects: bool = False,
    ) -> None:
        """A read whose successful body goes to ``consume`` in chunks (a POST with ``json_body``).

        ``consume`` must cope with being called again from the start when a
        broken transfer is retried. Refusals are JSON, decoded as for any request.
        With ``follow_redirects``, a redirect (a blob store's presigned URL) is
        followed, without the token.
        """
        headers = {"Accept": accept, "Accept-Encoding": "gzip"}
        body = None
        if json_body is not None:
            headers["Content-Type"] = "application/json"
            body = json.dumps(json_body).encode("utf-8")
        self.request(
            method,
            parts,
            what=what,
            who_may=who_may,
            body=body,
            headers=headers,
            retry=True,
            consume=consume,
            progress=progress,
            follow_redirects=follow_redirects,
        )

    # -- the machinery -----------------------------------------------------------

    def request(
        self,
        method: str,
        parts: tuple[str, ...],
        *,
        what: str,
        retry: bool,
        who_may: str | None = None,
        params: Mapping[str, str] | None = None,
        body: Body | None = None,
        headers: Mapping[str, str] | None = None,
        consume: Consumer | None = None,
        progress: ProgressCallback | None = None,
        follow_redirects: bool = False,
    ) -> JSON:
        """Send one API request (retrying when allowed) and return its JSON body.

        ``what`` says what the request is for ("list the students of 'c1'"),
        to begin error messages; ``who_may`` who may do it, said when the
        server refuses permission. With ``consume``, a successful response's
        body goes there in chunks instead (and an empty object is returned).
        """
        url = self.url(*parts)
        attempt = 0
        while True:
            try:
                answer = self._send(
                    method, url, params, body, headers, what, consume, progress, follow_redirects
                )
            except (requests.RequestException, StreamBroken) as error:
                if attempt < self.retries and self._may_resend(error, retry):
                    attempt += 1
                    self._wait(attempt, what, f"cannot reach the server ({reason(error)})")
                    continue
                raise unreachable(error, what, self.base_url, self.timeout, self.sources) from None
            if answer.status in RETRY_STATUSES and retry and attempt < self.retries:
                attempt += 1
                self._wait(attempt, what, f"the server answered HTTP {answer.status}")
                continue
            if consume is not None and answer.status == 200:
                return {}
            return self.decode(parts, f"{method} {url}", answer, what=what, who_may=who_may)

    def _may_resend(self, error: requests.RequestException | StreamBroken, retry: bool) -> bool:
        if isinstance(error, requests.ReadTimeout):
            return retry and self.retry_read_timeouts
        return retry or never_sent(error)

    def _wait(self, attempt: int, what: str, reason: str) -> None:
        delay = self.backoff * 2 ** (attempt - 1)
        self.log.warning(
            "Could not %s: %s; retrying in %.1f s (attempt %d of %d)",
            what,
            reason,
            delay,
            attempt + 1,
            self.retries + 1,
        )
        self._sleep(delay)

    def _send(
        self,
        method: str,
        url: str,
        params: Mapping[str, str] | None,
        payload: Body | None,
        headers: Mapping[str, str] | None,
        what: str,
        consume: Consumer | None,
        progress: ProgressCallback | None,
        follow_redirects: bool = False,
    ) -> Answer:
        data: bytes | UploadBody | Iterable[bytes] | None
        if callable(payload):
            data = counted(payload(), progress, None) if progress else payload()
        elif payload is not None and (progress or len(payload) > LARGE_TRANSFER):
            if progress is None:
                self.log.info("%s: uploading %s", what, human_size(len(payload)))
            data = UploadBody(payload, progress or LoggedProgress(self.log, "uploaded", what))
        else:
            data = payload
        with self.session.request(
            method,
            url,
            params=params,
            data=data,
            headers=dict(headers or {}),
            timeout=self.timeout,
            allow_redirects=False,
            stream=True,
        ) as response:
            location = response.headers.get("Location")
            if follow_redirects and location and response.status_code in REDIRECTS:
                return self._fetch_redirected(urljoin(url, location), what, consume, progress)
            return self._answer(response, what, consume, progress)

    def _fetch_redirected(
        self,
        url: str,
        what: str,
        consume: Consumer | None,
        progress: ProgressCallback | None,
    ) -> Answer:
        """GET where a download was redirected (a presigned URL of the blob store).

        Never with the token: the URL carries its own short-lived permission,
        and the store, even on the same host, is not ngshare. (requests would
        drop the token only when the redirect changes host or port.) A
        failure here is answered like the server's: a retry asks ngshare
        again, for a fresh URL.
        """
        with requests.get(
            url,
            headers={"Accept-Encoding": "gzip", "User-Agent": self.session.headers["User-Agent"]},
            timeout=self.timeout,
            allow_redirects=False,
            stream=True,
        ) as response:
            return self._answer(response, what, consume, progress)

    def _answer(
        self,
        response: requests.Response,
        what: str,
        consume: Consumer | None,
        progress: ProgressCallback | None,
    ) -> Answer:
        location = response.headers.get("Location")
        length = response.headers.get("Content-Length")
        total = int(length) if length and length.isdigit() else None
        if consume is not None and response.status_code == 200:
            try:
                consume(counted(response.iter_content(CHUNK_SIZE), progress, total))
            except requests.RequestException as error:
                # Broke off mid-body: the whole request may be retried.
                raise StreamBroken(error) from error
            return Answer(response.status_code, b"", location)
        if progress is None and total is not None and total > LARGE_TRANSFER:
            progress = LoggedProgress(self.log, "downloaded", what)
        chunks = counted(response.iter_content(CHUNK_SIZE), progress, total)
        return Answer(response.status_code, b"".join(chunks), location)

    def decode(
        self,
        parts: tuple[str, ...],
        request: str,
        answer: Answer,
        *,
        what: str,
        who_may: str | None,
    ) -> JSON:
        """The JSON body of a success, or the ClientError a failure deserves."""
        return decode(
            answer,
            request=request,
            what=what,
            who_may=who_may,
            sources=self.sources,
            own_api=parts[: len(OWN_API)] == OWN_API,
            is_ngshare=self.is_ngshare,
        )

    def is_ngshare(self) -> bool:
        """Whether ngshare answers at the base URL: its health check, as every version has it.

        Asked only after an own-API path was missing, to tell a server of
        ngshare 0.6 (healthy, but v1 only) from an address that is not ngshare.
        """
        try:
            with self.session.get(
                self.url("healthz"),
                timeout=(self.timeout[0], min(self.timeout[1], PROBE_TIMEOUT)),
                allow_redirects=False,
            ) as response:
                return response.status_code == 200 and response.json() == {"success": True}
        except (requests.RequestException, ValueError):
            # No ngshare answered: the address is wrong, as the hint will say.
            return False
