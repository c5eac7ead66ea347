"""docs/kubernetes.md agrees with the configuration the test suite runs.

Every block of that page is marked ``<!-- k8s: NAME -->`` and checked here.
Chart values are turned into JupyterHub configuration the way Zero to
JupyterHub does it (``hub.services.<name>`` becomes a services entry named
<name>, ``hub.loadRoles.<name>`` a role named <name>) and compared with the
configuration in docs/jupyterhub.md, which tests/hub_process.py runs against a
real JupyterHub: same service name, same scopes, same grants. ngshare's
command lines are parsed by ngshare itself. Blocks marked ``<!-- k8s-file:
PATH -->`` show a file of the repository and must equal it; the manifests
themselves are checked, rendered, in tests/test_deploy_kubernetes.py, and
here against the hub's side: service name, token Secret, prefix, address.
(PyYAML comes with JupyterHub, through jupyter-events.)
"""

from __future__ import annotations

import importlib.metadata
import re
import shlex
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml
from hub_process import docs_snippet
from jupyter_core.paths import SYSTEM_CONFIG_PATH
from kubernetes_manifests import DEPLOY, OVERLAYS, ROOT, container, ngshare_options, resource
from server_process import PREFIX
from traitlets.config import Config

import ngshare
from ngshare.exchange import Exchange, ExchangeFetchAssignment, ExchangeSubmit
from ngshare.exchange.settings import service_url
from ngshare.server.app import NgshareApp
from ngshare.server.commands import CopyBlobs
from ngshare.server.storage.blobs.database import DatabaseBlobStore

pytestmark = pytest.mark.database_independent

PAGE = ROOT / "docs" / "kubernetes.md"
SERVICE = "ngshare"
# Where Zero to JupyterHub's hub listens for its API, and keeps the service tokens.
HUB_API_URL = "http://hub:8081/hub/api"
HUB_SECRET = "hub"
HUB_VOLUME = "/srv/jupyterhub"


def blocks() -> dict[str, tuple[str, str]]:
    """{marker name: (language, text)} of every marked block of the page."""
    text = PAGE.read_text(encoding="utf-8")
    found = re.findall(r"<!-- k8s: (\S+) -->\s*```(\w+)\n(.*?)```", text, re.DOTALL)
    return {name: (language, body) for name, language, body in found}


def values(name: str) -> dict[str, Any]:
    language, text = blocks()[name]
    assert language == "yaml"
    return yaml.safe_load(text)


def z2jh(*names: str) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The services and roles JupyterHub gets from these blocks of chart values."""
    services: list[dict[str, Any]] = []
    roles: list[dict[str, Any]] = []
    for name in names:
        hub = values(name).get("hub", {})
        for key, service in hub.get("services", {}).items():
            service = {"name": key, **service}
            # The chart keeps (or generates) the token in its Secret.
            service.pop("apiToken", None)
            service["api_token"] = f"<{HUB_SECRET} Secret: hub.services.{key}.apiToken>"
            services.append(service)
        roles.extend({"name": key, **role} for key, role in hub.get("loadRoles", {}).items())
    return services, roles


def documented_hub_config(monkeypatch: pytest.MonkeyPatch, *snippets: str) -> Config:
    """The docs/jupyterhub.md configuration, as tests/hub_process.py runs it."""
    monkeypatch.setenv("NGSHARE_API_TOKEN", "secret")
    c = Config()
    for name in snippets:
        exec(docs_snippet(name), {"c": c})  # noqa: S102 (the docs' own config)
    return c


def ngshare_cli_options(command: list[str]) -> NgshareApp:
    """ngshare's settings from a command line, parsed by ngshare (unknown options fail)."""
    app = NgshareApp()
    app.parse_command_line(command[command.index("ngshare") + 1 :])
    return app


def environment(container: dict[str, Any]) -> dict[str, Any]:
    return {item["name"]: item.get("value", item.get("valueFrom")) for item in container["env"]}


