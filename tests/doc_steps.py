"""Run a documentation page's shell blocks in order, as a reader would, and check their output.

A page is a sequence of *steps*: each ```bash block, with the first ```text
block that follows it (before the next ```bash block) as the output the
reader should see. An HTML comment on the line before a bash block changes
how it is run:

- ``<!-- doc-test: server -->``: the block is the command that starts ngshare,
  which the reader runs in a terminal of its own. The test starts it as
  ``run_ngshare`` does (on a port of the test's, from the shell's current
  directory) and checks the expected lines against the server's log.
- ``<!-- doc-test: skip (why) -->``: not run (installing into a virtualenv
  the test is already running in, say); the reason is required.

Every other block runs in one bash process that lives for the whole page
(``set -euo pipefail``), so ``cd``, ``export`` and ``source`` carry from one
block to the next exactly as in the reader's terminal. Only the example
address ``127.0.0.1:10101`` is replaced by the test server's.

Expected output: each line must match an output line of its step, in order
(other lines may come between); ``…`` in an expected line matches anything,
and a run of spaces matches a run of spaces (table columns).
"""

from __future__ import annotations

import contextlib
import queue
import re
import shlex
import subprocess
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from server_process import clean_env, free_port, run_ngshare

EXAMPLE_ADDRESS = "127.0.0.1:10101"
# A guard against a step that hangs (waiting for input, say), not a timing check.
STEP_TIMEOUT = 600
MARKER = re.compile(r"<!-- doc-test: (server|skip \(.+\)) -->\n$")
BLOCK = re.compile(r"```(bash|text)\n(.*?)```", re.DOTALL)
DONE = "::doc-step-done::"


@dataclass
class Step:
    """A bash block of the page, how it is run, and the output it should show."""

    kind: str  # "run", "server" or "skip"
    code: str
    expected: list[str]


def steps(page: Path, section: str | None = None) -> list[Step]:
    """The page's steps (only those under the ``## section`` heading, if given)."""
    text = page.read_text(encoding="utf-8")
    if section is not None:
        text = text.split(f"## {section}\n", 1)[1].split("\n## ", 1)[0]
    found: list[Step] = []
    for match in BLOCK.finditer(text):
        language, body = match.groups()
        if language == "text":
            if found and not found[-1].expected:
                found[-1].expected = [line for line in body.splitlines() if line.strip()]
            continue
        marker = MARKER.search(text, 0, match.start())
        kind = "run"
        if marker and marker.end() == match.start():
            kind = "server" if marker.group(1) == "server" else "skip"
        found.append(Step(kind, body, []))
    assert found, f"no bash block in {page}" + (f" under {section!r}" if section else "")
    return found


def _squeeze(line: str) -> str:
    # Columns of a table line up differently with other contents: runs of
    # spaces count as one.
    return " ".join(line.split())


def _pattern(expected: str) -> re.Pattern[str]:
    parts = [re.escape(_squeeze(part)) for part in expected.split("…")]
    return re.compile(r" ?.* ?".join(parts))


def check_output(expected: list[str], output: str, what: str) -> None:
    """Each expected line matches an output line, in order."""
    lines = [_squeeze(line) for line in output.splitlines()]
    position = 0
    for wanted in expected:
        pattern = _pattern(wanted)
        while position < len(lines) and not pattern.fullmatch(lines[position]):
            position += 1
        assert position < len(lines), (
            f"{what}: expected a line like {wanted!r} (in this order), got:\n{output}"
        )
        position += 1


class Shell:
    """One bash process that runs blocks one after the other, keeping its state."""

    def __init__(self, cwd: Path, env: dict[str, str]) -> None:
        self.process = subprocess.Popen(
            ["bash", "--noprofile", "--norc"],
            cwd=cwd,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self.lines: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()
        self.count = 0
        self._send("set -euo pipefail")

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.put(line)
        self.lines.put(None)

    def _send(self, command: str) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(command + "\n")
        self.process.stdin.flush()

    def run(self, code: str, workdir: Path) -> str:
        """Run a block (as a file sourced, stdin closed); its output, stdout and stderr."""
        self.count += 1
        script = workdir / f".doc-step-{self.count}.sh"
        script.write_text(code, encoding="utf-8")
        self._send(f"source {shlex.quote(str(script))} < /dev/null; echo {DONE}")
        output: list[str] = []
        while True:
            try:
                line = self.lines.get(timeout=STEP_TIMEOUT)
            except queue.Empty:
                raise AssertionError(
                    f"step hangs:\n{code}\n--- output ---\n{''.join(output)}"
                ) from None
            if line is None:
                self.process.wait()
                raise AssertionError(
                    f"step failed (exit {self.process.returncode}):\n{code}\n"
                    f"--- output ---\n{''.join(output)}"
                )
            if line.rstrip("\n").endswith(DONE):
                # After output without a final newline (curl's JSON), on the same line.
                output.append(line.rstrip("\n").removesuffix(DONE))
                return "".join(output)
            output.append(line)

    def cwd(self, workdir: Path) -> Path:
        """The shell's current directory (where the reader would start the server)."""
        out = self.run("pwd", workdir)
        return Path(out.strip())

    def close(self) -> None:
        assert self.process.stdin is not None and self.process.stdout is not None
        if self.process.poll() is None:
            self.process.stdin.close()
            self.process.wait(timeout=60)
        self.process.stdout.close()


@contextlib.contextmanager
def page_run(workdir: Path, env: dict[str, str] | None = None) -> Iterator[PageRun]:
    run = PageRun(workdir, env if env is not None else clean_env())
    try:
        yield run
    finally:
        run.close()


class PageRun:
    """A page's steps run in order; servers it starts stop at the end."""

    def __init__(self, workdir: Path, env: dict[str, str]) -> None:
        self.workdir = workdir
        self.env = env
        self.port = free_port()
        self.address = f"127.0.0.1:{self.port}"
        self.shell = Shell(workdir, env)
        self.servers = contextlib.ExitStack()

    def run(self, page_steps: list[Step], what: str) -> list[str]:
        """Run the steps; the output of each (the server's log for a server step)."""
        outputs = []
        for number, step in enumerate(page_steps, 1):
            code = step.code.replace(EXAMPLE_ADDRESS, self.address)
            if step.kind == "skip":
                output = ""
            elif step.kind == "server":
                output = self._start_server(code)
            else:
                output = self.shell.run(code, self.workdir)
            # The reader sees the example address where the test's server has another.
            output = output.replace(self.address, EXAMPLE_ADDRESS)
            check_output(step.expected, output, f"{what}, step {number}:\n{step.code}")
            outputs.append(output)
        return outputs

    def _start_server(self, code: str) -> str:
        [command] = [line for line in code.splitlines() if line.strip()]
        program, *args = shlex.split(command)
        assert program == "ngshare", command
        return self.serve(args, self.shell.cwd(self.workdir))

    def serve(self, args: list[str], cwd: Path) -> str:
        """Start ``ngshare ARGS`` in ``cwd`` (on the test's port) until the end; its log so far.

        For a server the page's reader started earlier (a quick start, say).
        """
        log = self.servers.enter_context(
            run_ngshare(
                [*args, f"--port={self.port}"], cwd, self.env, f"http://{self.address}/healthz"
            )
        )
        # The log as it is once the server answers: what the reader sees at start.
        return log.read_text(encoding="utf-8")

    def close(self) -> None:
        self.shell.close()
        self.servers.close()
