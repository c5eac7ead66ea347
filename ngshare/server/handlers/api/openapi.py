"""The OpenAPI 3 document of the own API, served at ``api/v2/openapi.json``.

Written out here rather than generated, so that it is the reviewed contract;
a test checks that every route of the application appears in it.
"""

from __future__ import annotations

from typing import Any

from ngshare import __version__
from ngshare.protocol import blob_frames
from ngshare.server.handlers.base import APIHandler

_JSON = "application/json"


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _ok(schema: dict[str, Any], status: str = "200", what: str = "Success") -> dict[str, Any]:
    return {status: {"description": what, "content": {_JSON: {"schema": schema}}}}


def _errors(*statuses: int) -> dict[str, Any]:
    described = {
        400: "Bad input",
        403: "Not allowed",
        404: "Not found",
        409: "Conflict",
        413: "Too large",
        415: "Unsupported encoding",
        503: "A dependency is unavailable (the database, the blob store)",
        507: "The blob store is full: nothing was stored; the same upload works once it has room",
    }
    return {
        str(s): {
            "description": described[s],
            "content": {_JSON: {"schema": _ref("Error")}},
        }
        for s in (403, *statuses)
    }


def _success_with(**properties: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "object",
        "required": ["success", *properties],
        "properties": {"success": {"type": "boolean", "enum": [True]}, **properties},
    }


_FLAG = ["true", "false"]
_HASH_LIST = {"type": "array", "items": {"type": "string", "pattern": "^[0-9a-f]{64}$"}}


def _hash_list_body(**extra_properties: dict[str, Any]) -> dict[str, Any]:
    """A JSON body naming blobs: ``{"sha256": [...], ...}``."""
    schema = {
        "type": "object",
        "required": ["sha256"],
        "properties": {"sha256": _HASH_LIST, **extra_properties},
    }
    return {"required": True, "content": {_JSON: {"schema": schema}}}


_FRAMES_DESCRIPTION = (
    "A sequence of frames, one per blob: a line of JSON "
    '`{"sha256": <hex>, "size": <bytes>, "encoding": "identity"|"gzip"}` ending in a '
    "newline, then the content: exactly `size` bytes (identity) or one gzip member that "
    "inflates to `size` bytes (gzip)."
)


_BUNDLE_DESCRIPTION = (
    "A bundle is a manifest and content in one body: a first line of JSON (an object "
    "whose `files` is the manifest) ending in a newline, then frames of blobs as in "
    f"{blob_frames.CONTENT_TYPE}. "
)
_BINARY = {"schema": {"type": "string", "format": "binary"}}


def _path_param(name: str, description: str, **schema: Any) -> dict[str, Any]:
    return {
        "name": name,
        "in": "path",
        "required": True,
        "description": description,
        "schema": {"type": "string", **schema},
    }


_COURSE = _path_param("course", "Course name")
_ASSIGNMENT = _path_param("assignment", "Assignment name")
_STUDENT = _path_param("student", "Student user name")
_TIMESTAMP = _path_param(
    "timestamp", "Submission timestamp, ISO 8601 UTC", example="2024-03-01T12:30:15.123456Z"
)
_SHA256 = _path_param("sha256", "sha256 of the content", pattern="^[0-9a-f]{64}$")
_MANIFEST_BODY = {
    "required": True,
    "content": {_JSON: {"schema": _ref("ManifestUpload")}},
}

