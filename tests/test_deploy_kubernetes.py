"""The Kubernetes manifests in deploy/kubernetes: they render, validate, and run.

Every overlay is rendered with ``kubectl kustomize`` (what ``kubectl apply -k``
uses) and each resource is validated strictly against the Kubernetes 1.30
schemas with kubernetes-validate (offline). The Deployment's promises are
checked on the rendered output: non-root, no privilege escalation, a
read-only root filesystem, resources, probes on /healthz and /readyz, a
grace period covering preStop and the server's drain, the label the hub's
network policy needs, no service-account token.

Then each rendered Deployment is run here, as far as a machine without a
cluster can: its command, arguments and literal environment start a real
ngshare process, its ConfigMap becomes the mounted config file, each volume
becomes a directory, each Secret reference a test value (PostgreSQL from the
test server), each ConfigMap reference its rendered value, an in-cluster S3
endpoint a real one on loopback (moto, with a fresh bucket); the probes'
paths must answer as the probes expect, nothing may be written outside the
volumes (the root filesystem is read-only in the cluster), and SIGTERM must
end the process within the grace period.
"""

from __future__ import annotations

import importlib.metadata
import json
import re
import secrets
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import kubernetes_validate
import pytest
import requests
from kubernetes_manifests import (
    OVERLAYS,
    ROOT,
    container,
    kinds,
    ngshare_options,
    pod_spec,
    rendered,
    resource,
)
from s3_server import CREDENTIALS, MotoServer
from server_process import clean_env, free_port, fresh_database, wait_for_health

from ngshare.server.app import NgshareApp
from ngshare.server.storage.blobs.database import DatabaseBlobStore
from ngshare.server.storage.blobs.s3 import S3BlobStore

pytestmark = pytest.mark.database_independent

KUBERNETES_VERSION = "1.30.0"
HUB_LABEL = "hub.jupyter.org/network-access-hub"


# -- rendering and validation --------------------------------------------------------


def test_there_are_the_three_documented_overlays() -> None:
    assert OVERLAYS == ["postgresql", "postgresql-s3", "sqlite"]


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_resource_validates_strictly(overlay: str) -> None:
    for doc in rendered(overlay):
        kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)


def test_validation_would_catch_a_misspelt_field() -> None:
    deployment = dict(resource("sqlite", "Deployment"))
    deployment["spec"] = {**deployment["spec"], "replica": 1}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, KUBERNETES_VERSION, strict=True)


# -- what every pod promises ---------------------------------------------------------


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_the_pod_runs_unprivileged_with_a_read_only_root(overlay: str) -> None:
    spec = pod_spec(overlay)
    assert spec["securityContext"]["runAsNonRoot"] is True
    assert spec["securityContext"]["runAsUser"] != 0
    assert spec["automountServiceAccountToken"] is False
    account = resource(overlay, "ServiceAccount")
    assert spec["serviceAccountName"] == account["metadata"]["name"]
    assert account["automountServiceAccountToken"] is False
    security = container(overlay)["securityContext"]
    assert security["allowPrivilegeEscalation"] is False
    assert security["readOnlyRootFilesystem"] is True
    assert security["capabilities"]["drop"] == ["ALL"]
    resources = container(overlay)["resources"]
    assert {"cpu", "memory"} <= resources["requests"].keys()
    assert "memory" in resources["limits"]


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_probes_grace_period_and_hub_access(overlay: str) -> None:
    ngshare = container(overlay)
    [port] = ngshare["ports"]
    assert port["containerPort"] == ngshare_options(overlay).port
    assert ngshare["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": port["name"]}
    assert ngshare["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": port["name"]}
    assert ngshare["startupProbe"]["httpGet"]["path"] == "/healthz"
    # A terminating pod first waits out preStop, then the server drains.
    pre_stop = ngshare["lifecycle"]["preStop"]["exec"]["command"]
    assert pre_stop[0] == "sleep"
    drain = NgshareApp().shutdown_timeout
    assert pod_spec(overlay)["terminationGracePeriodSeconds"] > int(pre_stop[1]) + drain
    labels = resource(overlay, "Deployment")["spec"]["template"]["metadata"]["labels"]
    assert labels[HUB_LABEL] == "true"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_service_policy_and_budget_select_the_pods(overlay: str) -> None:
    deployment = resource(overlay, "Deployment")
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert deployment["spec"]["selector"]["matchLabels"].items() <= labels.items()
    service = resource(overlay, "Service")
    assert service["spec"]["selector"].items() <= labels.items()
    [service_port] = service["spec"]["ports"]
    assert service_port["targetPort"] == container(overlay)["ports"][0]["name"]
    policy = resource(overlay, "NetworkPolicy")["spec"]
    assert policy["podSelector"]["matchLabels"].items() <= labels.items()
    peers = [p["podSelector"]["matchLabels"] for p in policy["ingress"][0]["from"]]
    assert peers == [
        {"app": "jupyterhub", "component": "proxy"},
        {"app": "jupyterhub", "component": "hub"},
    ]
    if "PodDisruptionBudget" in kinds(overlay):
        budget = resource(overlay, "PodDisruptionBudget")["spec"]
        assert budget["selector"]["matchLabels"].items() <= labels.items()
        assert budget["minAvailable"] < deployment["spec"]["replicas"]


