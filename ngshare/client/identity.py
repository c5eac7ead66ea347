"""Who the token stands for, as the server says (``GET api/v2/user``).

A client names the user by this answer, never by the environment it runs in:
in Zero to JupyterHub every user's operating system user is ``jovyan``, and
``$JUPYTERHUB_USER`` is lost by anything that cleans the environment (a
terminal, a custom kernel, a script), while the server knows whose token it
is. ``$JUPYTERHUB_USER`` only serves as a cross-check: when it names someone
else, the user is told once, with both names.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from ngshare.client.errors import JSON, ServerError
from ngshare.client.settings import USER_VARIABLE

ROLES = ("instructor", "student")


@dataclass(frozen=True)
class Identity:
    """The caller as the server knows them."""

    name: str
    admin: bool
    #: course -> "instructor" or "student", for every course the caller belongs to.
    courses: dict[str, str] = field(default_factory=dict)


def parse_identity(answer: JSON, what: str) -> Identity:
    """Check the server's answer about the caller."""
    name, admin, courses = answer.get("name"), answer.get("admin"), answer.get("courses")
    if not isinstance(name, str) or not name or not isinstance(admin, bool):
        raise ServerError("the server's answer names no user", what=what)
    if not isinstance(courses, list):
        raise ServerError("the server's answer has no list of courses", what=what)
    roles: dict[str, str] = {}
    for item in courses:
        course = item.get("course") if isinstance(item, dict) else None
        role = item.get("role") if isinstance(item, dict) else None
        if not isinstance(course, str) or role not in ROLES:
            raise ServerError("the server sent a course without a role", what=what)
        roles[course] = str(role)
    return Identity(name, admin, roles)


def environment_mismatch(name: str, environ: Mapping[str, str]) -> str | None:
    """A warning when ``$JUPYTERHUB_USER`` names someone else than the token's ``name``."""
    claimed = environ.get(USER_VARIABLE)
    if not claimed or claimed == name:
        return None
    return (
        f"{USER_VARIABLE} is {claimed!r}, but the API token belongs to {name!r}: "
        f"ngshare knows you as {name!r}, and this command uses that name."
    )
