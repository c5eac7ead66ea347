"""Loopback ports for the servers the tests start, which no other process is given.

Asking the kernel for a free port (bind to port 0), closing it and handing the
number to a child leaves a window in which any other process's port-0 bind
may be given the same port. So ports here come from outside the kernel's
ephemeral range (``/proc/sys/net/ipv4/ip_local_port_range``), from which every
port-0 bind and every outgoing connection draws: nothing is given them by
chance. The test processes running at once (the two database passes, xdist
workers, other checkouts on the machine) each claim their own block of them,
with an exclusive lock on a file that the kernel releases when its holder
exits, and never hand out a port of another's block.

A port is only handed out if it can be bound right then (as the servers bind,
with SO_REUSEADDR), so a port some unrelated server listens on is skipped.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
import socket
import tempfile
import threading
from pathlib import Path

BLOCK_SIZE = 64
# Below this, ports tend to belong to well-known services.
LOWEST = 20000
LOCK_DIR = Path(tempfile.gettempdir()) / "ngshare-test-ports"
EPHEMERAL_RANGE = Path("/proc/sys/net/ipv4/ip_local_port_range")


class PortsExhausted(RuntimeError):
    """No block of ports outside the ephemeral range is left to claim."""


def ephemeral_range() -> range:
    """The ports the kernel hands out for port-0 binds and outgoing connections."""
    try:
        low, high = (int(n) for n in EPHEMERAL_RANGE.read_text().split())
    except OSError:
        low, high = 32768, 60999  # Linux's default
    return range(low, high + 1)


def reserved_blocks() -> list[range]:
    """Every block of BLOCK_SIZE ports at or above LOWEST outside the ephemeral range."""
    ephemeral = ephemeral_range()
    spans = [range(LOWEST, min(ephemeral.start, 65536)), range(max(ephemeral.stop, LOWEST), 65536)]
    return [
        range(start, start + BLOCK_SIZE)
        for span in spans
        for start in range(span.start, span.stop - BLOCK_SIZE + 1, BLOCK_SIZE)
    ]


def can_bind(port: int) -> bool:
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


class PortBlocks:
    """The blocks this process holds, and the next port to try in them."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._held: list[tuple[range, int]] = []  # block, fd of its lock file
        self._next = 0
        self._pid = os.getpid()

    def _claim(self) -> range:
        LOCK_DIR.mkdir(mode=0o1777, exist_ok=True)
        with contextlib.suppress(PermissionError):
            LOCK_DIR.chmod(0o1777)  # shared by every user's test runs
        held = {block.start for block, _ in self._held}
        for block in reserved_blocks():
            if block.start in held:
                continue
            path = LOCK_DIR / f"{block.start}.lock"
            try:
                fd = os.open(path, os.O_RDONLY | os.O_CREAT, 0o644)
            except PermissionError:
                continue  # another user's lock file: another user's block
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                continue
            self._held.append((block, fd))
            return block
        raise PortsExhausted(
            f"every block of {BLOCK_SIZE} ports from {LOWEST} outside the ephemeral range "
            f"{ephemeral_range().start}-{ephemeral_range().stop - 1} is held by another "
            f"test process (lock files in {LOCK_DIR})"
        )

    def free_port(self) -> int:
        with self._lock:
            if os.getpid() != self._pid:
                # A forked child does not hold its parent's blocks.
                self._held, self._next, self._pid = [], 0, os.getpid()
            if not self._held:
                self._claim()
            while True:
                ports = [port for block, _ in self._held for port in block]
                # Round robin, so a port is not handed out again soon after
                # its last holder stopped.
                for _ in range(len(ports)):
                    port = ports[self._next % len(ports)]
                    self._next += 1
                    if can_bind(port):
                        return port
                self._claim()


_blocks = PortBlocks()


def free_port() -> int:
    """A loopback port nobody listens on, and that no other process will be given."""
    return _blocks.free_port()


ADDRESS_IN_USE = re.compile(r"Address already in use|EADDRINUSE|Errno 98")


def port_clash(output: str, ports: dict[str, int]) -> str | None:
    """If ``output`` (a child's log) says it could not bind, which of ``ports`` were taken.

    ``ports`` names each port the child was given ("hub", "proxy API"...).
    Returns a plain explanation, or None if the log shows no such failure.
    """
    if not ADDRESS_IN_USE.search(output):
        return None
    taken = [f"{name} port {port}" for name, port in ports.items() if not can_bind(port)]
    which = ", ".join(taken) or ", ".join(f"{name} port {port}" for name, port in ports.items())
    return f"a port it was given was already in use by another process ({which})"
