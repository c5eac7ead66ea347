"""Start and stop a real JupyterHub with ngshare as one of its services.

A :class:`HubProcess` is ``python -m jupyterhub`` on loopback ports that no
other process is given (``ports.py``; users' servers too), with the dummy
authenticator (any password logs in), the configurable-http-proxy,
and its database and cookie secret in a temporary directory. Its config file
is generated from the ``hub-config`` snippets of ``docs/jupyterhub.md`` (so
the documented configuration is the tested one), with the docs' sample port
and data directory replaced, plus a test-only part: the hub's own ports and a
``test-driver`` service whose token may create users and tokens through the
hub's REST API.

A user's notebook server is a stand-in for jupyterhub-singleuser
(``hub_singleuser.py``) that only hands its API token to the test: the token
nbgrader uses inside a notebook.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests
from ports import free_port, port_clash
from server_process import PREFIX, ApiClient, clean_env

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs" / "jupyterhub.md"
TESTS = Path(__file__).resolve().parent
SINGLEUSER = TESTS / "hub_singleuser.py"
PROXY = Path(sys.executable).with_name("configurable-http-proxy")

# Sample values in the docs' snippets, replaced for each test hub.
SAMPLE_URL = '"http://127.0.0.1:10101"'
SAMPLE_DATA_DIR = '"/srv/ngshare"'

HUB_ADMIN = "hubadmin"  # a JupyterHub admin
NGSHARE_ADMIN = "root"  # named in --admins by the docs' snippet
DRIVER = "test-driver"
SERVER_TOKEN_FILE = "jupyterhub-api-token"


def docs_snippet(name: str) -> str:
    """The Python block that follows ``<!-- hub-config: NAME -->`` in the docs."""
    text = DOCS.read_text(encoding="utf-8")
    pattern = rf"<!-- hub-config: {re.escape(name)} -->\s*```python\n(.*?)```"
    match = re.search(pattern, text, re.DOTALL)
    if match is None:
        raise LookupError(f"{DOCS} has no 'hub-config: {name}' snippet")
    return match.group(1)


def fill_in(snippet: str, values: dict[str, str]) -> str:
    """Replace the docs' sample values, each of which must occur exactly once.

    Failing loudly keeps the docs and the tests in step: a snippet whose
    sample value changed cannot silently run with the docs' port or paths.
    """
    for sample, value in values.items():
        count = snippet.count(sample)
        if count != 1:
            raise ValueError(f"expected {sample} once in the docs snippet, found it {count} times")
        snippet = snippet.replace(sample, value)
    return snippet


def unique_name(prefix: str) -> str:
    """A fresh, valid JupyterHub user (or course) name, so tests never collide."""
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def assert_refused(response: requests.Response, status: int = 403) -> str:
    """A JSON refusal in the v1 shape; returns its message."""
    assert response.status_code == status, response.text
    assert response.headers["Content-Type"].startswith("application/json")
    body = response.json()
    assert body["success"] is False
    assert body["message"]
    return body["message"]


@dataclass(frozen=True)
class HubToken:
    """An API token the hub issued: its secret, its id (to revoke it), its owner."""

    value: str
    id: str
    user: str


@dataclass
class HubProcess:
    """A running JupyterHub; use as a context manager or call stop().

    ``services`` is the Python source that defines ``c.JupyterHub.services``
    (a docs snippet, filled in); ``ngshare_args`` and ``ngshare_env`` are added
    to a managed ngshare's command and environment; ``snippets`` names more
    docs snippets to run after the ``roles`` one (e.g. ``groups``).
    """

    workdir: Path
    services: str
    ngshare_port: int
    ngshare_args: Sequence[str] = ()
    snippets: Sequence[str] = ()
    ngshare_env: dict[str, str] = field(default_factory=dict)
    env: dict[str, str] = field(default_factory=dict)
    driver_token: str = field(default_factory=lambda: secrets.token_hex(24))
    process: subprocess.Popen[bytes] | None = None

    def __post_init__(self) -> None:
        self.proxy_port = free_port()
        self.proxy_api_port = free_port()
        self.hub_port = free_port()

    # -- addresses -----------------------------------------------------------

    @property
    def ports(self) -> dict[str, int]:
        """The ports the hub and its children are given, by what listens there."""
        return {
            "proxy": self.proxy_port,
            "proxy API": self.proxy_api_port,
            "hub": self.hub_port,
            "ngshare": self.ngshare_port,
        }

    @property
    def url(self) -> str:
        """The public URL (the proxy)."""
        return f"http://127.0.0.1:{self.proxy_port}/"

    @property
    def api_url(self) -> str:
        """The hub's REST API, as services reach it."""
        return f"http://127.0.0.1:{self.hub_port}/hub/api"

    @property
    def service_url(self) -> str:
        """ngshare through the proxy."""
        return self.url.rstrip("/") + PREFIX

    @property
    def direct_url(self) -> str:
        """ngshare on its own port, bypassing the proxy."""
        return f"http://127.0.0.1:{self.ngshare_port}{PREFIX}"

    @property
    def log_path(self) -> Path:
        return self.workdir / "hub.log"

    def client(self, token: str | None) -> ApiClient:
        """An ngshare client through the proxy, sending ``token`` (or none)."""
        return ApiClient(self.service_url, token)

    def direct_client(self, token: str | None) -> ApiClient:
        return ApiClient(self.direct_url, token)

    # -- configuration -------------------------------------------------------

    def config_source(self) -> str:
        # The test-only part comes first (hub ports, authenticator, spawner)
        # and last (additions to the documented service entry and roles);
        # the documented snippets sit between them unchanged but for the
        # sample values.
        home = str(self.workdir / "home" / "{username}")
        head = f"""\
# Generated for a test by tests/hub_process.py; the middle part is from
# docs/jupyterhub.md.
c.JupyterHub.bind_url = {self.url!r}
c.JupyterHub.hub_ip = "127.0.0.1"
c.JupyterHub.hub_port = {self.hub_port}
c.ConfigurableHTTPProxy.api_url = "http://127.0.0.1:{self.proxy_api_port}"
c.ConfigurableHTTPProxy.command = [{str(PROXY)!r}]
c.JupyterHub.db_url = {"sqlite:///" + str(self.workdir / "jupyterhub.sqlite")!r}
c.JupyterHub.cookie_secret_file = {str(self.workdir / "jupyterhub_cookie_secret")!r}
c.JupyterHub.authenticator_class = "dummy"
c.Authenticator.allow_all = True
c.Authenticator.admin_users = {{{HUB_ADMIN!r}}}
import sys
sys.path.insert(0, {str(TESTS)!r})
from jupyterhub.spawner import SimpleLocalProcessSpawner
from ports import free_port


# Users' servers on ports no other process is given (tests/ports.py), not on
# the ephemeral port JupyterHub would probe for and close before the server binds it.
class ReservedPortSpawner(SimpleLocalProcessSpawner):
    async def start(self):
        self.port = free_port()
        return await super().start()


c.JupyterHub.spawner_class = ReservedPortSpawner
c.SimpleLocalProcessSpawner.home_dir_template = {home!r}
c.Spawner.cmd = [{sys.executable!r}, {str(SINGLEUSER)!r}]
c.Spawner.start_timeout = 30
c.Spawner.http_timeout = 30

"""
        tail = f"""
# Test-only additions.
ngshare = next(s for s in c.JupyterHub.services if s["name"] == "ngshare")
if "command" in ngshare:
    ngshare["command"] = [*ngshare["command"], *{list(self.ngshare_args)!r}]
    ngshare.setdefault("environment", {{}}).update({self.ngshare_env!r})
c.JupyterHub.services.append({{"name": {DRIVER!r}, "api_token": {self.driver_token!r}}})
c.JupyterHub.load_roles.append(
    {{
        "name": {DRIVER!r},
        "scopes": ["admin:users", "admin:groups", "admin:servers", "tokens"],
        "services": [{DRIVER!r}],
    }}
)
"""
        documented = [docs_snippet(name) for name in ("roles", *self.snippets)]
        return head + self.services + "\n" + "\n".join(documented) + tail

    def write_config(self) -> Path:
        path = self.workdir / "jupyterhub_config.py"
        path.write_text(self.config_source(), encoding="utf-8")
        return path

    # -- life cycle ----------------------------------------------------------

    def start(self, timeout: float = 60) -> HubProcess:
        self.workdir.mkdir(parents=True, exist_ok=True)
        config = self.write_config()
        # Only what the test chooses: a hub (or service) must not pick up the
        # JUPYTERHUB_* variables of a hub the test suite itself runs under.
        env = clean_env(**self.env)
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "jupyterhub", "-f", str(config)],
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
                cwd=self.workdir,
            )
        self.wait_ready(timeout)
        return self

    def wait_ready(self, timeout: float) -> None:
        # The hub answers once its proxy routes are in place; ngshare's route
        # answering through the proxy means the service is up as well.
        deadline = time.monotonic() + timeout
        urls = (self.url + "hub/api/", self.service_url + "healthz")
        while time.monotonic() < deadline:
            assert self.process is not None
            if self.process.poll() is not None:
                self._stop_left_proxy()  # before asking which ports are taken
                headline = f"jupyterhub exited with {self.process.returncode}"
                clash = port_clash(self.log(), self.ports)
                raise RuntimeError(f"{headline}: {clash or 'see its log'}\n{self.log()}")
            with contextlib.suppress(requests.ConnectionError, requests.Timeout):
                if all(requests.get(u, timeout=2).status_code == 200 for u in urls):
                    return
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"jupyterhub did not answer within {timeout} s:\n{self.log()}")

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def stop(self) -> None:
        """SIGTERM: the hub stops its managed services and its proxy itself."""
        if self.process is None or self.process.poll() is not None:
            return
        children = _children(self.process.pid)
        self.process.send_signal(signal.SIGCONT)  # in case a test left it frozen
        self.process.terminate()
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            # Its services and proxy run in their own sessions and would
            # outlive a killed hub.
            for pid in children:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGTERM)

    def _stop_left_proxy(self) -> None:
        """Stop the proxy of a hub that died without stopping it.

        It runs in a session of its own; the hub keeps its pid in a file.
        """
        path = self.workdir / "jupyterhub-proxy.pid"
        with contextlib.suppress(OSError, ValueError):
            pid = int(path.read_text())
            command = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
            if str(self.proxy_api_port).encode() not in command:
                return  # a reused pid, not our proxy
            os.kill(pid, signal.SIGTERM)
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:
                os.kill(pid, 0)  # ProcessLookupError (an OSError) once it is gone
                time.sleep(0.05)

    @contextlib.contextmanager
    def frozen(self) -> Iterator[None]:
        """SIGSTOP the hub: it accepts connections but never answers."""
        assert self.process is not None
        self.process.send_signal(signal.SIGSTOP)
        try:
            yield
        finally:
            self.process.send_signal(signal.SIGCONT)

    def __enter__(self) -> HubProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- the hub's REST API, as the test-driver service ----------------------

    def api(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        headers = {"Authorization": f"token {self.driver_token}", **kwargs.pop("headers", {})}
        timeout = kwargs.pop("timeout", 30)
        return requests.request(
            method, f"{self.api_url}/{path}", headers=headers, timeout=timeout, **kwargs
        )

    def add_user(self, name: str, *, admin: bool = False) -> str:
        response = self.api("POST", f"users/{name}", json={"admin": admin})
        assert response.status_code == 201, response.text
        return name

    def new_token(self, user: str, scopes: list[str] | None = None) -> HubToken:
        """A new API token of ``user``: the user's scopes, or only ``scopes``."""
        body: dict[str, Any] = {"note": "test"}
        if scopes is not None:
            body["scopes"] = scopes
        response = self.api("POST", f"users/{user}/tokens", json=body)
        assert response.status_code == 201, response.text
        model = response.json()
        return HubToken(value=model["token"], id=model["id"], user=user)

    def new_user(self, prefix: str = "user", *, admin: bool = False) -> HubToken:
        """A new user with a new token."""
        return self.new_token(self.add_user(unique_name(prefix), admin=admin))

    def add_group(self, name: str, users: Sequence[str] = ()) -> str:
        response = self.api("POST", f"groups/{name}", json={"users": list(users)})
        assert response.status_code == 201, response.text
        return name

    def add_to_group(self, group: str, users: Sequence[str]) -> None:
        response = self.api("POST", f"groups/{group}/users", json={"users": list(users)})
        assert response.status_code == 200, response.text

    def remove_from_group(self, group: str, users: Sequence[str]) -> None:
        response = self.api("DELETE", f"groups/{group}/users", json={"users": list(users)})
        assert response.status_code == 200, response.text

    def revoke(self, token: HubToken) -> None:
        response = self.api("DELETE", f"users/{token.user}/tokens/{token.id}")
        assert response.status_code == 204, response.text

    def start_server(self, user: str, timeout: float = 30) -> str:
        """Start ``user``'s notebook server; return its $JUPYTERHUB_API_TOKEN."""
        response = self.api("POST", f"users/{user}/server")
        assert response.status_code in (201, 202), response.text
        deadline = time.monotonic() + timeout
        token_file = self.workdir / "home" / user / SERVER_TOKEN_FILE
        while time.monotonic() < deadline:
            server = self.api("GET", f"users/{user}").json()["servers"].get("", {})
            if server.get("ready") and token_file.exists():
                return token_file.read_text(encoding="utf-8").strip()
            time.sleep(0.1)
        raise RuntimeError(f"{user}'s server did not start within {timeout} s:\n{self.log()}")

    def stop_server(self, user: str) -> None:
        response = self.api("DELETE", f"users/{user}/server")
        assert response.status_code in (202, 204), response.text


def _children(pid: int) -> list[int]:
    """Direct children of a process (Linux /proc; empty elsewhere)."""
    found: list[int] = []
    for path in Path(f"/proc/{pid}/task").glob("*/children"):
        with contextlib.suppress(OSError):
            found.extend(int(p) for p in path.read_text().split())
    return found


def managed_hub(
    workdir: Path,
    *,
    db_url: str | None = None,
    ngshare_args: Sequence[str] = (),
    snippets: Sequence[str] = (),
) -> HubProcess:
    """A hub that runs ngshare itself, configured as docs/jupyterhub.md shows.

    ``db_url`` (e.g. PostgreSQL) goes in the service's environment as the
    docs recommend; without it ngshare uses SQLite in its data directory.
    ``snippets`` adds more documented configuration (see HubProcess).
    """
    port = free_port()
    services = fill_in(
        docs_snippet("managed"),
        {
            SAMPLE_URL: json.dumps(f"http://127.0.0.1:{port}"),
            SAMPLE_DATA_DIR: json.dumps(str(workdir / "ngshare-data")),
        },
    )
    env = {"NGSHARE_DB_URL": db_url} if db_url else {}
    return HubProcess(
        workdir=workdir,
        services=services,
        ngshare_port=port,
        ngshare_args=ngshare_args,
        ngshare_env=env,
        snippets=snippets,
    )


def external_hub(workdir: Path, *, ngshare_port: int, api_token: str) -> HubProcess:
    """A hub that only routes to an ngshare started elsewhere (docs: external)."""
    services = fill_in(
        docs_snippet("external"),
        {SAMPLE_URL: json.dumps(f"http://127.0.0.1:{ngshare_port}")},
    )
    # The documented snippet reads the shared secret from the environment.
    return HubProcess(
        workdir=workdir,
        services=services,
        ngshare_port=ngshare_port,
        env={"NGSHARE_API_TOKEN": api_token},
    )