SCHEMAS: dict[str, Any] = {
    "Error": {
        "type": "object",
        "required": ["success", "message"],
        "properties": {
            "success": {"type": "boolean", "enum": [False]},
            "message": {"type": "string"},
            "missing": {
                **_HASH_LIST,
                "description": "A 409 for a manifest naming content the server lacks "
                "(or the caller may not name): the blobs to send",
            },
        },
    },
    "File": {
        "type": "object",
        "required": ["path", "sha256", "size"],
        "properties": {
            "path": {"type": "string", "description": "Relative POSIX path"},
            "sha256": {"type": "string", "pattern": "^[0-9a-f]{64}$"},
            "size": {"type": "integer", "minimum": 0},
        },
    },
    "ManifestUpload": {
        "type": "object",
        "required": ["files"],
        "properties": {"files": {"type": "array", "items": _ref("File")}},
    },
    "DeletedItem": {
        "type": "object",
        "required": [
            "kind",
            "id",
            "course",
            "name",
            "deleted_at",
            "deleted_by",
            "purge_after",
        ],
        "properties": {
            "kind": {"type": "string", "enum": ["course", "assignment", "enrollment"]},
            "id": {"type": "integer"},
            "course": {"type": "string"},
            "name": {
                "type": "string",
                "description": "The course, assignment or enrolled user's name",
            },
            "role": {"type": "string", "description": "Enrollments only"},
            "deleted_at": {"type": "string"},
            "deleted_by": {"type": "string", "nullable": True},
            "purge_after": {
                "type": "string",
                "description": "When it is removed for good unless restored",
            },
        },
    },
    "Event": {
        "type": "object",
        "required": ["id", "at", "actor", "action", "course", "assignment", "user", "detail"],
        "properties": {
            "id": {"type": "integer"},
            "at": {"type": "string"},
            "actor": {"type": "string", "description": "Who made the change"},
            "action": {
                "type": "string",
                "example": "assignment.release",
                "description": "course.create, course.delete, assignment.release, "
                "assignment.delete, submission.create, feedback.upload, student.add, "
                "student.update, student.remove, instructor.add, instructor.update, "
                "instructor.remove, restore, purge",
            },
            "course": {"type": "string", "nullable": True},
            "assignment": {"type": "string", "nullable": True},
            "user": {
                "type": "string",
                "nullable": True,
                "description": "The user the change is about",
            },
            "detail": {"type": "object"},
        },
    },
    "SubmissionRecord": {
        "type": "object",
        "required": ["student", "timestamp"],
        "properties": {
            "student": {"type": "string"},
            "timestamp": {"type": "string"},
            "files": {"type": "array", "items": _ref("File")},
        },
    },
}

_FILES = {"type": "array", "items": _ref("File")}


def _query_param(name: str, description: str, **schema: Any) -> dict[str, Any]:
    return {
        "name": name,
        "in": "query",
        "required": False,
        "description": description,
        "schema": {"type": "string", **schema},
    }


_EVENT_FILTERS = [
    _query_param("action", "Only this action, e.g. submission.create"),
    _query_param("since", "Only events at or after this ISO 8601 UTC time"),
    _query_param("user", "Only events about this user"),
    _query_param("limit", "Page size (default 100, at most 1000)", pattern="^[0-9]+$"),
    _query_param("before", "The next_before of the previous page", pattern="^[0-9]+$"),
]
_EVENT_PAGE = _success_with(
    events={"type": "array", "items": _ref("Event")},
    next_before={"type": "integer", "nullable": True, "description": "null on the last page"},
)
_SUBMISSIONS = {"type": "array", "items": _ref("SubmissionRecord")}
_NAMES = {"type": "array", "items": {"type": "string"}}
_BLOB_LIST = {
    "type": "array",
    "items": {
        "type": "object",
        "required": ["sha256", "size"],
        "properties": {"sha256": {"type": "string"}, "size": {"type": "integer"}},
    },
}