# -- the page ------------------------------------------------------------------------


def test_every_block_is_marked_and_parses() -> None:
    text = PAGE.read_text(encoding="utf-8")
    fences = re.findall(r"^```(\w+)$", text, re.MULTILINE)
    files = re.findall(r"<!-- k8s-file: \S+ -->\s*```", text)
    assert len(fences) == len(blocks()) + len(files), (
        "a block without a <!-- k8s: NAME --> or <!-- k8s-file: PATH --> marker"
    )
    for name, (language, body) in blocks().items():
        if language == "yaml":
            assert list(yaml.safe_load_all(body)), name


# -- what the hub is told ---------------------------------------------------------------


def test_roles_are_the_documented_ones(monkeypatch: pytest.MonkeyPatch) -> None:
    documented = documented_hub_config(monkeypatch, "roles", "groups").JupyterHub.load_roles
    _, roles = z2jh("roles", "groups-values")
    assert roles == documented
    assert any("access:services!service=" + SERVICE in r["scopes"] for r in roles)


def test_the_service_entries_are_the_documented_ones(monkeypatch: pytest.MonkeyPatch) -> None:
    managed = documented_hub_config(monkeypatch, "managed").JupyterHub.services
    external = documented_hub_config(monkeypatch, "external").JupyterHub.services
    [k8s_external], _ = z2jh("external-values")
    [k8s_managed], _ = z2jh("managed-values")
    for k8s, [documented] in ((k8s_external, external), (k8s_managed, managed)):
        assert k8s["name"] == documented["name"] == SERVICE
        assert k8s["oauth_no_confirm"] is documented["oauth_no_confirm"] is True
        assert urlsplit(k8s["url"]).scheme == "http"
    assert "api_token" in documented_hub_config(monkeypatch, "external").JupyterHub.services[0]
    assert "command" in k8s_managed and "command" not in k8s_external


# -- the ngshare Deployment (deploy/kubernetes) -------------------------------------------


def test_embedded_files_are_the_repositorys() -> None:
    text = PAGE.read_text(encoding="utf-8")
    embedded = re.findall(r"<!-- k8s-file: (\S+) -->\s*```\w+\n(.*?)```", text, re.DOTALL)
    assert embedded
    for path, body in embedded:
        assert body == (ROOT / path).read_text(encoding="utf-8"), f"{path} drifted from the docs"
    # The page's tree names every file of deploy/kubernetes.
    for path in DEPLOY.rglob("*"):
        if path.is_file():
            assert path.name in text, f"docs/kubernetes.md does not mention {path}"


def test_applied_overlays_exist() -> None:
    language, text = blocks()["apply"]
    assert language == "sh"
    [cd] = re.findall(r"^cd (\S+)$", text, re.MULTILINE)
    applied = re.findall(r"kubectl apply -k (\S+)", text)
    assert applied
    for target in applied:
        assert (ROOT / cd / target).resolve().parent == DEPLOY / "overlays"
        assert (ROOT / cd / target / "kustomization.yaml").is_file()
    [image] = re.findall(r"kustomize edit set image (\w+)=(\S+)", text)
    base = yaml.safe_load((DEPLOY / "base" / "kustomization.yaml").read_text(encoding="utf-8"))
    [named] = base["images"]
    assert image == (named["name"], f"{named['newName']}:{named['newTag']}")
    for overlay in OVERLAYS:
        assert container(overlay)["image"] == image[1]


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_deployment_reaches_the_hub_as_the_registered_service(overlay: str) -> None:
    [service], _ = z2jh("external-values")
    deployment = resource(overlay, "Deployment")
    env = environment(container(overlay))
    assert env["JUPYTERHUB_API_URL"] == HUB_API_URL
    token = env["JUPYTERHUB_API_TOKEN"]["secretKeyRef"]
    assert token == {"name": HUB_SECRET, "key": f"hub.services.{service['name']}.apiToken"}
    assert env["JUPYTERHUB_SERVICE_NAME"] == service["name"]
    assert env["JUPYTERHUB_SERVICE_PREFIX"] == f"/services/{service['name']}/" == PREFIX
    assert env["JUPYTERHUB_CLIENT_ID"] == f"service-{service['name']}"
    options = ngshare_options(overlay)
    assert options.ip == "0.0.0.0"  # noqa: S104 (the pod's address, reached through the Service)
    assert options.admin_users == {"root"}
    # The hub sends /services/ngshare/ to the Service named in its url.
    url = urlsplit(service["url"])
    svc = resource(overlay, "Service")
    assert url.hostname == svc["metadata"]["name"]
    [svc_port] = svc["spec"]["ports"]
    [port] = container(overlay)["ports"]
    assert (url.port, svc_port["targetPort"]) == (svc_port["port"], port["name"])
    assert port["containerPort"] == options.port
    assert (
        deployment["spec"]["template"]["metadata"]["labels"].items()
        >= svc["spec"]["selector"].items()
    )


