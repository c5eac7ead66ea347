"""``ngshare copy-blobs`` moves a deployment's content from one blob store to another.

Each test fills a real server, stops it, runs the command as an operator
would (a process of its own), then starts a server on the target store and
reads every file back over HTTP: a release, two submissions and feedback,
with a file larger than the database store's chunks and content shared
between them. The moves: filesystem to database to another volume, and
filesystem to S3 (moto, ``s3_server.py``) to another bucket. Around that: a
rerun copies nothing, a damaged copy in the target is replaced, content
missing or damaged in the source is reported with a non-zero exit (and the
switch is not recorded), and the store identity the database records
follows the move, so the old place is refused afterwards.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable
from pathlib import Path

from conftest import enroll
from ngshare_commands import ngshare_command
from s3_server import MotoServer
from server_process import ServerProcess
from v1_support import ok, read_tree, tree

# Larger than the database store's 1 MiB chunks, so a blob spans several.
LARGE = hashlib.sha256(b"data").digest() * (80 * 1024)
RELEASE = {"ps1.ipynb": b'{"cells": []}', "data/table.bin": LARGE, "README.md": b"# ps1\n"}
SUBMISSIONS = {
    "ana": {"ps1.ipynb": b'{"cells": ["ana"]}', "data/table.bin": LARGE},
    "bob": {"ps1.ipynb": b'{"cells": ["bob"]}', "notes.txt": "zoë's notes".encode()},
}
FEEDBACK = {"ps1.html": b"<p>well done, ana</p>"}


def release_for(assignment: str) -> dict[str, bytes]:
    """The release, with one file of its own (so each assignment adds one new blob)."""
    return {**RELEASE, "assignment.txt": assignment.encode()}


# Every distinct content of one assignment: what the database refers to.
DISTINCT = len(
    {
        *release_for("ps1").values(),
        *(data for files in SUBMISSIONS.values() for data in files.values()),
        *FEEDBACK.values(),
    }
)


def fill(server: ServerProcess, assignment: str = "ps1") -> None:
    """A release, a submission per student and feedback for ana, over v1."""
    if assignment == "ps1":
        enroll(server, "c1", "kim", list(SUBMISSIONS))
    kim = server.client("kim")
    ok(kim.post("assignment", "c1", assignment, data={"files": tree(release_for(assignment))}))
    for student, files in SUBMISSIONS.items():
        ok(server.client(student).post("submission", "c1", assignment, data={"files": tree(files)}))
    [ana] = ok(kim.get("submissions", "c1", assignment))["submissions"][:1]
    ok(
        kim.post(
            "feedback",
            "c1",
            assignment,
            ana["student_id"],
            data={"timestamp": ana["timestamp"], "files": tree(FEEDBACK)},
        )
    )


def read_back(server: ServerProcess, assignment: str = "ps1") -> None:
    """Every file of ``fill`` comes back from ``server`` with its exact bytes."""
    kim = server.client("kim")
    assert read_tree(ok(kim.get("assignment", "c1", assignment))["files"]) == release_for(
        assignment
    )
    for student, files in SUBMISSIONS.items():
        body = ok(kim.get("submission", "c1", assignment, student))
        assert read_tree(body["files"]) == files
    [ana] = [
        s
        for s in ok(kim.get("submissions", "c1", assignment))["submissions"]
        if s["student_id"] == "ana"
    ]
    body = ok(
        server.client("ana").get(
            "feedback", "c1", assignment, "ana", params={"timestamp": ana["timestamp"]}
        )
    )
    assert read_tree(body["files"]) == FEEDBACK


def copy_blobs(db_url: str, *args: str, check: bool = True) -> str:
    result = ngshare_command(db_url, "copy-blobs", *args, check=check)
    return result.stdout + result.stderr


def summary(log: str) -> dict[str, int]:
    """The figures of the command's final summary line."""
    match = re.search(
        r"(\d+) blobs: (\d+) copied \([^)]*\), (\d+) already there, (\d+) missing in the "
        r"source, (\d+) corrupt in the source, (\d+) failed verification in the target",
        log,
    )
    assert match, log
    names = ("total", "copied", "already_there", "missing", "corrupt", "unverified")
    return dict(zip(names, map(int, match.groups()), strict=True))


def blob_files(path: Path) -> dict[str, Path]:
    return {p.name: p for p in path.glob("??/??/*") if p.is_file()}


