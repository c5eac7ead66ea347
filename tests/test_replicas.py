"""Several ngshare processes on one database serve the same courses consistently.

Two replicas share nothing but the database (blobs in the database store).
A deadline rush of fetches and submissions is spread across both; afterwards
every acknowledged submission is present exactly once, with its exact bytes,
as seen from either replica.
"""

from __future__ import annotations

from collections.abc import Callable

from replica_rush import check_nothing_lost, rush
from server_process import USERS, ServerProcess

STUDENTS = [f"student{i:03d}" for i in range(200)]
CONCURRENCY = 16


def test_two_replicas_survive_a_rush(start_server: Callable[..., ServerProcess]) -> None:
    users = [*USERS, *STUDENTS]
    first = start_server(users=users, extra_args=["--blob-store=database"])
    second = start_server(users=users, tokens=first.tokens, extra_args=["--blob-store=database"])
    acknowledged = rush([first, second], STUDENTS, CONCURRENCY)
    check_nothing_lost([first, second], acknowledged)