def documented_secret(name: str) -> tuple[str, dict[str, str]]:
    """The Secret a ``kubectl create secret`` block of the page makes: its name and literals."""
    command = shlex.split(blocks()[name][1].replace("\\\n", " "))
    assert command[:4] == ["kubectl", "create", "secret", "generic"]
    literals = dict(a.split("=", 2)[1:] for a in command if a.startswith("--from-literal="))
    return command[4], literals


@pytest.mark.parametrize(
    ("block", "overlay", "variables"),
    [
        ("postgresql-secret", "postgresql", ("NGSHARE_DB_URL", "NGSHARE_COOKIE_SECRET")),
        ("postgresql-s3-secret", "postgresql-s3", ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")),
    ],
)
def test_documented_secrets_hold_what_the_deployment_reads(
    block: str, overlay: str, variables: tuple[str, ...]
) -> None:
    env = environment(container(overlay))
    secret, literals = documented_secret(block)
    for variable in variables:
        reference = env[variable]["secretKeyRef"]
        assert (reference["name"], reference["key"]) in {(secret, key) for key in literals}
    assert len(literals) == len(variables)
    if "db-url" in literals:
        assert literals["db-url"].startswith("postgresql://")


def test_the_move_to_s3_runs_valid_commands_with_the_overlays_settings() -> None:
    language, text = blocks()["move-to-s3"]
    assert language == "sh"
    lines = text.replace("\\\n", " ").splitlines()
    [export] = [shlex.split(line) for line in lines if line.startswith("export ")]
    exported = dict(item.split("=", 1) for item in export[1:])
    env = environment(container("postgresql-s3"))
    s3_settings = {name for name in env if name.startswith(("NGSHARE_S3_", "AWS_"))}
    assert set(exported) == s3_settings
    copies = [shlex.split(line) for line in lines if "ngshare copy-blobs" in line]
    assert len(copies) == 2
    for words in copies:
        args = words[words.index("copy-blobs") + 1 :]
        command = CopyBlobs()
        command.parse_command_line(args)  # unknown options fail here
        assert command.cli_config.NgshareApp.blob_store == "s3"
        assert command.cli_config.CopyBlobs.from_blob_store == "database"
        assert (
            command.cli_config.NgshareApp.config_file
            == ngshare_options("postgresql-s3").config_file
        )
    [applied] = re.findall(r"kubectl apply -k (\S+)", text)
    assert (ROOT / applied).resolve() == DEPLOY / "overlays" / "postgresql-s3"
    assert ngshare_options("postgresql").blob_store is DatabaseBlobStore


def test_the_managed_service_uses_the_same_admins(monkeypatch: pytest.MonkeyPatch) -> None:
    documented = documented_hub_config(monkeypatch, "managed").JupyterHub.services[0]
    for overlay in OVERLAYS:
        options = ngshare_options(overlay)
        assert ngshare_cli_options(documented["command"]).admin_users == options.admin_users


# -- ngshare managed by the hub ---------------------------------------------------------


def test_managed_service_listens_where_the_proxy_connects() -> None:
    [service], _ = z2jh("managed-values")
    hub = values("managed-values")["hub"]
    options = ngshare_cli_options(service["command"])
    url = urlsplit(service["url"])
    assert url.hostname == "hub" and url.port == options.port
    assert options.ip == "0.0.0.0"  # noqa: S104 (the Service's address is not the pod's)
    assert options.data_dir.startswith(HUB_VOLUME + "/")
    [extra_port] = hub["service"]["extraPorts"]
    assert extra_port["port"] == extra_port["targetPort"] == options.port
    [rule] = hub["networkPolicy"]["ingress"]
    assert rule["ports"] == [{"port": options.port}]
    components = {peer["podSelector"]["matchLabels"]["component"] for peer in rule["from"]}
    assert components == {"proxy", "hub"}


def test_commands_take_the_options_the_hub_tests_use() -> None:
    # The options tests/test_hub_group_roles.py starts ngshare with.
    extra = ["--roles-from-groups", "--HubGroups.group_sync_interval=60"]
    commands = [
        z2jh("managed-values")[0][0]["command"],
        *(["ngshare", *container(overlay)["args"]] for overlay in OVERLAYS),
    ]
    for command in commands:
        options = ngshare_cli_options([*command, *extra])
        assert options.config.HubGroups.roles_from_groups is True


# -- images and users' servers ---------------------------------------------------------


def test_images_install_this_version_with_extras_that_exist() -> None:
    """The images install the wheel of this version (not the index's ngshare 0.6)."""
    provided = set(importlib.metadata.metadata("ngshare").get_all("Provides-Extra") or [])
    wheel = f"ngshare-{ngshare.__version__}-py3-none-any.whl"
    wanted = {"singleuser-image": {"exchange"}, "hub-image": set()}
    for name, extras in wanted.items():
        language, text = blocks()[name]
        assert language == "dockerfile"
        assert f"COPY {wheel} /tmp/" in text
        [install] = re.findall(
            rf"pip install --no-cache-dir \"?/tmp/{re.escape(wheel)}(?:\[([\w,]+)\])?\"?", text
        )
        assert set(filter(None, install.split(","))) == extras <= provided


def test_users_servers_find_the_service(monkeypatch: pytest.MonkeyPatch) -> None:
    singleuser = values("singleuser-values")["singleuser"]
    nbgrader = singleuser["extraFiles"]["nbgrader-config"]
    assert str(Path(nbgrader["mountPath"]).parent) in SYSTEM_CONFIG_PATH
    c = Config()
    exec(nbgrader["stringData"], {"get_config": lambda: c})  # noqa: S102 (the docs' config)
    assert c.ExchangeFactory.exchange is Exchange
    assert c.ExchangeFactory.fetch_assignment is ExchangeFetchAssignment
    assert c.ExchangeFactory.submit is ExchangeSubmit

    # Zero to JupyterHub sets PROXY_PUBLIC_SERVICE_HOST in every pod.
    monkeypatch.delenv("NGSHARE_URL", raising=False)
    monkeypatch.setenv("PROXY_PUBLIC_SERVICE_HOST", "10.100.0.10")
    url = urlsplit(service_url(c.Exchange.get("ngshare_url", "")))
    assert (url.hostname, url.path) == ("proxy-public", PREFIX)

    # ...through the proxy pod's port, which the servers' network policy allows.
    assert singleuser["extraLabels"] == {"hub.jupyter.org/network-access-proxy-http": "true"}
    [rule] = singleuser["networkPolicy"]["egress"]
    [peer] = rule["to"]
    assert peer["podSelector"]["matchLabels"]["component"] == "proxy"
    assert rule["ports"] == [{"port": 8000, "protocol": "TCP"}]