def test_filesystem_to_database_and_back_to_another_volume(
    start_server: Callable[..., ServerProcess], tmp_path: Path
) -> None:
    volume_a, volume_b = tmp_path / "volume-a", tmp_path / "volume-b"
    first = start_server(storage_path=volume_a)
    fill(first)
    first.stop()
    db_url, tokens = first.db_url, first.tokens

    # Filesystem -> database: everything copied, verified, then nothing on a rerun.
    log = copy_blobs(
        db_url,
        "--blob-store=database",
        "--from-blob-store=filesystem",
        f"--from-storage-path={volume_a}",
    )
    assert summary(log) == dict(
        total=DISTINCT, copied=DISTINCT, already_there=0, missing=0, corrupt=0, unverified=0
    )
    assert "Start the servers with --blob-store=database" in log
    assert f"Progress: {DISTINCT} of {DISTINCT} blobs ({DISTINCT} copied" in log
    rerun = copy_blobs(
        db_url,
        "--blob-store=database",
        "--from-blob-store=filesystem",
        f"--from-storage-path={volume_a}",
    )
    assert summary(rerun)["copied"] == 0 and summary(rerun)["already_there"] == DISTINCT
    # The content left the filesystem: a server still on volume A is refused.
    stale = ngshare_command(db_url, "verify-storage", f"--storage-path={volume_a}", check=False)
    assert stale.returncode == 1
    assert "the database's content was moved from filesystem stores" in stale.stderr

    # A server on the database store, with an empty directory it must not need.
    on_database = start_server(
        storage_path=tmp_path / "unused", tokens=tokens, extra_args=["--blob-store=database"]
    )
    read_back(on_database)
    fill(on_database, "ps2")  # content only the database store has
    on_database.stop()
    assert blob_files(tmp_path / "unused") == {}

    # Database -> a new volume: the database recorded volume A; now it records B.
    log = copy_blobs(db_url, f"--storage-path={volume_b}", "--from-blob-store=database", "--jobs=2")
    assert summary(log)["copied"] == DISTINCT + 1  # ps2 adds only its own file
    assert re.search(
        r"Recorded \S+volume-b \(store [0-9a-f]{32}\) as the database's filesystem", log
    )
    on_volume_b = start_server(storage_path=volume_b, tokens=tokens)
    read_back(on_volume_b)
    read_back(on_volume_b, "ps2")
    on_volume_b.stop()
    ngshare_command(db_url, "verify-storage", "--rehash", f"--storage-path={volume_b}")

    # Volume A lacks ps2's content: a server on it is refused, in one line;
    # volume B, the filesystem store now recorded, is accepted.
    refused = ngshare_command(db_url, "verify-storage", f"--storage-path={volume_a}", check=False)
    assert refused.returncode == 1
    assert "Replicas must share one blob store" in refused.stderr


def test_missing_and_damaged_content_is_reported_and_the_switch_withheld(
    start_server: Callable[..., ServerProcess], tmp_path: Path
) -> None:
    source, target = tmp_path / "old", tmp_path / "new"
    server = start_server(storage_path=source)
    fill(server)
    server.stop()
    db_url = server.db_url
    files = blob_files(source)
    readme = files.pop(hashlib.sha256(RELEASE["README.md"]).hexdigest())
    readme.unlink()
    notes = files.pop(hashlib.sha256(SUBMISSIONS["bob"]["notes.txt"]).hexdigest())
    notes.write_bytes(b"not what was submitted")
    args = [f"--storage-path={target}", "--from-blob-store=filesystem"]

    result = ngshare_command(
        db_url, "copy-blobs", *args, f"--from-storage-path={source}", check=False
    )
    log = result.stdout + result.stderr
    assert result.returncode == 1, log
    assert summary(log) == dict(
        total=DISTINCT, copied=DISTINCT - 2, already_there=0, missing=1, corrupt=1, unverified=0
    )
    assert f"Missing in the source: blob {readme.name}" in log
    assert f"Corrupt in the source (content does not match its hash): {notes.name}" in log
    assert "The target is incomplete: the database's store is unchanged" in log
    assert set(blob_files(target)) == set(files)
    # Not recorded: the old store is still the database's, the new one refused.
    assert "Replicas must share one blob store" in (
        ngshare_command(db_url, "verify-storage", f"--storage-path={target}", check=False).stderr
    )

    # A copy damaged in the target is found on the rerun and replaced.
    damaged = blob_files(target)[hashlib.sha256(LARGE).hexdigest()]
    damaged.write_bytes(b"bit rot")
    log = copy_blobs(db_url, *args, f"--from-storage-path={source}", "--accept-missing", check=True)
    assert summary(log) == dict(
        total=DISTINCT, copied=1, already_there=DISTINCT - 3, missing=1, corrupt=1, unverified=0
    )
    assert f"Replaced a damaged copy in the target: {damaged.name}" in log
    assert damaged.read_bytes() == LARGE
    # Accepted: the new store is the database's now, and lacks only what was lost.
    verify = ngshare_command(db_url, "verify-storage", f"--storage-path={target}", check=False)
    assert verify.returncode == 1
    assert re.findall(r"Missing blob (\w+)", verify.stderr) == sorted([readme.name, notes.name])


