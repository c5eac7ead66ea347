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
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlencode

import requests
from requests.auth import AuthBase
from urllib3.exceptions import NewConnectionError

from ngshare import __version__
from ngshare.client.errors import (
    JSON,
    AuthenticationRefused,
    ClientError,
    PermissionRefused,
    ServerError,
    ServerUnreachable,
    WrongService,
    refusal_kind,
)
from ngshare.client.progress import (
    LARGE_TRANSFER,
    LoggedProgress,
    ProgressCallback,
    UploadBody,
    counted,
)
from ngshare.client.settings import Sources
from ngshare.protocol.api import IDEMPOTENCY_HEADER
from ngshare.protocol.sizes import human_size

RETRY_STATUSES = frozenset({502, 503, 504})
CHUNK_SIZE = 256 * 1024
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


class StreamBroken(Exception):
    """A response body broke off while it was being consumed."""

    def __init__(self, error: requests.RequestException) -> None:
        super().__init__(str(error))
        self.error = error


@dataclass(frozen=True)
class Answer:
    status: int
    body: bytes
    location: str | None


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
    ) -> None:
        """A read whose successful body goes to ``consume`` in chunks (a POST with ``json_body``).

        ``consume`` must cope with being called again from the start when a
        broken transfer is retried. Refusals are JSON, decoded as for any request.
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
                answer = self._send(method, url, params, body, headers, what, consume, progress)
            except (requests.RequestException, StreamBroken) as error:
                if attempt < self.retries and self._may_resend(error, retry):
                    attempt += 1
                    self._wait(attempt, what, f"cannot reach the server ({_reason(error)})")
                    continue
                raise self.unreachable(error, what) from None
            if answer.status in RETRY_STATUSES and retry and attempt < self.retries:
                attempt += 1
                self._wait(attempt, what, f"the server answered HTTP {answer.status}")
                continue
            if consume is not None and answer.status == 200:
                return {}
            return self.decode(f"{method} {url}", answer, what=what, who_may=who_may)

    def _may_resend(self, error: requests.RequestException | StreamBroken, retry: bool) -> bool:
        if isinstance(error, requests.ReadTimeout):
            return retry and self.retry_read_timeouts
        return retry or _never_sent(error)

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

    def unreachable(
        self, error: requests.RequestException | StreamBroken, what: str
    ) -> ServerUnreachable:
        """The error for a request that got no answer."""
        reason, explanation = _reason(error), _explanation(error, self.base_url, self.timeout)
        hint = self.sources.reach_hint
        if isinstance(error, requests.ReadTimeout):
            hint += f" If it is merely slow, raise {self.sources.timeout}."
        return ServerUnreachable(
            f"cannot reach ngshare at {self.base_url} ({reason})",
            explanation=explanation,
            what=what,
            hint=hint,
        )

    def decode(self, request: str, answer: Answer, *, what: str, who_may: str | None) -> JSON:
        """The JSON body of a success, or the ClientError a failure deserves."""
        status = answer.status
        fields: dict[str, Any] = {"what": what, "status": status, "request": request}
        if 300 <= status < 400:
            # The service sends a request without a valid token to the hub's login.
            raise AuthenticationRefused(
                f"ngshare redirected the request to {answer.location or '?'}, so the API token "
                "was not accepted",
                hint=self.sources.token_hint,
                **fields,
            )
        try:
            decoded = json.loads(answer.body)
        except ValueError:
            decoded = None
        if not isinstance(decoded, dict) or "success" not in decoded:
            raise self.not_ngshare(status, fields)
        if 200 <= status < 300 and decoded.get("success") is True:
            return decoded
        message = str(decoded.get("message") or "no message")
        kind = refusal_kind(status, message)
        hint = self.hint(kind, who_may)
        raise kind(message, server_message=message, hint=hint, answer=decoded, **fields)

    def hint(self, kind: type[ClientError], who_may: str | None) -> str:
        """What to do about a refusal of this kind."""
        if kind is PermissionRefused:
            return f"Only {who_may} may do this." if who_may else ""
        if kind is AuthenticationRefused:
            return self.sources.token_hint
        if issubclass(kind, WrongService):
            return self.sources.url_hint
        if kind is ServerError:
            return "The server's log says more."
        return ""

    def not_ngshare(self, status: int, fields: dict[str, Any]) -> ClientError:
        """An answer that is not ngshare's JSON: a proxy without its service, or a wrong URL."""
        if status in RETRY_STATUSES:
            return ServerUnreachable(
                "the proxy in front of ngshare answered, but the service behind it did not",
                hint=self.sources.reach_hint,
                **fields,
            )
        return WrongService(
            "the server did not answer with ngshare's JSON", hint=self.sources.url_hint, **fields
        )


def _never_sent(error: requests.RequestException | StreamBroken) -> bool:
    """Whether the request certainly did not reach the server (safe to resend)."""
    if isinstance(error, StreamBroken):
        return False
    if isinstance(error, requests.ConnectTimeout):
        return True
    reason = getattr(error.args[0], "reason", None) if error.args else None
    return isinstance(reason, NewConnectionError)


def _cause(error: requests.RequestException) -> str:
    """Which way a connection failed: refused, unknown host, TLS, or other."""
    if isinstance(error, requests.exceptions.SSLError):
        return "tls"
    text = str(error)
    if "Connection refused" in text:
        return "refused"
    names = ("Name or service not known", "nodename nor servname", "Temporary failure in name")
    if any(s in text for s in (*names, "No address")):
        return "host"
    return "failed"


def _reason(error: requests.RequestException | StreamBroken) -> str:
    """Why a request got no answer, in a few words."""
    if isinstance(error, StreamBroken):
        return f"the transfer broke off: {_reason(error.error)}"
    if isinstance(error, requests.ConnectTimeout):
        return "no connection in time"
    if isinstance(error, requests.Timeout):
        return "timed out"
    if isinstance(error, requests.ConnectionError):
        return {
            "tls": "TLS handshake failed",
            "refused": "connection refused",
            "host": "unknown host name",
        }.get(_cause(error), "connection failed")
    return type(error).__name__


def _explanation(
    error: requests.RequestException | StreamBroken, url: str, timeout: tuple[float, float]
) -> str:
    """Why a request got no answer, as a sentence about the server's URL."""
    if isinstance(error, StreamBroken):
        return f"the transfer from {url} broke off ({_reason(error.error)})"
    if isinstance(error, requests.ConnectTimeout):
        return f"no connection to {url} within {timeout[0]:g} s"
    if isinstance(error, requests.Timeout):
        return f"{url} did not answer within {timeout[1]:g} s"
    if isinstance(error, requests.ConnectionError):
        return {
            "tls": f"the TLS handshake with {url} failed (is its certificate trusted here?)",
            "refused": f"{url} refused the connection",
            "host": f"the host name of {url} is unknown here",
        }.get(_cause(error), f"the connection to {url} failed")
    return f"the request to {url} failed ({type(error).__name__})"
