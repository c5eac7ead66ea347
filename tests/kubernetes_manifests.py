"""The rendered Kubernetes manifests of deploy/kubernetes, for the tests that check them.

``rendered(overlay)`` is what ``kubectl kustomize`` (and so ``kubectl apply
-k``) makes of an overlay; the other functions pick resources out of it.
"""

from __future__ import annotations

import functools
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import yaml

from ngshare.server.app import NgshareApp

ROOT = Path(__file__).resolve().parent.parent
DEPLOY = ROOT / "deploy" / "kubernetes"
OVERLAYS = sorted(p.name for p in (DEPLOY / "overlays").iterdir() if p.is_dir())


@functools.cache
def rendered(overlay: str) -> tuple[dict[str, Any], ...]:
    kubectl = shutil.which("kubectl")
    assert kubectl, "kubectl is needed to render deploy/kubernetes (it is on these machines)"
    result = subprocess.run(
        [kubectl, "kustomize", str(DEPLOY / "overlays" / overlay)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return tuple(doc for doc in yaml.safe_load_all(result.stdout) if doc)


def resource(overlay: str, kind: str) -> dict[str, Any]:
    [found] = [doc for doc in rendered(overlay) if doc["kind"] == kind]
    return found


def kinds(overlay: str) -> set[str]:
    return {doc["kind"] for doc in rendered(overlay)}


def pod_spec(overlay: str) -> dict[str, Any]:
    return resource(overlay, "Deployment")["spec"]["template"]["spec"]


def container(overlay: str) -> dict[str, Any]:
    [only] = pod_spec(overlay)["containers"]
    return only


def mounted_file(overlay: str, path: str) -> str:
    """The text of a file the pod sees at ``path`` through a ConfigMap volume."""
    directory, _, name = path.rpartition("/")
    volumes = {v["name"]: v for v in pod_spec(overlay)["volumes"]}
    [mount] = [m for m in container(overlay)["volumeMounts"] if m["mountPath"] == directory]
    config_map = volumes[mount["name"]]["configMap"]["name"]
    [data] = [
        doc["data"]
        for doc in rendered(overlay)
        if doc["kind"] == "ConfigMap" and doc["metadata"]["name"] == config_map
    ]
    return str(data[name])


def ngshare_options(overlay: str) -> NgshareApp:
    """The server's settings as it reads them: the mounted config file, then the arguments.

    Parsed by ngshare itself, so an unknown option or a bad value fails here.
    """
    app = NgshareApp()
    app.parse_command_line(container(overlay)["args"])
    with tempfile.TemporaryDirectory() as scratch:
        config = Path(scratch) / "ngshare_config.py"
        config.write_text(mounted_file(overlay, app.config_file), encoding="utf-8")
        app.load_config_file(str(config))
    app.update_config(app.cli_config)
    return app
