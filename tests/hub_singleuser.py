"""A stand-in for jupyterhub-singleuser in hub tests.

The hub starts it as a user's notebook server. It writes the server's API
token ($JUPYTERHUB_API_TOKEN, the token nbgrader's exchange uses inside a
notebook) to ``$HOME/jupyterhub-api-token`` for the test to use, and answers
every request with 200 so the hub sees the server as up.
"""

from __future__ import annotations

import os
import signal
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import FrameType
from urllib.parse import urlparse

TOKEN_FILE = "jupyterhub-api-token"


class Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = b"{}"
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass  # the hub's log is noisy enough


def main() -> None:
    home = Path(os.environ["HOME"])
    home.mkdir(parents=True, exist_ok=True)
    fd = os.open(home / TOKEN_FILE, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(os.environ["JUPYTERHUB_API_TOKEN"])
    url = urlparse(os.environ["JUPYTERHUB_SERVICE_URL"])
    server = ThreadingHTTPServer((url.hostname or "127.0.0.1", url.port or 0), Handler)

    def stop(signum: int, frame: FrameType | None) -> None:
        sys.exit(0)

    # The hub stops servers with SIGINT, then SIGTERM.
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    server.serve_forever()


if __name__ == "__main__":
    main()
