"""Errors the domain operations raise; the HTTP layer turns each into JSON.

The service layer knows nothing of HTTP, but its failures map one to one onto
status codes, so each error carries the status a handler should answer with.
"""

from __future__ import annotations


class ServiceError(Exception):
    """A refused operation: nothing was changed."""

    status = 400

    def __init__(self, message: str, **fields: object) -> None:
        super().__init__(message)
        self.message = message
        # What a client acts on besides the message (e.g. the blobs to send),
        # answered next to it in the error's JSON.
        self.fields = fields


class BadRequest(ServiceError):
    status = 400


class Forbidden(ServiceError):
    status = 403


class NotFound(ServiceError):
    status = 404


class Conflict(ServiceError):
    status = 409


class TooLarge(ServiceError):
    status = 413


class Unavailable(ServiceError):
    """A dependency (the database, the hub) cannot be reached right now."""

    status = 503


class UnsupportedMediaType(ServiceError):
    """An upload in an encoding or format the server does not take."""

    status = 415


class InsufficientStorage(ServiceError):
    """The blob store is full: nothing of the upload was kept; the same upload works later."""

    status = 507
