"""Times on the pages: shown and entered in the service's display time zone.

The server stores naive UTC. People think in their campus's time, so the
pages show every time in one configured zone (``NgshareApp.display_timezone``,
UTC by default) with its abbreviation, and read the due dates instructors
type in that same zone.
"""

from __future__ import annotations

import datetime
import functools
import zoneinfo

from ngshare.protocol.timestamps import format_iso, parse_iso

# What <input type="datetime-local"> sends, and what people type by hand.
INPUT_FORMATS = ("%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%d %H:%M:%S")
INPUT_EXAMPLE = "2025-03-01 17:00"


def load_zone(name: str) -> zoneinfo.ZoneInfo:
    """The zone named ``name`` (an IANA name such as Europe/Berlin); ValueError if unknown."""
    try:
        return zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise ValueError(
            f"Unknown time zone {name!r}: use an IANA name such as Europe/Berlin"
        ) from None


class DisplayTime:
    """Formats stored times for people, and parses the times they enter."""

    def __init__(self, zone_name: str) -> None:
        self.zone_name = zone_name
        self.zone = load_zone(zone_name)

    def local(self, value: datetime.datetime) -> datetime.datetime:
        return value.replace(tzinfo=datetime.timezone.utc).astimezone(self.zone)

    def show(self, value: datetime.datetime | None, *, seconds: bool = False) -> str:
        if value is None:
            return ""
        return self._show(value, seconds)

    @functools.lru_cache(maxsize=4096)  # noqa: B019 (one instance per application)
    def _show(self, value: datetime.datetime, seconds: bool) -> str:
        # A status table shows the same due date hundreds of times.
        pattern = "%Y-%m-%d %H:%M:%S %Z" if seconds else "%Y-%m-%d %H:%M %Z"
        return self.local(value).strftime(pattern)

    def input_value(self, value: datetime.datetime | None) -> str:
        """The value of a datetime-local input showing ``value``."""
        return self.local(value).strftime("%Y-%m-%dT%H:%M") if value else ""

    def parse(self, text: str) -> datetime.datetime | None:
        """A time typed in the display zone, as stored (naive UTC); None if it is not one."""
        text = text.strip()
        for pattern in INPUT_FORMATS:
            try:
                typed = datetime.datetime.strptime(text, pattern)
            except ValueError:
                continue
            aware = typed.replace(tzinfo=self.zone)
            return aware.astimezone(datetime.timezone.utc).replace(tzinfo=None)
        return None


def url_timestamp(value: datetime.datetime) -> str:
    """How a submission's timestamp appears in a page's URL."""
    return format_iso(value)


def parse_url_timestamp(text: str) -> datetime.datetime | None:
    return parse_iso(text)
