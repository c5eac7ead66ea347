"""A small client for ngshare's v1 API, as ``ngsharectl`` needs it.

Every request has a connect and a read timeout. Reads (GET) are retried a
few times, with backoff, when the server cannot be reached or a proxy in
front of it answers 502/503/504, since they change nothing; writes are sent
once, so a lost answer never turns into a second course or a doubled import.
Every failure becomes a :class:`~ngshare.cli.errors.CliError` whose message
starts with what was being done and carries the server's own message.

The exchange plugin has its own client (``ngshare.exchange.client``); it is
built on nbgrader's error types and importing it imports nbgrader, which
``ngsharectl`` must not need, hence this one.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import quote

import requests
from requests.auth import AuthBase

from ngshare import __version__
from ngshare.cli.errors import CliError, ExitCode

JSON = dict[str, Any]
#: Called as a body arrives: (bytes so far, Content-Length or None).
ChunkCallback = Callable[[int, int | None], None]

CONNECT_TIMEOUT = 10.0
CHUNK_SIZE = 256 * 1024
BACKOFF = 0.5
RETRY_STATUSES = frozenset({502, 503, 504})
# The server's answers to a token it did not accept (see ngshare.server.handlers.base
# and ngshare.server.auth): a 403 with one of these is about the token, not the task.
AUTH_MESSAGES = ("Invalid or expired token", "Authentication required", "A browser session")
AUTH_SCOPE_MESSAGE = "may not use this service"
URL_HINT = (
    "Check --url or NGSHARE_URL: it must be the service's address including its prefix, "
    "e.g. https://hub.example.edu/services/ngshare."
)
AUTH_HINT = (
    "Check --token, --token-file or JUPYTERHUB_API_TOKEN: it must be a valid JupyterHub API "
    "token (or one of a standalone server's tokens) whose user may use the ngshare service."
)


class _TokenAuth(AuthBase):
    """``Authorization: token ...``, JupyterHub's form."""

    def __init__(self, token: str) -> None:
        self._token = token

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        request.headers["Authorization"] = f"token {self._token}"
        return request


class Api:
    """requests, pointed at one ngshare server, authenticated by one token."""

    def __init__(self, base_url: str, token: str, *, timeout: float, retries: int) -> None:
        self.base_url = base_url
        self.timeout = (min(CONNECT_TIMEOUT, timeout), timeout)
        self.retries = max(0, retries)
        self.session = requests.Session()
        # As an auth object rather than a plain header: requests replaces a
        # plain Authorization header with credentials from ~/.netrc.
        self.session.auth = _TokenAuth(token)
        self.session.headers["Accept"] = "application/json"
        self.session.headers["User-Agent"] = f"ngsharectl/{__version__}"

    def close(self) -> None:
        self.session.close()

    def url(self, *parts: str) -> str:
        """The URL of an API path; every part is quoted (names hold spaces, unicode)."""
        return self.base_url + "/".join(quote(part, safe="") for part in parts)

    # -- the verbs ---------------------------------------------------------------

    def get(
        self,
        *parts: str,
        what: str,
        needs: str | None = None,
        params: Mapping[str, str] | None = None,
        on_chunk: ChunkCallback | None = None,
    ) -> JSON:
        return self.request("GET", parts, what=what, needs=needs, params=params, on_chunk=on_chunk)

    def post(
        self, *parts: str, data: Mapping[str, str], what: str, needs: str | None = None
    ) -> JSON:
        return self.request("POST", parts, what=what, needs=needs, data=data)

    def delete(self, *parts: str, what: str, needs: str | None = None) -> JSON:
        return self.request("DELETE", parts, what=what, needs=needs)

    # -- the machinery -----------------------------------------------------------

    def request(
        self,
        method: str,
        parts: tuple[str, ...],
        *,
        what: str,
        needs: str | None = None,
        params: Mapping[str, str] | None = None,
        data: Mapping[str, str] | None = None,
        on_chunk: ChunkCallback | None = None,
    ) -> JSON:
        """Send one request and return its JSON body; raise CliError on any failure.

        ``what`` says what the request is for ("list the students of c1"), to
        begin error messages; ``needs`` says who may do it, added to a refusal.
        """
        url = self.url(*parts)
        retry = method == "GET"
        attempt = 0
        while True:
            try:
                status, body, location = self._send(method, url, params, data, on_chunk)
            except requests.RequestException as error:
                # A server that is merely slow is not asked again: that would
                # only multiply the wait (and its load) by the retries.
                slow = isinstance(error, requests.ReadTimeout)
                if retry and not slow and attempt < self.retries:
                    attempt += 1
                    _backoff(attempt)
                    continue
                raise CliError(
                    f"Cannot {what}: {_reason(error, self.base_url, self.timeout[1])}. Check "
                    "that the ngshare service is running and that the URL is right.",
                    ExitCode.UNREACHABLE,
                ) from None
            if status in RETRY_STATUSES and retry and attempt < self.retries:
                attempt += 1
                _backoff(attempt)
                continue
            return _decode(status, body, location, what=what, needs=needs, where=method + " " + url)

    def _send(
        self,
        method: str,
        url: str,
        params: Mapping[str, str] | None,
        data: Mapping[str, str] | None,
        on_chunk: ChunkCallback | None,
    ) -> tuple[int, bytes, str | None]:
        # Streamed so a long download can report progress; the read timeout
        # then bounds the wait for each piece, not the whole transfer.
        with self.session.request(
            method,
            url,
            params=params,
            data=data,
            timeout=self.timeout,
            allow_redirects=False,
            stream=True,
        ) as response:
            length = response.headers.get("Content-Length")
            total = int(length) if length and length.isdigit() else None
            received = 0
            chunks: list[bytes] = []
            for chunk in response.iter_content(CHUNK_SIZE):
                chunks.append(chunk)
                received += len(chunk)
                if on_chunk is not None:
                    on_chunk(received, total)
            return response.status_code, b"".join(chunks), response.headers.get("Location")


