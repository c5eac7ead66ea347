"""What several actions share: submission names in nbgrader's files, listings, deleting.

nbgrader's local files (``timestamp.txt``, the folders of the submission
cache) name a submission by the v1 form of the server's timestamp,
``2024-03-01 12:30:15.123456 UTC``, which nbgrader parses for lateness; the
own API names it in ISO 8601. Both name the same stored instant, to the
microsecond.
"""

from __future__ import annotations

import datetime
import posixpath
from typing import TYPE_CHECKING

from nbgrader.exchange.abc import ExchangeError

from ngshare.client import api
from ngshare.protocol.timestamps import format_v1, parse_iso, parse_v1

if TYPE_CHECKING:
    from ngshare.exchange.exchange import Exchange


def local_timestamp(when: datetime.datetime) -> str:
    """A submission's timestamp as nbgrader's files write it."""
    return format_v1(when)


def parse_local_timestamp(text: str) -> datetime.datetime | None:
    """The server's timestamp a local file names (v1 form, or ISO 8601); None if none."""
    return parse_v1(text) or parse_iso(text.strip())


def server_timestamp(text: str) -> datetime.datetime:
    """The server's timestamp of a submission that nbgrader's files name as ``text``."""
    parsed = parse_local_timestamp(text)
    if parsed is None:
        raise ExchangeError(f"{text!r} is not a timestamp ngshare wrote")
    return parsed


def top_level(paths: list[str], extension: str) -> list[str]:
    """Names (without extension) of the files directly in the tree with ``extension``.

    nbgrader's default exchange lists ``<dir>/*.ipynb`` (and ``*.html``
    feedback) without descending into sub-directories; so does ngshare.
    """
    return sorted(
        posixpath.splitext(path)[0]
        for path in paths
        if "/" not in path and posixpath.splitext(path)[1] == extension
    )


def delete_assignment(exchange: Exchange, course_id: str, assignment_id: str, action: str) -> None:
    """Delete an assignment, unless that would silently destroy submissions."""
    client = exchange.client
    if not exchange.allow_deleting_submissions:
        found = api.submissions(client, course_id, assignment_id)
        if found:
            students = len({record.student for record in found})
            raise ExchangeError(
                f"Refusing to {action} assignment {assignment_id!r} of course {course_id!r}: "
                f"ngshare holds {len(found)} submission(s) of it from {students} student(s), "
                "and removing an assignment removes its submissions and feedback with it "
                "(only a server admin can bring them back). Run `nbgrader collect` first, "
                "then re-run with --Exchange.allow_deleting_submissions=True."
            )
    api.delete_assignment(
        client,
        course_id,
        assignment_id,
        what=f"delete assignment {assignment_id!r} of course {course_id!r}",
    )
