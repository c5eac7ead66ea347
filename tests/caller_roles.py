"""The callers of the permission matrices, by role, and the auth refusal messages.

Shared by the v1 and the own-API matrices so both test the same people.
"""

from __future__ import annotations

# The messages of the standalone server's authentication refusals.
NO_TOKEN = "Authentication required: send 'Authorization: token <API token>'"
BAD_TOKEN = "Invalid or expired token"

# Who calls, by role: eve studies another course; dan holds a valid token but
# belongs to no course.
CALLERS: dict[str, str | None] = {
    "admin": "admin",
    "instructor": "kim",
    "student": "ana",
    "student_other": "eve",
    "unknown": "dan",
    "no_token": None,
    "bad_token": None,
}
ANYONE = frozenset({"admin", "instructor", "student", "student_other", "unknown"})
MEMBERS = frozenset({"admin", "instructor", "student"})
INSTRUCTORS = frozenset({"admin", "instructor"})
ADMIN = frozenset({"admin"})
