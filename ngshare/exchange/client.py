"""The HTTP client for the ngshare API (v1 for listings, the own API for files).

Every request has a timeout; idempotent requests are retried with
exponential backoff when the server cannot be reached or a proxy in front of
it answers 502/503/504; every failure becomes an :class:`NgshareError` (an
nbgrader ``ExchangeError``) carrying the server's own message. Nothing is
swallowed and no call returns ``None``: a method either returns the decoded
JSON body of a successful response or raises.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any
from urllib.parse import quote, urlencode

import requests
from nbgrader.exchange.abc import ExchangeError
from urllib3.exceptions import NewConnectionError

from ngshare.protocol.api import IDEMPOTENCY_HEADER
from ngshare.protocol.sizes import human_size

RETRY_STATUSES = frozenset({502, 503, 504})
# Bodies above this size get progress messages while they are transferred.
LARGE_TRANSFER = 8 * 1024 * 1024
CHUNK_SIZE = 256 * 1024

JSON = dict[str, Any]
URL_HINT = (
    "Is NGSHARE_URL (or the url given to configure_exchange) the address of the ngshare "
    "service, e.g. http://hub.example.org/services/ngshare?"
)


class NgshareError(ExchangeError):
    """A request to ngshare failed; ``str()`` is the message to show the user."""

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        server_message: str | None = None,
        answer: JSON | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.server_message = server_message
        # The server's whole JSON answer, for refusals a caller acts on.
        self.answer = answer or {}


class _Progress:
    """Logs how much of a large transfer is done, at most every 10 %."""

    def __init__(self, log: logging.Logger, verb: str, what: str, total: int) -> None:
        self.log = log
        self.verb = verb
        self.what = what
        self.total = total
        self.done = 0
        self.next_report = 10

    def advance(self, amount: int) -> None:
        self.done += amount
        if self.total <= 0:
            return
        percent = self.done * 100 // self.total
        if percent >= self.next_report:
            self.log.info(
                "%s: %s %d%% of %s",
                self.what,
                self.verb,
                min(percent, 100),
                human_size(self.total),
            )
            self.next_report = (percent // 10 + 1) * 10


class _UploadBody:
    """A request body read in chunks, so a large upload can report progress.

    requests sends an object with ``read`` as a stream and takes its length
    from ``__len__`` (so the request keeps a Content-Length, not chunking).
    """

    def __init__(self, payload: bytes, progress: _Progress) -> None:
        self._payload = payload
        self._offset = 0
        self._progress = progress

    def __len__(self) -> int:
        return len(self._payload)

    def read(self, size: int = -1) -> bytes:
        end = len(self._payload) if size is None or size < 0 else self._offset + size
        chunk = self._payload[self._offset : end]
        self._offset += len(chunk)
        self._progress.advance(len(chunk))
        return chunk


class StreamBroken(Exception):
    """A response body broke off while it was being consumed."""

    def __init__(self, error: requests.RequestException) -> None:
        super().__init__(str(error))
        self.error = error


def _never_sent(error: requests.RequestException | StreamBroken) -> bool:
    """Whether the request certainly did not reach the server (safe to resend)."""
    if isinstance(error, StreamBroken):
        return False
    if isinstance(error, requests.ConnectTimeout):
        return True
    reason = getattr(error.args[0], "reason", None) if error.args else None
    return isinstance(reason, NewConnectionError)


class NgshareClient:
    """requests, pointed at one ngshare server, authenticated as one user."""

    def __init__(
        self,
        base_url: str,
        token: str,
        *,
        timeout: float = 120.0,
        connect_timeout: float = 10.0,
        retries: int = 3,
        backoff: float = 0.5,
        log: logging.Logger | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.base_url = base_url if base_url.endswith("/") else base_url + "/"
        self.timeout = (connect_timeout, timeout)
        self.retries = max(0, retries)
        self.backoff = backoff
        self.log = log or logging.getLogger(__name__)
        self._sleep = sleep
        self.session = requests.Session()
        self.session.headers["Authorization"] = f"token {token}"
        self.session.headers["Accept"] = "application/json"

    def url(self, *parts: str) -> str:
        """The URL of an API path; each part is quoted (names may hold spaces, unicode)."""
        return self.base_url + "/".join(quote(part, safe="") for part in parts)

    def close(self) -> None:
        self.session.close()

    # -- the verbs -------------------------------------------------------------

    def get(self, *parts: str, params: Mapping[str, str] | None = None, what: str) -> JSON:
        return self.request("GET", parts, params=params, retry=True, what=what)

    def delete(self, *parts: str, what: str) -> JSON:
        # DELETE is idempotent in HTTP terms, but a retry after a lost response
        # would report "not found" for what the first attempt deleted: only
        # resend when the first attempt cannot have arrived.
        return self.request("DELETE", parts, retry=False, what=what)

    def post(
        self,
        *parts: str,
        data: Mapping[str, str],
        what: str,
        retry: bool = False,
        idempotency_key: str | None = None,
    ) -> JSON:
        """POST form fields; ``retry`` only for requests that are safe to repeat."""
        headers = {IDEMPOTENCY_HEADER: idempotency_key} if idempotency_key else {}
        headers["Content-Type"] = "application/x-www-form-urlencoded"
        payload = urlencode(data).encode("ascii")
        return self.request("POST", parts, body=payload, headers=headers, retry=retry, what=what)

    def send_json(
        self,
        method: str,
        *parts: str,
        body: Any,
        what: str,
        retry: bool = False,
        idempotency_key: str | None = None,
        params: Mapping[str, str] | None = None,
    ) -> JSON:
        """A JSON body (the own API); ``retry`` only for requests safe to repeat."""
        headers = {"Content-Type": "application/json"}
        if idempotency_key:
            headers[IDEMPOTENCY_HEADER] = idempotency_key
        payload = json.dumps(body).encode("utf-8")
        return self.request(
            method, parts, params=params, body=payload, headers=headers, retry=retry, what=what
        )

    def upload_stream(
        self,
        *parts: str,
        body: Callable[[], Iterable[bytes]],
        content_type: str,
        what: str,
        idempotency_key: str | None = None,
    ) -> JSON:
        """POST a body produced in chunks (made anew for each attempt); retried like GET.

        Only for uploads that are safe to repeat: content-addressed blobs, or
        a submission carrying its idempotency key.
        """
        headers = {"Content-Type": content_type}
        if idempotency_key:
            headers[IDEMPOTENCY_HEADER] = idempotency_key
        return self.request("POST", parts, body=body, headers=headers, retry=True, what=what)

    def get_stream(
        self,
        *parts: str,
        accept: str,
        consume: Callable[[Iterator[bytes]], None],
        what: str,
    ) -> None:
        """GET ``accept`` content and hand a successful body to ``consume`` in chunks.

        As for :meth:`download_stream`, ``consume`` must cope with being
        called again from the start when a broken transfer is retried.
        """
        headers = {"Accept": accept, "Accept-Encoding": "gzip"}
        self.request("GET", parts, headers=headers, retry=True, what=what, consume=consume)

    def download_stream(
        self, *parts: str, body: Any, consume: Callable[[Iterator[bytes]], None], what: str
    ) -> None:
        """POST a JSON request and hand a successful response's body to ``consume`` in chunks.

        ``consume`` must cope with being called again from the start when a
        broken transfer is retried.
        """
        payload = json.dumps(body).encode("utf-8")
        self.request(
            "POST",
            parts,
            body=payload,
            headers={"Content-Type": "application/json"},
            retry=True,
            what=what,
            consume=consume,
        )

    @staticmethod
    def new_idempotency_key() -> str:
        return uuid.uuid4().hex

    # -- the machinery -----------------------------------------------------------

    def request(
        self,
        method: str,
        parts: tuple[str, ...],
        *,
        params: Mapping[str, str] | None = None,
        body: bytes | Callable[[], Iterable[bytes]] | None = None,
        headers: Mapping[str, str] | None = None,
        retry: bool,
        what: str,
        consume: Callable[[Iterator[bytes]], None] | None = None,
    ) -> JSON:
        """Send one API request (retrying when allowed) and return its JSON body.

        With ``consume``, a successful response's body goes there in chunks
        instead (and an empty JSON object is returned).
        """
        url = self.url(*parts)
        attempt = 0
        while True:
            try:
                status, content, location = self._send(
                    method, url, params, body, headers, what, consume
                )
            except (requests.RequestException, StreamBroken) as error:
                if attempt < self.retries and (retry or _never_sent(error)):
                    attempt += 1
                    self._wait(attempt, what, f"cannot reach the server ({_reason(error)})")
                    continue
                raise NgshareError(
                    f"Could not {what}: cannot reach ngshare at {self.base_url} "
                    f"({_reason(error)}). Check that the ngshare service is running and that "
                    "NGSHARE_URL (or the url given to configure_exchange) is right."
                ) from None
            if status in RETRY_STATUSES and retry and attempt < self.retries:
                attempt += 1
                self._wait(attempt, what, f"the server answered HTTP {status}")
                continue
            if consume is not None and status == 200:
                return {}
            return self._decode(method, url, status, content, location, what)

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
        payload: bytes | Callable[[], Iterable[bytes]] | None,
        headers: Mapping[str, str] | None,
        what: str,
        consume: Callable[[Iterator[bytes]], None] | None,
    ) -> tuple[int, bytes, str | None]:
        body: bytes | _UploadBody | Iterable[bytes] | None
        if callable(payload):
            body = payload()
        elif payload is not None and len(payload) > LARGE_TRANSFER:
            self.log.info("%s: uploading %s", what, human_size(len(payload)))
            body = _UploadBody(payload, _Progress(self.log, "uploaded", what, len(payload)))
        else:
            body = payload
        with self.session.request(
            method,
            url,
            params=params,
            data=body,
            headers=dict(headers or {}),
            timeout=self.timeout,
            allow_redirects=False,
            stream=True,
        ) as response:
            location = response.headers.get("Location")
            if consume is not None and response.status_code == 200:
                try:
                    consume(response.iter_content(CHUNK_SIZE))
                except requests.RequestException as error:
                    # Broke off mid-body: the whole request may be retried.
                    raise StreamBroken(error) from error
                return response.status_code, b"", location
            return response.status_code, self._read(response, what), location

    def _read(self, response: requests.Response, what: str) -> bytes:
        total = int(response.headers.get("Content-Length") or 0)
        progress = (
            _Progress(self.log, "downloaded", what, total) if total > LARGE_TRANSFER else None
        )
        chunks: list[bytes] = []
        for chunk in response.iter_content(CHUNK_SIZE):
            chunks.append(chunk)
            if progress is not None:
                progress.advance(len(chunk))
        return b"".join(chunks)

    def _decode(
        self, method: str, url: str, status: int, body: bytes, location: str | None, what: str
    ) -> JSON:
        where = f"(HTTP {status} from {method} {url})"
        if 300 <= status < 400:
            # The service redirects requests without a valid token to the hub login.
            raise NgshareError(
                f"Could not {what}: ngshare redirected the request to {location or '?'} "
                f"{where}: the API token was not accepted. Check JUPYTERHUB_API_TOKEN.",
                status=status,
            )
        try:
            decoded = json.loads(body)
        except ValueError:
            decoded = None
        if not isinstance(decoded, dict):
            raise NgshareError(
                f"Could not {what}: the server did not answer with ngshare's JSON {where}. "
                + URL_HINT,
                status=status,
            )
        if 200 <= status < 300 and decoded.get("success") is True:
            return decoded
        message = str(decoded.get("message") or "no message")
        raise NgshareError(
            f"Could not {what}: {message} {where}{_hint(status, message)}",
            status=status,
            server_message=message,
            answer=decoded,
        )


def _hint(status: int, message: str) -> str:
    if status == 403 and "token" in message.lower():
        return ". Check JUPYTERHUB_API_TOKEN: it must be a valid JupyterHub API token."
    if status == 404 and message == "Not found":
        # ngshare's answer for a route it does not have: the URL lacks the prefix.
        return ". " + URL_HINT
    return ""


def _reason(error: requests.RequestException | StreamBroken) -> str:
    if isinstance(error, StreamBroken):
        return f"the transfer broke off: {_reason(error.error)}"
    if isinstance(error, requests.Timeout):
        return "timed out"
    if isinstance(error, requests.ConnectionError):
        reason = getattr(error.args[0], "reason", None) if error.args else None
        text = str(reason or error)
        if "Connection refused" in text:
            return "connection refused"
        if "Name or service not known" in text or "nodename nor servname" in text:
            return "unknown host name"
        return "connection failed"
    return type(error).__name__