def test_mistakes_are_one_line(start_server: Callable[..., ServerProcess], tmp_path: Path) -> None:
    server = start_server(storage_path=tmp_path / "blobs")
    server.stop()
    cases = [
        ([f"--storage-path={tmp_path / 'new'}"], 2, "Say which store to copy from"),
        (
            ["--from-blob-store=filesystem", f"--from-storage-path={tmp_path / 'nowhere'}"],
            1,
            "does not exist",
        ),
        (
            [
                f"--storage-path={tmp_path / 'blobs'}",
                "--from-blob-store=filesystem",
                f"--from-storage-path={tmp_path / 'blobs'}",
            ],
            1,
            "The source and the target are the same store",
        ),
        (["--blob-store=database", "--from-blob-store=database"], 1, "the same store"),
        (["--from-blob-store=nosuch"], 2, "nosuch"),
    ]
    for args, status, message in cases:
        result = ngshare_command(server.db_url, "copy-blobs", *args, check=False)
        assert result.returncode == status, (args, result.stderr)
        line = result.stderr.strip().splitlines()[-1]
        assert "Traceback" not in result.stderr
        assert line.startswith("ngshare: error: ") and message in line, line
    assert not (tmp_path / "nowhere").exists()


def test_the_source_may_be_described_by_its_servers_config_file(
    start_server: Callable[..., ServerProcess], tmp_path: Path
) -> None:
    server = start_server(storage_path=tmp_path / "old")
    fill(server)
    server.stop()
    old_config = tmp_path / "old_config.py"
    old_config.write_text(
        "c = get_config()  # noqa: F821\n"
        f"c.NgshareApp.blob_store = 'filesystem'\n"
        f"c.NgshareApp.storage_path = {str(tmp_path / 'old')!r}\n"
        # The target's settings must not leak into the source's, nor the other way.
        f"c.FilesystemBlobStore.path = {str(tmp_path / 'old')!r}\n",
        encoding="utf-8",
    )
    log = copy_blobs(
        server.db_url, f"--from-config={old_config}", f"--storage-path={tmp_path / 'new'}"
    )
    assert summary(log)["copied"] == DISTINCT
    assert json.dumps(sorted(blob_files(tmp_path / "new"))) == json.dumps(
        sorted(blob_files(tmp_path / "old"))
    )


def s3_args(s3: MotoServer, bucket: str) -> list[str]:
    return [
        "--blob-store=s3",
        f"--S3BlobStore.endpoint_url={s3.endpoint_url}",
        f"--S3BlobStore.bucket={bucket}",
    ]


def test_filesystem_to_s3_then_to_another_bucket(
    start_server: Callable[..., ServerProcess], tmp_path: Path, s3: MotoServer, s3_bucket: str
) -> None:
    volume = tmp_path / "volume"
    first = start_server(storage_path=volume)
    fill(first)
    first.stop()
    db_url, tokens = first.db_url, first.tokens

    log = copy_blobs(
        db_url,
        *s3_args(s3, s3_bucket),
        "--from-blob-store=filesystem",
        f"--from-storage-path={volume}",
    )
    assert summary(log)["copied"] == DISTINCT
    assert "as the database's s3 store" in log
    stored = [k for k in s3.keys(s3_bucket) if k.startswith("blobs/")]
    assert sorted(k.rsplit("/", 1)[1] for k in stored) == sorted(blob_files(volume))

    on_s3 = start_server(
        storage_path=tmp_path / "unused", tokens=tokens, extra_args=s3_args(s3, s3_bucket)
    )
    read_back(on_s3)
    fill(on_s3, "ps2")
    on_s3.stop()
    assert blob_files(tmp_path / "unused") == {}

    # Bucket to bucket: two stores of one class, the source described by a
    # config file of its own (the old servers' settings), the target by the
    # server's options. The database then records the new bucket.
    old_config = tmp_path / "old_config.py"
    old_config.write_text(
        "c = get_config()  # noqa: F821\n"
        "c.NgshareApp.blob_store = 's3'\n"
        f"c.S3BlobStore.endpoint_url = {s3.endpoint_url!r}\n"
        f"c.S3BlobStore.bucket = {s3_bucket!r}\n",
        encoding="utf-8",
    )
    new_bucket = s3.create_bucket()
    log = copy_blobs(db_url, *s3_args(s3, new_bucket), f"--from-config={old_config}")
    assert summary(log)["copied"] == DISTINCT + 1
    on_new_bucket = start_server(
        storage_path=tmp_path / "unused", tokens=tokens, extra_args=s3_args(s3, new_bucket)
    )
    read_back(on_new_bucket)
    read_back(on_new_bucket, "ps2")
    on_new_bucket.stop()
    refused = ngshare_command(db_url, "verify-storage", *s3_args(s3, s3_bucket), check=False)
    assert refused.returncode == 1 and "is not the S3 store" in refused.stderr
