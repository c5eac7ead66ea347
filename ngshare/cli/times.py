"""Submission timestamps and due dates.

``ngsharectl`` shows the server's timestamps (UTC) as the v1 API writes them,
``2024-03-01 16:59:03.123456 UTC``, whichever API they came from.
Due dates come from the command line in ISO 8601 form; one without a time
zone means the local time of the machine running ``ngsharectl`` (as ``date``
shows it), because that is what an instructor typing it has in mind.
"""

from __future__ import annotations

import argparse
import datetime

from ngshare.protocol.timestamps import format_v1

SERVER_FORMAT = "%Y-%m-%d %H:%M:%S.%f"
UTC = datetime.timezone.utc


def parse_server(text: str) -> datetime.datetime:
    """A timestamp from the server, as an aware UTC datetime."""
    text = text.strip()
    if text.endswith(" UTC"):
        text = text[: -len(" UTC")]
    try:
        return datetime.datetime.strptime(text, SERVER_FORMAT).replace(tzinfo=UTC)
    except ValueError:
        # Older servers may omit the microseconds.
        return datetime.datetime.strptime(text, "%Y-%m-%d %H:%M:%S").replace(tzinfo=UTC)


def server_text(value: datetime.datetime) -> str:
    """A timestamp the own API sent (naive UTC), as ngsharectl shows it."""
    return format_v1(value)


def as_utc(value: datetime.datetime) -> datetime.datetime:
    """A timestamp the own API sent (naive UTC), as an aware UTC datetime."""
    return value.replace(tzinfo=UTC)


def parse_due(text: str) -> datetime.datetime:
    """An argparse type: ``2024-03-01 17:00``, ``2024-03-01T17:00:00+01:00``, ``... UTC``."""
    raw = text.strip()
    zone: datetime.tzinfo | None = None
    for suffix in (" UTC", "UTC", "Z", "z"):
        if raw.endswith(suffix):
            raw, zone = raw[: -len(suffix)].rstrip(), UTC
            break
    try:
        value = datetime.datetime.fromisoformat(raw)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a date and time; write e.g. '2024-03-01 17:00', "
            "'2024-03-01T17:00+01:00' or '2024-03-01 17:00 UTC'"
        ) from None
    if len(raw) <= len("2024-03-01"):
        # A bare date is ambiguous (its first or last moment?): make it explicit.
        raise argparse.ArgumentTypeError(f"{text!r} has no time of day; write e.g. '{raw} 23:59'")
    if zone is not None:
        if value.tzinfo is not None:
            raise argparse.ArgumentTypeError(f"{text!r} gives two time zones")
        value = value.replace(tzinfo=zone)
    if value.tzinfo is None:
        value = value.astimezone()  # the local time zone
    return value.astimezone(UTC)


def iso(value: datetime.datetime) -> str:
    return value.isoformat()


def duration(delta: datetime.timedelta) -> str:
    """A short human form of a (positive) duration: '3 d 4 h', '5 min', '12 s'."""
    seconds = int(delta.total_seconds())
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, seconds = divmod(rest, 60)
    if days:
        return f"{days} d {hours} h" if hours else f"{days} d"
    if hours:
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    if minutes:
        return f"{minutes} min"
    return f"{max(seconds, 1)} s" if delta.total_seconds() > 0 else "0 s"
