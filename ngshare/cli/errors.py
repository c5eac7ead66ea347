"""Exit codes of ``ngsharectl`` and the error that carries one.

Every failure a user can cause or meet (a missing setting, an unreachable
server, a refusal, a bad CSV file, an unwritable output) ends as a
:class:`CliError` with the exit code below and a message to show as is, so
scripts can tell failures apart without parsing text. Failures of requests
come from the client as a :class:`~ngshare.client.errors.ClientError`, whose
kind decides the code (:func:`from_client`). The codes are part of the
command's interface (documented in ``docs/cli.md``): never renumber them.
"""

from __future__ import annotations

import enum

from ngshare.client import errors


class ExitCode(enum.IntEnum):
    """What ``ngsharectl`` exits with."""

    OK = 0
    #: An unexpected error (a bug in ngsharectl): Python's own code, with a traceback.
    INTERNAL = 1
    #: Bad command-line arguments (argparse's own code), or a confirmation missing.
    USAGE = 2
    #: No server URL or token, or the URL does not lead to ngshare's API.
    CONFIG = 3
    #: The server cannot be reached, or did not answer in time.
    UNREACHABLE = 4
    #: The server refused the token (invalid, expired, or without access to the service).
    AUTH = 5
    #: The token's user may not do this (HTTP 403 "Permission denied").
    PERMISSION = 6
    #: The course, assignment, user or submission does not exist (HTTP 404).
    NOT_FOUND = 7
    #: It exists already, or conflicts with what exists (HTTP 409).
    CONFLICT = 8
    #: The server refused the request as invalid (HTTP 400, 413).
    REJECTED = 9
    #: The server failed (HTTP 5xx) or sent something broken.
    SERVER = 10
    #: An input file (the roster CSV) is missing or invalid; nothing was sent.
    BAD_INPUT = 11
    #: A local file cannot be written or read: output exists, gradebook, nbgrader missing.
    LOCAL = 12
    #: The command ran, but the server refused some of the items (e.g. CSV lines).
    PARTIAL = 13
    #: Interrupted with Ctrl-C.
    INTERRUPTED = 130


class CliError(Exception):
    """A failure to report to the user; ``str()`` is the whole message."""

    def __init__(
        self,
        message: str,
        code: ExitCode,
        *,
        status: int | None = None,
        server_message: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        #: The HTTP status, when the server answered.
        self.status = status
        #: The server's own ``message``, when it sent one.
        self.server_message = server_message

    def as_json(self) -> dict[str, object]:
        return {
            "code": int(self.code),
            "kind": self.code.name.lower(),
            "message": self.message,
            "status": self.status,
            "server_message": self.server_message,
        }


# The most specific kind first: OldServer is a WrongService.
EXIT_CODES: list[tuple[type[errors.ClientError], ExitCode]] = [
    (errors.ConfigurationError, ExitCode.CONFIG),
    (errors.WrongService, ExitCode.CONFIG),
    (errors.ServerUnreachable, ExitCode.UNREACHABLE),
    (errors.AuthenticationRefused, ExitCode.AUTH),
    (errors.PermissionRefused, ExitCode.PERMISSION),
    (errors.NotFound, ExitCode.NOT_FOUND),
    (errors.Conflict, ExitCode.CONFLICT),
    (errors.TooLarge, ExitCode.REJECTED),
    (errors.Rejected, ExitCode.REJECTED),
    (errors.LocalFileError, ExitCode.LOCAL),
]


def from_client(error: errors.ClientError) -> CliError:
    """A client's error as ngsharectl reports it.

    "Cannot <what>: <the server's message> (HTTP <status>). <hint>", or for a
    server that did not answer, why, with its URL as the subject.
    """
    code = next((code for kind, code in EXIT_CODES if isinstance(error, kind)), ExitCode.SERVER)
    if error.what is None:
        return CliError(error.detail, code)
    detail = error.detail
    if isinstance(error, errors.ServerUnreachable) and error.status is None:
        detail = error.explanation
    message = f"Cannot {error.what}: {detail}"
    if error.status is not None:
        message += f" (HTTP {error.status})"
    message += f". {error.hint}" if error.hint else "."
    return CliError(message, code, status=error.status, server_message=error.server_message)
