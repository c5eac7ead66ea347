"""A real S3 endpoint for tests: ``moto_server`` (from ``moto[server]``) on loopback.

:func:`moto_server` starts one in a child process on a port from
:mod:`ports` (held by this test process, so no other process is given it),
waits until it answers (polling, no fixed sleep) and yields a
:class:`MotoServer`: its ``endpoint_url``, a boto3 ``client()``,
``create_bucket()`` (a fresh, uniquely named bucket per test), the
environment a server process needs to use it (``env(bucket)``), and the
faults the tests inject: ``kill()`` (the store is down), ``freeze()`` /
``thaw()`` (SIGSTOP / SIGCONT: the store accepts connections but never
answers) and ``restart()`` (back on the same port, empty).

moto accepts any credentials; :data:`CREDENTIALS` are the ones the tests
give boto3 through its standard chain (environment variables), as an
operator's deployment would.

The child is this module run as a script: moto's own server, but handling
one request at a time. moto's in-memory objects are not safe under
concurrent writes of one key (two PUTs of the same content, which real S3
takes in stride, can fail one with a 500: "I/O operation on closed file"),
and the tests must exercise ngshare, not moto's races.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import requests
from ports import free_port

REGION = "us-east-1"
CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "ngshare-test-key",
    "AWS_SECRET_ACCESS_KEY": "ngshare-test-secret",
    "AWS_DEFAULT_REGION": REGION,
}
START_TIMEOUT = 60.0


class MotoServer:
    """One ``moto_server`` child on ``127.0.0.1:<port>``; its log is ``log_path``."""

    def __init__(self, log_path: Path, port: int | None = None) -> None:
        self.log_path = log_path
        self.port = port or free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def endpoint_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = START_TIMEOUT) -> MotoServer:
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, __file__, "127.0.0.1", str(self.port)],
                stdout=log,
                stderr=subprocess.STDOUT,
                env={**os.environ, **CREDENTIALS},
            )
        self._wait_answering(timeout)
        return self

    def _wait_answering(self, timeout: float) -> None:
        assert self.process is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"moto_server exited with {self.process.returncode}:\n{self.log()}"
                )
            with contextlib.suppress(requests.ConnectionError, requests.Timeout):
                # moto's own API answers once the server serves requests.
                requests.get(f"{self.endpoint_url}/moto-api/", timeout=2)
                return
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"moto_server did not answer within {timeout} s:\n{self.log()}")

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def client(self) -> Any:
        """A boto3 S3 client on this endpoint, with the tests' credentials."""
        import boto3

        return boto3.client(
            "s3",
            endpoint_url=self.endpoint_url,
            region_name=REGION,
            aws_access_key_id=CREDENTIALS["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
        )

    def create_bucket(self, name: str | None = None) -> str:
        """A new empty bucket (uniquely named unless ``name`` is given); its name."""
        bucket = name or f"ngshare-test-{uuid.uuid4().hex[:20]}"
        self.client().create_bucket(Bucket=bucket)
        return bucket

    def keys(self, bucket: str, prefix: str = "") -> list[str]:
        """Every object key in ``bucket`` under ``prefix``."""
        pages = (
            self.client().get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
        )
        return [item["Key"] for page in pages for item in page.get("Contents", [])]

    def env(self, bucket: str, prefix: str = "") -> dict[str, str]:
        """The environment that points an ngshare process's S3 store at ``bucket`` here."""
        return {
            **CREDENTIALS,
            "NGSHARE_S3_ENDPOINT_URL": self.endpoint_url,
            "NGSHARE_S3_BUCKET": bucket,
            "NGSHARE_S3_PREFIX": prefix,
        }

    # -- faults ------------------------------------------------------------------------

    def kill(self) -> None:
        """kill -9: connections to the endpoint are refused from now on."""
        self.stop(signal.SIGKILL)

    def freeze(self) -> None:
        """SIGSTOP: connections are accepted (by the kernel) but nothing answers."""
        assert self.process is not None
        self.process.send_signal(signal.SIGSTOP)

    def thaw(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGCONT)

    def restart(self) -> None:
        """Start again on the same port (moto keeps nothing: buckets are gone)."""
        self.stop()
        self.start()

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGCONT)  # a frozen process cannot act on SIGTERM
        self.process.send_signal(sig)
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


@contextlib.contextmanager
def moto_server(workdir: Path) -> Iterator[MotoServer]:
    """A running moto S3 endpoint (log in ``workdir/moto.log``), stopped on exit."""
    workdir.mkdir(parents=True, exist_ok=True)
    server = MotoServer(workdir / "moto.log").start()
    try:
        yield server
    finally:
        server.stop()


class _OneAtATime:
    """A WSGI application that lets ``app`` handle one request at a time.

    The response is read whole under the lock (moto's are in memory
    anyway) and sent after it.
    """

    def __init__(self, app: Any) -> None:
        self.app = app
        self.lock = threading.Lock()

    def __call__(self, environ: dict[str, Any], start_response: Any) -> list[bytes]:
        with self.lock:
            return list(self.app(environ, start_response))


def serve(host: str, port: int) -> None:
    """moto's server (as ``moto_server``), one request at a time."""
    from moto.moto_server.werkzeug_app import (
        DomainDispatcherApplication,
        MotoRequestHandler,
        create_backend_app,
    )
    from werkzeug.serving import run_simple

    os.environ.setdefault("MOTO_PORT", str(port))
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    app = DomainDispatcherApplication(create_backend_app)
    run_simple(host, port, _OneAtATime(app), threaded=True, request_handler=MotoRequestHandler)


if __name__ == "__main__":
    serve(sys.argv[1], int(sys.argv[2]))
