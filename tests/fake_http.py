"""Tiny HTTP servers for exercising the exchange client's failure handling.

:func:`serve` runs a :class:`http.server.ThreadingHTTPServer` on loopback in a
thread; a test passes a function that sees each request and returns the
response, or forwards it to a real ngshare with :func:`forward` (to act as a
proxy that misbehaves on purpose).
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import requests


@dataclass
class Request:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Response:
    status: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)


Responder = Callable[[Request], Response]


@dataclass
class FakeServer:
    url: str
    requests: list[Request]


def _handler(respond: Responder, seen: list[Request]) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def read_body(self) -> bytes:
            if self.headers.get("Transfer-Encoding", "").lower() != "chunked":
                return self.rfile.read(int(self.headers.get("Content-Length") or 0))
            body = bytearray()
            while size := int(self.rfile.readline().split(b";")[0], 16):
                body += self.rfile.read(size)
                self.rfile.readline()  # the CRLF after each chunk
            self.rfile.readline()  # the CRLF after the last (empty) chunk
            return bytes(body)

        def handle_any(self) -> None:
            headers = dict(self.headers.items())
            request = Request(self.command, self.path, headers, self.read_body())
            # Forwarded on with its length known.
            request.headers.pop("Transfer-Encoding", None)
            seen.append(request)
            response = respond(request)
            self.send_response(response.status)
            for name, value in response.headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(response.body)))
            self.end_headers()
            self.wfile.write(response.body)

        do_GET = do_POST = do_PUT = do_DELETE = handle_any

        def log_message(self, format: str, *args: object) -> None:
            pass

    return Handler


@contextlib.contextmanager
def serve(respond: Responder, prefix: str = "/services/ngshare/") -> Iterator[FakeServer]:
    seen: list[Request] = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(respond, seen))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield FakeServer(f"http://127.0.0.1:{server.server_address[1]}{prefix}", seen)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def forward(request: Request, root_url: str) -> Response:
    """Send ``request`` on to a real server (``root_url`` ends in "/")."""
    headers = {
        k: v
        for k, v in request.headers.items()
        if k.lower() not in ("host", "content-length", "connection")
    }
    answer = requests.request(
        request.method,
        root_url + request.path.lstrip("/"),
        headers=headers,
        data=request.body or None,
        timeout=60,
        allow_redirects=False,
    )
    return Response(
        answer.status_code,
        answer.content,
        {"Content-Type": answer.headers.get("Content-Type", "application/json")},
    )