def test_sqlite_runs_one_replica_on_its_volume() -> None:
    deployment = resource("sqlite", "Deployment")
    assert deployment["spec"]["replicas"] == 1
    assert deployment["spec"]["strategy"]["type"] == "Recreate"
    mounts = {m["name"]: m["mountPath"] for m in container("sqlite")["volumeMounts"]}
    volumes = {v["name"]: v for v in pod_spec("sqlite")["volumes"]}
    claim = resource("sqlite", "PersistentVolumeClaim")["metadata"]["name"]
    [data] = [n for n, v in volumes.items() if "persistentVolumeClaim" in v]
    assert volumes[data]["persistentVolumeClaim"]["claimName"] == claim
    assert mounts[data] == "/srv/ngshare"


def test_postgresql_runs_replicas_sharing_only_the_database() -> None:
    deployment = resource("postgresql", "Deployment")
    assert deployment["spec"]["replicas"] >= 2
    assert "PersistentVolumeClaim" not in kinds("postgresql")
    assert ngshare_options("postgresql").blob_store is DatabaseBlobStore
    env = {e["name"]: e for e in container("postgresql")["env"]}
    for variable, key in (("NGSHARE_DB_URL", "db-url"), ("NGSHARE_COOKIE_SECRET", "cookie-secret")):
        assert env[variable]["valueFrom"]["secretKeyRef"] == {"name": "ngshare", "key": key}


def test_postgresql_s3_runs_replicas_on_the_database_and_a_bucket() -> None:
    deployment = resource("postgresql-s3", "Deployment")
    assert deployment["spec"]["replicas"] >= 2
    assert deployment["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"] == 0
    assert "PodDisruptionBudget" in kinds("postgresql-s3")
    assert "PersistentVolumeClaim" not in kinds("postgresql-s3")
    assert ngshare_options("postgresql-s3").blob_store is S3BlobStore
    env = {e["name"]: e.get("valueFrom", e.get("value")) for e in container("postgresql-s3")["env"]}
    assert env["NGSHARE_DB_URL"]["secretKeyRef"] == {"name": "ngshare", "key": "db-url"}
    assert env["NGSHARE_COOKIE_SECRET"]["secretKeyRef"]["name"] == "ngshare"
    # The bucket's address from a ConfigMap, the credentials from a Secret,
    # each under the name the S3 store and boto3 read.
    for setting in ("endpoint_url", "bucket", "prefix", "region"):
        assert "configMapKeyRef" in env[f"NGSHARE_S3_{setting.upper()}"], setting
        assert f"$NGSHARE_S3_{setting.upper()}" in S3BlobStore.class_traits()[setting].help
    for variable in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        assert env[variable]["secretKeyRef"]["name"] == "ngshare-s3"
    # The ConfigMap holds the address only: no credential sits in plain sight.
    [bucket_address] = {
        env[f"NGSHARE_S3_{setting}"]["configMapKeyRef"]["name"]
        for setting in ("ENDPOINT_URL", "BUCKET", "PREFIX", "REGION")
    }
    [config_map] = [
        doc
        for doc in rendered("postgresql-s3")
        if doc["kind"] == "ConfigMap" and doc["metadata"]["name"] == bucket_address
    ]
    assert set(config_map["data"]) == {"endpoint-url", "bucket", "prefix", "region"}


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_config_map_key_the_pod_reads_exists(overlay: str) -> None:
    config_maps = {
        doc["metadata"]["name"]: doc["data"]
        for doc in rendered(overlay)
        if doc["kind"] == "ConfigMap"
    }
    for item in container(overlay)["env"]:
        reference = item.get("valueFrom", {}).get("configMapKeyRef")
        if reference is not None:
            assert reference["key"] in config_maps[reference["name"]], item["name"]


# -- the image ------------------------------------------------------------------------


