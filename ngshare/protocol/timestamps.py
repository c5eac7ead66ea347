"""Submission timestamps as the v1 API writes and reads them.

The project's own API uses ISO 8601 in UTC (``2024-03-01T12:30:15.123456Z``).
The v1 contract writes ``%Y-%m-%d %H:%M:%S.%f UTC`` and accepts the same form
without the zone. Timestamps are stored as naive UTC datetimes with
microseconds: clients echo a timestamp back to name a submission, so the value
must survive a round trip through the database exactly.
"""

from __future__ import annotations

import datetime

V1_FORMAT = "%Y-%m-%d %H:%M:%S.%f"


def utcnow() -> datetime.datetime:
    """The current UTC time as a naive datetime (the storage form)."""
    return datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None)


def format_v1(value: datetime.datetime) -> str:
    """Format a stored timestamp for the v1 API."""
    return value.strftime(V1_FORMAT) + " UTC"


def parse_v1(text: str) -> datetime.datetime | None:
    """Parse a v1 timestamp; None if it is not in one of the accepted forms."""
    text = text.strip()
    if text.endswith(" UTC"):
        text = text[: -len(" UTC")].rstrip()
    try:
        return datetime.datetime.strptime(text, V1_FORMAT)
    except ValueError:
        return None


ISO_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"


def format_iso(value: datetime.datetime) -> str:
    """Format a stored timestamp for the project's own API."""
    return value.strftime(ISO_FORMAT)


def parse_iso(text: str) -> datetime.datetime | None:
    """Parse an ISO 8601 UTC timestamp with microseconds; None if it is not one."""
    try:
        return datetime.datetime.strptime(text, ISO_FORMAT)
    except ValueError:
        return None