def build_document(base_url: str) -> dict[str, Any]:
    api = "/api/v2"
    assignment = f"{api}/courses/{{course}}/assignments/{{assignment}}"
    submission = f"{assignment}/submissions/{{student}}/{{timestamp}}"
    paths: dict[str, Any] = {
        f"{api}/user": {
            "get": {
                "summary": "Who the caller's token stands for (any user)",
                "description": "The name the server knows the caller by, whether they are "
                "an ngshare admin, and the courses they belong to with their role in each "
                "(an admin's courses are those they are enrolled in). Clients name the "
                "user's local files and own submissions with this name, not with the "
                "operating system's or the environment's.",
                "responses": {
                    **_ok(
                        _success_with(
                            name={"type": "string"},
                            admin={"type": "boolean"},
                            courses={
                                "type": "array",
                                "items": {
                                    "type": "object",
                                    "required": ["course", "role"],
                                    "properties": {
                                        "course": {"type": "string"},
                                        "role": {
                                            "type": "string",
                                            "enum": ["instructor", "student"],
                                        },
                                    },
                                },
                            },
                        )
                    ),
                    **_errors(),
                },
            }
        },
        f"{api}/courses": {
            "get": {
                "summary": "Courses the caller teaches or takes (admins: all)",
                "responses": {**_ok(_success_with(courses=_NAMES)), **_errors()},
            }
        },
        f"{api}/courses/{{course}}/assignments": {
            "parameters": [_COURSE],
            "get": {
                "summary": "Released assignments of a course (members)",
                "responses": {**_ok(_success_with(assignments=_NAMES)), **_errors(404)},
            },
        },
        assignment: {
            "parameters": [_COURSE, _ASSIGNMENT],
            "get": {
                "summary": "The released files (members); with their content as a bundle",
                "description": _BUNDLE_DESCRIPTION
                + f"With `Accept: {blob_frames.BUNDLE_CONTENT_TYPE}` the answer is a bundle: "
                "this JSON answer as its first line, then one frame of each distinct blob, "
                "gzip-encoded where that pays if the request accepts gzip. A fetch is then "
                "one request. Refusals are JSON either way.",
                "responses": {
                    "200": {
                        "description": "Success",
                        "content": {
                            _JSON: {"schema": _success_with(files=_FILES)},
                            blob_frames.BUNDLE_CONTENT_TYPE: _BINARY,
                        },
                    },
                    **_errors(404),
                },
            },
            "put": {
                "summary": "Release an assignment (instructors); upload missing blobs first",
                "description": "With replace=true an existing release gets the new files "
                "and keeps its submissions and feedback; without it, an existing release "
                "is a 409.",
                "parameters": [
                    _query_param("replace", "true: replace an existing release", enum=_FLAG)
                ],
                "requestBody": _MANIFEST_BODY,
                "responses": {
                    **_ok(_success_with(), "201", "Released"),
                    **_errors(400, 404, 409, 413, 503, 507),
                },
            },
            "delete": {
                "summary": "Delete an assignment with its submissions and feedback (instructors)",
                "description": "Gone for clients at once (the name is free again); "
                "an admin can restore it until the retention period ends.",
                "responses": {**_ok(_success_with()), **_errors(404)},
            },
        },
        f"{assignment}/submissions": {
            "parameters": [_COURSE, _ASSIGNMENT],
            "post": {
                "summary": "Submit (students and instructors of the course, and admins)",
                "parameters": [
                    {
                        "name": "Idempotency-Key",
                        "in": "header",
                        "required": False,
                        "description": "A retry with the same key returns the first submission",
                        "schema": {"type": "string", "maxLength": 128},
                    }
                ],
                "description": "The body is the manifest of blobs uploaded before (JSON), or "
                "a bundle carrying the content the server lacks. "
                + _BUNDLE_DESCRIPTION
                + "A bundle may carry only blobs its manifest names, each once; it is refused "
                "from its manifest (403, 404, 413) before any content is stored, and its "
                "blobs and the submission are recorded together or not at all. A manifest "
                "naming content neither sent nor the caller's is a 409 whose `missing` lists "
                "those blobs: a client that guessed what the server holds sends them too "
                "and tries again. "
                "The answer lists the paths of the release's files (`released`) and names "
                "the student the submission is recorded for (`student`: the owner of the "
                "token, so a client files its copy under that name without asking first).",
                "requestBody": {
                    "required": True,
                    "content": {
                        _JSON: {"schema": _ref("ManifestUpload")},
                        blob_frames.BUNDLE_CONTENT_TYPE: _BINARY,
                    },
                },
                "responses": {
                    **_ok(
                        _success_with(
                            timestamp={"type": "string"},
                            released=_NAMES,
                            student={"type": "string"},
                        ),
                        "201",
                        "Submitted",
                    ),
                    **_errors(400, 404, 409, 413, 415, 503, 507),
                },
            },
            "get": {
                "summary": "All submissions (instructors); latest=true adds each "
                "student's latest submission with files",
                "parameters": [
                    _query_param("latest", "true: with each student's latest files", enum=_FLAG)
                ],
                "responses": {
                    **_ok(_success_with(submissions=_SUBMISSIONS)),
                    **_errors(400, 404),
                },
            },
        },
        f"{assignment}/submissions/{{student}}": {
            "parameters": [_COURSE, _ASSIGNMENT, _STUDENT],
            "get": {
                "summary": "One student's submissions (instructors, or that student)",
                "responses": {**_ok(_success_with(submissions=_SUBMISSIONS)), **_errors(404)},
            },
        },
        submission: {
            "parameters": [_COURSE, _ASSIGNMENT, _STUDENT, _TIMESTAMP],
            "get": {
                "summary": "A submission's files (instructors)",
                "responses": {
                    **_ok(_success_with(timestamp={"type": "string"}, files=_FILES)),
                    **_errors(400, 404),
                },
            },
        },
        f"{submission}/feedback": {
            "parameters": [_COURSE, _ASSIGNMENT, _STUDENT, _TIMESTAMP],
            "get": {
                "summary": "Feedback on a submission (instructors, or that student)",
                "responses": {
                    **_ok(_success_with(timestamp={"type": "string"}, files=_FILES)),
                    **_errors(400, 404),
                },
            },
            "put": {
                "summary": "Return feedback on a submission, replacing older (instructors)",
                "requestBody": _MANIFEST_BODY,
                "responses": {
                    **_ok(_success_with(), "201", "Stored"),
                    **_errors(400, 404, 409, 413, 503, 507),
                },
            },
        },
        f"{api}/courses/{{course}}/events": {
            "parameters": [_COURSE],
            "get": {
                "summary": "The course's audit log, newest first (instructors and admins)",
                "parameters": _EVENT_FILTERS,
                "responses": {**_ok(_EVENT_PAGE), **_errors(400, 404)},
            },
        },
        f"{api}/events": {
            "get": {
                "summary": "The whole audit log, newest first (admins)",
                "parameters": [
                    *_EVENT_FILTERS,
                    _query_param("course", "Only this course's events (deleted courses too)"),
                ],
                "responses": {**_ok(_EVENT_PAGE), **_errors(400)},
            }
        },
        f"{api}/admin/deleted": {
            "get": {
                "summary": "Deleted courses, assignments and enrollments (admins), newest first",
                "description": "Items of a deleted course are restored with it and not "
                "listed on their own.",
                "responses": {
                    **_ok(_success_with(deleted={"type": "array", "items": _ref("DeletedItem")})),
                    **_errors(),
                },
            }
        },
        f"{api}/admin/deleted/{{kind}}/{{id}}/restore": {
            "parameters": [
                _path_param("kind", "course, assignment or enrollment"),
                _path_param("id", "The deleted item's id", pattern="^[0-9]+$"),
            ],
            "post": {
                "summary": "Restore a deleted item (admins)",
                "responses": {**_ok(_success_with()), **_errors(400, 404, 409)},
            },
        },
        f"{api}/blobs": {
            "post": {
                "summary": "Upload many blobs in one streamed body (any user)",
                "description": "Each blob is checked against its sha256 as it arrives; "
                "the caller's possession of them is recorded only if every frame is valid. "
                + _FRAMES_DESCRIPTION,
                "requestBody": {
                    "required": True,
                    "content": {
                        blob_frames.CONTENT_TYPE: {"schema": {"type": "string", "format": "binary"}}
                    },
                },
                "responses": {
                    **_ok(_success_with(blobs=_BLOB_LIST), "201", "Stored"),
                    **_errors(400, 413, 415, 503, 507),
                },
            }
        },
        f"{api}/blobs/download": {
            "post": {
                "summary": "Download many blobs the caller may read, in one streamed body",
                "description": "One 404 if any of them is unreadable or absent (the two "
                "look the same). With gzip true, text blobs come gzip-encoded. "
                + _FRAMES_DESCRIPTION,
                "requestBody": _hash_list_body(gzip={"type": "boolean"}),
                "responses": {
                    "200": {
                        "description": "The blobs, in the order asked for, once each",
                        "content": {
                            blob_frames.CONTENT_TYPE: {
                                "schema": {"type": "string", "format": "binary"}
                            }
                        },
                    },
                    **_errors(400, 404),
                },
            }
        },
        f"{api}/blobs/missing": {
            "post": {
                "summary": "Which of these blobs the caller must upload (any user)",
                "description": "Blobs the caller may read or has uploaded count as present; "
                "nothing else does, so the answer reveals nothing about other users' files.",
                "requestBody": _hash_list_body(),
                "responses": {**_ok(_success_with(missing=_NAMES)), **_errors(400)},
            }
        },
        f"{api}/blobs/{{sha256}}": {
            "parameters": [_SHA256],
            "put": {
                "summary": "Upload a blob (any user): raw bytes, optionally gzip-encoded",
                "requestBody": {
                    "required": True,
                    "content": {
                        "application/octet-stream": {
                            "schema": {"type": "string", "format": "binary"}
                        }
                    },
                },
                "responses": {
                    **_ok(
                        _success_with(sha256={"type": "string"}, size={"type": "integer"}),
                        "201",
                        "Stored",
                    ),
                    **_errors(400, 413, 415, 503, 507),
                },
            },
            "get": {
                "summary": "Download a blob the caller may read (gzip if accepted)",
                "responses": {
                    "200": {
                        "description": "The content",
                        "content": {
                            "application/octet-stream": {
                                "schema": {"type": "string", "format": "binary"}
                            }
                        },
                    },
                    "304": {"description": "Not modified (If-None-Match)"},
                    **_errors(400, 404),
                },
            },
        },
    }
    return {
        "openapi": "3.0.3",
        "info": {
            "title": "ngshare",
            "version": __version__,
            "description": "The nbgrader exchange service: the project's own API. "
            "Authenticate with `Authorization: token <JupyterHub API token>`.",
        },
        "servers": [{"url": base_url.rstrip("/")}],
        "components": {
            "schemas": SCHEMAS,
            "securitySchemes": {
                "token": {"type": "apiKey", "in": "header", "name": "Authorization"}
            },
        },
        "security": [{"token": []}],
        "paths": paths,
    }


class OpenAPIHandler(APIHandler):
    """The document itself needs no authentication."""

    requires_auth = False

    def get(self) -> None:
        self.write_json(build_document(self.settings["base_url"]))


routes = [(r"openapi\.json", OpenAPIHandler)]
