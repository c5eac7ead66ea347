"""The ports the tests give their servers: nobody else's, and never one in use.

``ports.free_port`` must hand out ports the kernel never gives to a port-0
bind or an outgoing connection (outside the ephemeral range), a block per
test process so that test processes running at once (the two database
passes, other checkouts) never share one, and skip a port something
already listens on.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from ports import BLOCK_SIZE, ephemeral_range, free_port

pytestmark = pytest.mark.database_independent

TESTS = Path(__file__).resolve().parent


def test_ports_are_outside_the_ephemeral_range() -> None:
    ephemeral = ephemeral_range()
    for _ in range(BLOCK_SIZE * 2):  # beyond one block, round the corner
        port = free_port()
        assert port not in ephemeral
        assert port >= 1024


def test_another_test_process_gets_other_ports() -> None:
    mine = {free_port() for _ in range(BLOCK_SIZE)}
    code = "import json, ports; print(json.dumps([ports.free_port() for _ in range(200)]))"
    theirs = subprocess.run(
        [sys.executable, "-c", code],
        cwd=TESTS,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    assert not mine & set(json.loads(theirs.stdout))


def test_a_port_in_use_is_never_handed_out() -> None:
    port = free_port()
    with socket.create_server(("127.0.0.1", port)):
        # Every port of the block comes round at least twice.
        handed_out = {free_port() for _ in range(BLOCK_SIZE * 2)}
    assert port not in handed_out
