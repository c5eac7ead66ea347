"""The ngshare 0.6 migration guide's commands work as written.

docs/migrating-from-ngshare-0.6.md marks its shell blocks: ``variables``
(the paths, replaced here by the test's), ``run`` (back up, import),
``verify`` and ``run-rollback``. They run with bash, in order, against a real
ngshare 0.6.0 that holds a course history (tests/test_import_ngshare06.py);
the blocks that stop the hub and run nbgrader in users' servers are not run
(the nbgrader side is tests/test_compat_ngshare_exchange.py's). After the
roll-back ngshare 0.6 starts again on its data and answers as the new server.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from ngshare06_process import Ngshare06Process
from server_process import ServerProcess, clean_env
from test_import_ngshare06 import compare_reads, old_server  # noqa: F401 (a fixture)

pytestmark = [pytest.mark.slow]

GUIDE = Path(__file__).resolve().parent.parent / "docs" / "migrating-from-ngshare-0.6.md"
BLOCK = re.compile(r"<!-- migration: ([\w-]+) -->\n```bash\n(.*?)```", re.DOTALL)


def marked_blocks() -> list[tuple[str, str]]:
    return BLOCK.findall(GUIDE.read_text(encoding="utf-8"))


def run_blocks(kind: str, variables: dict[str, str]) -> subprocess.CompletedProcess[str]:
    script = "\n".join(
        [
            *(f"{name}={shlex.quote(value)}" for name, value in variables.items()),
            *(code for marked, code in marked_blocks() if marked == kind),
        ]
    )
    env = clean_env(PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    result = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", script],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result


def test_every_command_block_is_marked() -> None:
    kinds = [kind for kind, _ in marked_blocks()]
    assert kinds == ["variables", "run", "run", "verify", "run-rollback"]
    variables = dict(marked_blocks())["variables"]
    assigned = re.findall(r"^(\w+)=", variables, re.MULTILINE)
    assert assigned == ["OLD_DB", "OLD_FILES", "BACKUP", "NEW_CONFIG", "NGSHARE_URL", "ADMIN_TOKEN"]


def test_the_guide_moves_a_school_and_rolls_back(
    old_server: Ngshare06Process,  # noqa: F811
    migrated_db_url: str,
    start_server: Callable[..., ServerProcess],
    tmp_path: Path,
) -> None:
    old_server.stop()  # step 1
    new = tmp_path / "new"
    new.mkdir()
    config = new / "ngshare_config.py"
    config.write_text(
        f"c.NgshareApp.db_url = {migrated_db_url!r}\n"
        f"c.NgshareApp.data_dir = {str(new / 'data')!r}\n"
        f"c.NgshareApp.storage_path = {str(new / 'blobs')!r}\n",
        encoding="utf-8",
    )
    variables = {
        "OLD_DB": str(old_server.database),
        "OLD_FILES": str(old_server.storage),
        "BACKUP": str(tmp_path / "backup"),
        "NEW_CONFIG": str(config),
    }
    imported = run_blocks("run", variables)
    assert "Would import 3 courses" in imported.stdout, imported.stdout
    assert "Imported 3 courses" in imported.stdout
    assert "Skipped: 0" in imported.stdout
    assert (tmp_path / "backup" / "ngshare.db").is_file()

    server = start_server(storage_path=new / "blobs")  # step 4: the hub starts it
    verified = run_blocks(
        "verify",
        {
            **variables,
            "NGSHARE_URL": server.url.rstrip("/"),
            "ADMIN_TOKEN": server.token("admin"),
        },
    )
    assert '"courses": ["Data Science 101", "c1", "empty course"]' in verified.stdout
    assert "0 missing, 0 corrupt" in verified.stderr

    run_blocks("run-rollback", variables)
    old_server.spawn().wait_ready()
    compare_reads(server, old_server)
