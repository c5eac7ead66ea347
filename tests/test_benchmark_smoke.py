"""The benchmarks still run: the deadline rush at tiny sizes on this server's two APIs
(also on two replicas sharing an S3 bucket), the per-request costs for a few students,
and the floor of a durable submit.

No figure is checked (tests never assert on wall time): only that the run
verifies every byte, exits 0, prints its table and writes its JSON.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from server_process import clean_env, database_backend

RUSH = Path(__file__).resolve().parent.parent / "benchmarks" / "rush.py"


def small_rush(tmp_path: Path, *options: str) -> tuple[subprocess.CompletedProcess[str], dict]:
    """A 4-student rush on both APIs, with ``options``; its run and its JSON figures."""
    figures = tmp_path / "rush.json"
    command = [
        sys.executable,
        str(RUSH),
        "--students=4",
        "--concurrency=2",
        "--notebook-kb=10",
        "--data-mb=0.1",
        "--targets=v1,v2",
        f"--database={database_backend()}",
        f"--workdir={tmp_path / 'work'}",
        f"--json={figures}",
        *options,
    ]
    result = subprocess.run(
        command, capture_output=True, text=True, timeout=180, env=clean_env(), check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result, json.loads(figures.read_text())


def test_rush_runs_and_verifies(tmp_path: Path) -> None:
    result, document = small_rush(tmp_path)
    output = result.stdout + result.stderr
    assert "rush wall time (s)" in result.stdout
    assert "collect all (s)" in result.stdout
    verified = [line for line in result.stdout.splitlines() if line.startswith("verified")]
    assert verified and verified[0].split()[1:] == ["yes", "yes"], output

    targets = {t["name"]: t for t in document["targets"]}
    assert set(targets) == {"v1", "v2"}
    for target in targets.values():
        assert target["ok"], target
        assert target["collected"] == 4
        assert target["stored_bytes"] > 0


def test_rush_runs_on_two_replicas_sharing_a_bucket(tmp_path: Path) -> None:
    _, document = small_rush(tmp_path, "--blob-store=s3", "--replicas=2", "--no-pin", "--keep")
    assert document["workload"]["replicas"] == 2
    assert document["workload"]["blob_store"] == "s3"
    for target in document["targets"]:
        assert target["ok"] and target["collected"] == 4, target
        assert "2 replicas" in target["description"], target
    # Both replicas served, and kept no blob file of their own.
    for name in ("v1", "v2"):
        for replica in ("server0", "server1"):
            workdir = tmp_path / "work" / name / replica
            assert "POST" in (workdir / "server.log").read_text()
            assert not (workdir / "blobs").exists() or not any((workdir / "blobs").iterdir())


def cpu_rows(script: str, cwd: Path) -> tuple[list[str], str]:
    """Run a per-request benchmark for 3 students; its "ms CPU" lines, and its output."""
    result = subprocess.run(
        [sys.executable, str(RUSH.with_name(script)), "--students=3"],
        capture_output=True,
        text=True,
        timeout=120,
        env=clean_env(),
        check=False,
        cwd=cwd,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return [line for line in result.stdout.splitlines() if "ms CPU" in line], result.stdout


def test_request_costs_runs(tmp_path: Path) -> None:
    rows, output = cpu_rows("request_costs.py", tmp_path)
    assert len(rows) == 15, output
    assert rows[1].startswith("GET user (who am I"), output
    assert any(row.startswith("GET the assignment as a bundle") for row in rows), output
    assert any(row.startswith("POST .../submissions, a bundle") for row in rows), output
    assert rows[11].startswith("GET .../submissions?latest=true")
    assert [row.split("  ")[0] for row in rows[12:]] == [
        "v1 GET assignment (a fetch)",
        "v1 GET assignment, list_only",
        "v1 POST submission (3 notebooks, the data file)",
    ], output


def test_durable_floor_runs(tmp_path: Path) -> None:
    rows, output = cpu_rows("durable_floor.py", tmp_path)
    assert [row.split(":")[0] for row in rows] == ["fetch", "submit"], output


def test_page_times_runs(tmp_path: Path) -> None:
    result = subprocess.run(
        [
            sys.executable,
            str(RUSH.with_name("page_times.py")),
            "--students=12",
            "--requests=2",
            f"--database={database_backend()}",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        env=clean_env(),
        check=False,
        cwd=tmp_path,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    rows = [line for line in result.stdout.splitlines() if line.endswith("kB")]
    assert [row.split("  ")[0] for row in rows] == [
        "status table (instructor)",
        "status table, not submitted only",
        "course page (instructor)",
        "roster (instructor)",
        "assignment page (a student)",
        "home (a student)",
    ], output


def test_the_ngshare06_import_benchmark_runs() -> None:
    script = RUSH.with_name("import_ngshare06.py")
    result = subprocess.run(
        [sys.executable, str(script), "--students=2", "--data-kb=4", "--with-ngshare06"],
        capture_output=True,
        text=True,
        timeout=300,
        env=clean_env(),
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "= 12 submissions" in result.stdout
    assert "submissions/s" in result.stdout