def image_instruction(name: str) -> str:
    """The argument of the final stage's last ``name`` instruction in the Dockerfile."""
    final_stage = (ROOT / "Dockerfile").read_text(encoding="utf-8").rsplit("\nFROM ", 1)[1]
    found = re.findall(rf"^{name} (.+)$", final_stage, re.MULTILINE)
    assert found, f"the Dockerfile's final stage has no {name}"
    return found[-1].strip()


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_the_image_runs_as_the_pods_user(overlay: str) -> None:
    user = image_instruction("USER").split(":")[0]
    assert user.isdigit() and int(user) != 0, "a numeric user lets runAsNonRoot verify it"
    assert int(user) == pod_spec(overlay)["securityContext"]["runAsUser"]
    assert json.loads(image_instruction("ENTRYPOINT")) == container(overlay)["command"]


def test_the_image_installs_extras_that_exist() -> None:
    provided = set(importlib.metadata.metadata("ngshare").get_all("Provides-Extra") or [])
    text = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    extras = set(re.findall(r'"(?:ngshare|\.)\[([\w,]+)\]"', text))
    extras = {name for group in extras for name in group.split(",")}
    # PostgreSQL for the replicas, boto3 for the S3 store (postgresql-s3).
    assert extras == {"postgresql", "s3"} and extras <= provided


# -- running a rendered Deployment here ------------------------------------------------


class Pod:
    """A rendered Deployment's container as a local process.

    Paths of the container's filesystem map to directories here: each volume
    mount to a directory of its own, everything else to ``rootfs``, which
    must stay empty (the cluster's root filesystem is read-only).
    """

    def __init__(
        self,
        overlay: str,
        workdir: Path,
        secret_values: dict[str, str],
        unreachable: dict[str, str] | None = None,
    ) -> None:
        self.overlay = overlay
        # Variables naming in-cluster services, with the local stand-ins.
        self.unreachable = unreachable or {}
        self.workdir = workdir
        self.rootfs = workdir / "rootfs"
        self.rootfs.mkdir(parents=True)
        self.image_paths: set[Path] = set()
        self.port = free_port()
        self.mounts: dict[str, Path] = {}
        self._mount_volumes()
        self.env = self._environment(secret_values)
        self.args = [self._local_arg(a) for a in container(overlay)["args"]]
        self.log = workdir / "ngshare.log"
        self.process: subprocess.Popen[bytes] | None = None

    def local_path(self, path: str) -> Path:
        """Where a path of the container's filesystem is here."""
        for mount in sorted(self.mounts, key=len, reverse=True):
            if path == mount or path.startswith(mount + "/"):
                return self.mounts[mount] / path[len(mount) :].lstrip("/")
        return self.rootfs / path.lstrip("/")

    def _localize(self, text: str) -> str:
        """A config file's text with every quoted absolute path made local."""
        return re.sub(r'"(/[^"]*)"', lambda m: f'"{self.local_path(m.group(1))}"', text)

    def _local_arg(self, arg: str) -> str:
        if arg.startswith("--ip="):
            return "--ip=127.0.0.1"  # only loopback here
        if arg.startswith("--port="):
            return f"--port={self.port}"
        name, equals, value = arg.partition("=")
        if equals and value.startswith("/"):
            return f"{name}={self.local_path(value)}"
        return str(self.local_path(arg)) if arg.startswith("/") else arg

    def _mount_volumes(self) -> None:
        volumes = {v["name"]: v for v in pod_spec(self.overlay)["volumes"]}
        for mount in container(self.overlay)["volumeMounts"]:
            local = self.workdir / "volumes" / mount["name"]
            local.mkdir(parents=True)
            self.mounts[mount["mountPath"]] = local
        for mount in container(self.overlay)["volumeMounts"]:
            config_map = volumes[mount["name"]].get("configMap")
            if config_map is None:
                continue
            [data] = [
                doc["data"]
                for doc in rendered(self.overlay)
                if doc["kind"] == "ConfigMap" and doc["metadata"]["name"] == config_map["name"]
            ]
            for name, text in data.items():
                (self.mounts[mount["mountPath"]] / name).write_text(
                    self._localize(text), encoding="utf-8"
                )

    def _environment(self, secret_values: dict[str, str]) -> dict[str, str]:
        env = clean_env(HOME=str(self.local_path("/home")), TMPDIR=str(self.local_path("/tmp")))
        for item in container(self.overlay)["env"]:
            if "value" in item:
                value = item["value"]
                env[item["name"]] = (
                    str(self.local_path(value))
                    if value.startswith("/") and (item["name"] != "JUPYTERHUB_SERVICE_PREFIX")
                    else value
                )
            elif "configMapKeyRef" in item["valueFrom"]:
                reference = item["valueFrom"]["configMapKeyRef"]
                [data] = [
                    doc["data"]
                    for doc in rendered(self.overlay)
                    if doc["kind"] == "ConfigMap" and doc["metadata"]["name"] == reference["name"]
                ]
                env[item["name"]] = data[reference["key"]]
            else:
                reference = item["valueFrom"]["secretKeyRef"]
                env[item["name"]] = secret_values[f"{reference['name']}/{reference['key']}"]
        # The hub's in-cluster address is not reachable here: a closed loopback port.
        env["JUPYTERHUB_API_URL"] = f"http://127.0.0.1:{free_port()}/hub/api"
        for name, value in self.unreachable.items():
            assert name in env, f"{self.overlay} does not set {name}"
            env[name] = value
        return env

    def probe_url(self, probe: str) -> str:
        path = container(self.overlay)[probe]["httpGet"]["path"]
        return f"http://127.0.0.1:{self.port}{path}"

    def start(self) -> Pod:
        [program] = container(self.overlay)["command"]
        # The image's `ngshare` is this environment's, run where the image runs it.
        command = [str(Path(sys.executable).with_name(program)), *self.args]
        cwd = self.local_path(image_instruction("WORKDIR"))
        if not cwd.exists():
            cwd.mkdir(parents=True)
            self.image_paths.update([cwd, *cwd.parents])
        with open(self.log, "wb") as out:
            self.process = subprocess.Popen(command, env=self.env, cwd=cwd, stdout=out, stderr=out)
        wait_for_health(self.probe_url("startupProbe"), self.process, self.log, timeout=90)
        return self

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()

    def written_outside_volumes(self) -> list[str]:
        """What the process made on the root filesystem (the image's own directories aside)."""
        made = [p for p in self.rootfs.rglob("*") if p not in self.image_paths]
        return sorted(str(p.relative_to(self.rootfs)) for p in made)


