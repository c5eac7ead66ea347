"""The pages' templates (Jinja2) and what every template may use.

Templates and the stylesheet ship inside the package, next to this module,
so an installed ngshare serves its pages without the source tree. Jinja2
escapes every value (autoescape): names, file paths and messages are user
input. A template that uses an undefined name fails loudly (StrictUndefined)
instead of rendering an empty string.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import jinja2
from tornado.web import StaticFileHandler

from ngshare.server.handlers.pages.times import DisplayTime, url_timestamp

HERE = Path(__file__).resolve().parent
TEMPLATES = HERE / "templates"
STATIC = HERE / "static"
# The pages live below {prefix}ui/, apart from the APIs' routes; the home
# page is {prefix} itself.
UI = "ui/"


def human_size(size: int) -> str:
    value = float(size)
    for unit in ("bytes", "kB", "MB", "GB"):
        if value < 1000 or unit == "GB":
            return f"{size} bytes" if unit == "bytes" else f"{value:.1f} {unit}"
        value /= 1000
    raise AssertionError("unreachable")


def iso_utc(value: datetime.datetime) -> str:
    """A stored time as the datetime attribute of <time>."""
    return value.isoformat() + "Z"


def url_part(name: str) -> str:
    """One name as one segment of a URL."""
    return quote(name, safe="")


@dataclass(frozen=True)
class Links:
    """Builds the URLs of pages, quoting every name (names may hold spaces, '#', '?')."""

    prefix: str

    @property
    def home(self) -> str:
        return self.prefix

    def page(self, *parts: str) -> str:
        return self.prefix + UI + "/".join(url_part(part) for part in parts)

    def file(self, *parts: str, path: str) -> str:
        """A page of a file: ``path`` keeps its slashes."""
        return self.page(*parts) + "/" + quote(path, safe="/")

    def static(self, name: str) -> str:
        settings = {"static_path": str(STATIC), "static_url_prefix": self.prefix + UI + "static/"}
        return StaticFileHandler.make_static_url(settings, name)


class Rendering:
    """The template environment of one application."""

    def __init__(self, prefix: str, display_timezone: str) -> None:
        self.links = Links(prefix)
        self.times = DisplayTime(display_timezone)
        self.environment = jinja2.Environment(
            loader=jinja2.FileSystemLoader(TEMPLATES),
            autoescape=True,
            undefined=jinja2.StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
        )
        self.environment.filters.update(size=human_size, iso=iso_utc, urlpart=url_part)
        self.environment.globals.update(links=self.links, times=self.times, url_stamp=url_timestamp)

    def render(self, template: str, context: dict[str, Any]) -> str:
        return self.environment.get_template(template).render(context)
