"""A 50 MB assignment in 300 files goes through release, fetch, submit and collect.

Real nbgrader commands with the ngshare plugin; every byte is compared at
every step.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from nbgrader_users import create_source_assignment, instructor_config, make_user
from server_process import ServerProcess

pytestmark = [pytest.mark.nbgrader, pytest.mark.slow]

FILES = 300
FILE_SIZE = 50 * 1024 * 1024 // FILES  # about 170 KB each, 50 MB in all


def _write_data(root: Path) -> dict[str, str]:
    """300 files of distinct random-looking bytes in nested folders; their sha256s."""
    digests = {}
    for index in range(FILES):
        relative = f"data/part{index % 7}/chunk {index:03d}.bin"
        seed = hashlib.sha256(f"chunk {index}".encode()).digest()
        content = (seed * (FILE_SIZE // len(seed) + 1))[:FILE_SIZE]
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)
        digests[relative] = hashlib.sha256(content).hexdigest()
    return digests


def _digests_under(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in root.rglob("*.bin")
    }


def test_fifty_megabytes_in_three_hundred_files(course: ServerProcess, tmp_path: Path) -> None:
    kim = make_user(tmp_path, course, "kim", config=instructor_config("c1"))
    ana = make_user(tmp_path, course, "ana")
    create_source_assignment(kim, "ps1", "problem1")
    kim.run("generate_assignment", "ps1")
    expected = _write_data(kim.path("release", "ps1"))
    assert sum(p.stat().st_size for p in kim.path("release", "ps1").rglob("*.bin")) >= 50_000_000

    kim.run("release_assignment", "ps1")
    ana.run("fetch_assignment", "ps1", "--course", "c1")
    assert _digests_under(ana.path("ps1")) == expected

    ana.run("submit", "ps1", "--course", "c1")
    kim.run("collect", "ps1")
    collected = kim.path("submitted", "ana", "ps1")
    assert _digests_under(collected) == expected
    assert (collected / "timestamp.txt").is_file()