@pytest.fixture
def secret_values(tmp_path: Path) -> Iterator[dict[str, str]]:
    # The overlays that read a database URL are the PostgreSQL ones.
    with fresh_database(tmp_path, "postgresql") as db_url:
        yield {
            "hub/hub.services.ngshare.apiToken": secrets.token_hex(16),
            "ngshare/db-url": db_url,
            "ngshare/cookie-secret": secrets.token_hex(32),
            "ngshare-s3/access-key-id": CREDENTIALS["AWS_ACCESS_KEY_ID"],
            "ngshare-s3/secret-access-key": CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
        }


def stand_ins(overlay: str, request: pytest.FixtureRequest) -> dict[str, str]:
    """Local stand-ins for the in-cluster services an overlay's pod reaches."""
    if ngshare_options(overlay).blob_store is not S3BlobStore:
        return {}
    # The bucket's in-cluster endpoint: a real S3 endpoint on loopback, a fresh bucket.
    s3: MotoServer = request.getfixturevalue("s3")
    return {"NGSHARE_S3_ENDPOINT_URL": s3.endpoint_url, "NGSHARE_S3_BUCKET": s3.create_bucket()}


@pytest.fixture
def run_pod(
    tmp_path: Path, secret_values: dict[str, str], request: pytest.FixtureRequest
) -> Iterator[Callable[[str], Pod]]:
    pods: list[Pod] = []

    def run(overlay: str) -> Pod:
        pod = Pod(overlay, tmp_path / overlay, secret_values, stand_ins(overlay, request))
        pods.append(pod)
        return pod.start()

    yield run
    for pod in pods:
        pod.stop()


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_the_rendered_deployment_starts_and_answers_its_probes(
    run_pod: Callable[[str], Pod], overlay: str, request: pytest.FixtureRequest
) -> None:
    pod = run_pod(overlay)
    for probe in ("livenessProbe", "readinessProbe", "startupProbe"):
        response = requests.get(pod.probe_url(probe), timeout=30)
        assert response.status_code == 200, (probe, response.text)
        assert response.json()["success"] is True
    assert requests.get(pod.probe_url("readinessProbe"), timeout=30).json()["checks"] == {
        "database": "ok",
        "blob_store": "ok",
    }
    assert pod.process is not None
    pod.process.send_signal(signal.SIGTERM)
    grace = pod_spec(overlay)["terminationGracePeriodSeconds"]
    assert pod.process.wait(timeout=grace) == 0, pod.log.read_text()
    assert pod.written_outside_volumes() == []
    if overlay == "sqlite":
        # Everything the server keeps is on the volume.
        data = pod.mounts["/srv/ngshare"]
        assert (data / "ngshare.sqlite").is_file()
        assert (data / "blobs").is_dir()
    if "NGSHARE_S3_BUCKET" in pod.unreachable:
        # The server worked in the bucket, under the ConfigMap's prefix: it
        # recorded the store's identity there.
        s3: MotoServer = request.getfixturevalue("s3")
        prefix = pod.env["NGSHARE_S3_PREFIX"]
        assert prefix and f"{prefix}store-id" in s3.keys(pod.env["NGSHARE_S3_BUCKET"])