def _backoff(attempt: int) -> None:
    """Wait before retry number ``attempt``: 0.5 s, 1 s, 2 s, ..."""
    time.sleep(BACKOFF * 2 ** (attempt - 1))


def _decode(
    status: int, body: bytes, location: str | None, *, what: str, needs: str | None, where: str
) -> JSON:
    """The JSON body of a success, or the CliError a failure deserves."""
    if 300 <= status < 400:
        # ngshare sends a browser without a token to the hub's login page.
        raise CliError(
            f"Cannot {what}: the server redirected the request to {location or '?'} "
            f"(HTTP {status}), so the token was not accepted. {AUTH_HINT}",
            ExitCode.AUTH,
            status=status,
        )
    try:
        decoded = json.loads(body)
    except ValueError:
        decoded = None
    if not isinstance(decoded, dict) or "success" not in decoded:
        if status in RETRY_STATUSES:
            raise CliError(
                f"Cannot {what}: the proxy answered HTTP {status} ({where}): the ngshare "
                "service behind it is not answering. Check that it is running.",
                ExitCode.UNREACHABLE,
                status=status,
            )
        raise CliError(
            f"Cannot {what}: the answer (HTTP {status} from {where}) is not from ngshare's "
            f"API. {URL_HINT}",
            ExitCode.CONFIG,
            status=status,
        )
    if status == 200 and decoded.get("success") is True:
        return decoded
    message = str(decoded.get("message") or "no message")
    code, hint = _classify(status, message, needs)
    raise CliError(
        f"Cannot {what}: {message} (HTTP {status}).{hint}",
        code,
        status=status,
        server_message=message,
    )


def _classify(status: int, message: str, needs: str | None) -> tuple[ExitCode, str]:
    """The exit code of a refusal, and a hint on what to do about it."""
    if status == 403:
        if message.startswith(AUTH_MESSAGES) or AUTH_SCOPE_MESSAGE in message:
            return ExitCode.AUTH, " " + AUTH_HINT
        return ExitCode.PERMISSION, f" Only {needs} may do this." if needs else ""
    if status == 404:
        if message == "Not found":
            # The server's answer for a route it does not have: the URL is wrong.
            return ExitCode.CONFIG, " " + URL_HINT
        return ExitCode.NOT_FOUND, ""
    if status == 409:
        return ExitCode.CONFLICT, ""
    if status >= 500:
        return ExitCode.SERVER, " The server's log says more."
    return ExitCode.REJECTED, ""


def _reason(error: requests.RequestException, url: str, timeout: float) -> str:
    """Why a request got no answer, as the end of a sentence."""
    if isinstance(error, requests.ConnectTimeout):
        return f"no connection to {url} within {CONNECT_TIMEOUT:g} s"
    if isinstance(error, requests.Timeout):
        return f"{url} did not answer within {timeout:g} s (see --timeout)"
    if isinstance(error, requests.exceptions.SSLError):
        return f"the TLS handshake with {url} failed (is its certificate trusted here?)"
    if isinstance(error, requests.ConnectionError):
        text = str(error)
        if "Connection refused" in text:
            return f"{url} refused the connection"
        if any(
            s in text
            for s in (
                "Name or service not known",
                "nodename nor servname",
                "Temporary failure in name resolution",
                "No address",
            )
        ):
            return f"the host name of {url} is unknown here"
        return f"the connection to {url} failed"
    return f"the request to {url} failed ({type(error).__name__})"
