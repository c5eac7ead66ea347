"""The base class of every ngshare exchange action.

It holds the configuration all actions share (the server URL, timeouts,
retries, the submission cache, ``path_includes_course``), opens the client's
connection (:mod:`ngshare.client`) when a command runs and closes it at the
end, and turns a failed request into nbgrader's ``ExchangeError``, logged
with the server's message before nbgrader turns it into "nbgrader <command>
failed": nbgrader's apps only print that summary, not the error itself.

The user is who the API token stands for, as the server says (asked once per
command, and only by the commands that name the user): that name files the
submission cache and asks for the user's own submissions and feedback. The
environment's ``$JUPYTERHUB_USER`` is only checked against it.
"""

from __future__ import annotations

import os
from pathlib import Path
from textwrap import dedent
from typing import Any, NoReturn

from jupyter_core.paths import jupyter_data_dir
from nbgrader.exchange.abc import Exchange as ABCExchange
from nbgrader.exchange.abc import ExchangeError
from traitlets import Bool, Float, Integer, Unicode, default

from ngshare import __version__
from ngshare.client.connection import Connection
from ngshare.client.errors import ClientError, PermissionRefused
from ngshare.client.identity import Identity, environment_mismatch
from ngshare.exchange import settings
from ngshare.exchange.errors import NgshareError
from ngshare.exchange.known_content import KnownContent


class ReportedError(ExchangeError):
    """An ExchangeError whose message has already been logged."""


class Exchange(ABCExchange):
    """Talks to an ngshare server instead of a shared directory."""

    ngshare_url = Unicode(
        "",
        help=dedent(
            """
            Base URL of the ngshare API, e.g. http://hub.example.org/services/ngshare.
            Empty: $NGSHARE_URL, else http://proxy-public/services/ngshare when
            running in a Zero to JupyterHub pod.
            """
        ),
    ).tag(config=True)

    timeout = Float(
        120.0, help="Seconds to wait for each response (or part of one) from ngshare."
    ).tag(config=True)

    connect_timeout = Float(10.0, help="Seconds to wait for a connection to ngshare.").tag(
        config=True
    )

    retries = Integer(
        3,
        help=dedent(
            """
            How often a request that is safe to repeat is retried when ngshare cannot
            be reached or a proxy answers 502, 503 or 504.
            """
        ),
    ).tag(config=True)

    retry_backoff = Float(
        0.5, help="Seconds before the first retry; the wait doubles for each retry."
    ).tag(config=True)

    cache = Unicode(
        "",
        help=dedent(
            """
            Local cache of the user's submissions, for `nbgrader list --cached` and the
            assignment list extension. Defaults to $JUPYTER_DATA_DIR/nbgrader_cache.
            """
        ),
    ).tag(config=True)

    @default("cache")
    def _cache_default(self) -> str:
        return os.path.join(jupyter_data_dir(), "nbgrader_cache")

    path_includes_course = Bool(
        False,
        help=dedent(
            """
            Whether the local path of a fetched or submitted assignment starts with the
            course name: ./course123/ps1 rather than ./ps1.
            """
        ),
    ).tag(config=True)

    allow_deleting_submissions = Bool(
        False,
        help=dedent(
            """
            Removing an assignment from ngshare removes its submissions and feedback
            with it (only a server admin can restore them), so `list --remove` refuses
            to remove an assignment that students have submitted, unless this is True.
            (`release_assignment --force` replaces the files in place and keeps them.)
            """
        ),
    ).tag(config=True)

    _client: Connection | None = None
    _identity_checked = False

    @property
    def identity(self) -> Identity:
        """Who this command acts as: whom the server says the token stands for."""
        found = self.client.identity()
        self.warn_if_environment_disagrees(found.name)
        return found

    def warn_if_environment_disagrees(self, name: str) -> None:
        """One warning per command if $JUPYTERHUB_USER names someone other than ``name``."""
        if not self._identity_checked:
            self._identity_checked = True
            warning = environment_mismatch(name, os.environ)
            if warning:
                self.log.warning("%s", warning)

    @property
    def username(self) -> str:
        """The user this command acts as (asked of the server once per command)."""
        return self.identity.name

    def who_you_are(self) -> str:
        """A sentence for a refusal: the user's name and courses as ngshare knows them."""
        try:
            found = self.identity
        except ClientError:
            # Said only to explain a refusal: the refusal stands on its own.
            return ""
        roles = [f"{role} of {course}" for course, role in sorted(found.courses.items())]
        where = ", ".join(roles) if roles else "in no course"
        return f" You are {found.name!r} to ngshare ({'admin, ' if found.admin else ''}{where})."

    def known_content(self, course: str, assignment: str) -> KnownContent:
        """This user's record of the content the server holds for an assignment."""
        return KnownContent(self.cache, self.client.base_url, course, assignment)

    @property
    def client(self) -> Connection:
        """This command's connection to ngshare, opened on first use."""
        if self._client is None:
            self._client = Connection(
                settings.service_url(self.ngshare_url),
                settings.api_token(),
                sources=settings.SOURCES,
                timeout=self.timeout,
                connect_timeout=self.connect_timeout,
                retries=self.retries,
                backoff=self.retry_backoff,
                user_agent=f"ngshare.exchange/{__version__}",
                log=self.log,
            )
        return self._client

    def fail(self, msg: str) -> NoReturn:
        self.log.critical(msg)
        raise ReportedError(msg)

    def start(self) -> Any:
        try:
            return super().start()
        except ReportedError:
            raise
        except ClientError as error:
            message = str(error)
            if isinstance(error, PermissionRefused):
                message += self.who_you_are()
            # nbgrader's apps only print "nbgrader <command> failed": say why.
            self.log.critical("%s", message)
            raise NgshareError(error, message) from None
        except ExchangeError as error:
            self.log.critical("%s", error)
            raise
        finally:
            if self._client is not None:
                self._client.close()
                self._client = None
            self._identity_checked = False

    # -- helpers shared by the actions -----------------------------------------

    def require_course(self) -> str:
        if not self.coursedir.course_id:
            self.fail("No course id specified. Re-run with --course flag.")
        return self.coursedir.course_id

    def require_assignment(self) -> str:
        if not self.coursedir.assignment_id:
            self.fail("No assignment specified. Give its name as the argument.")
        return self.coursedir.assignment_id

    def local_root(self, course_id: str, assignment_id: str) -> str:
        """The assignment's directory relative to assignment_dir, as nbgrader names it."""
        if self.path_includes_course:
            return os.path.join(course_id, assignment_id)
        return assignment_id

    def local_path(self, course_id: str, assignment_id: str) -> Path:
        """The absolute local directory of a fetched assignment."""
        return Path(
            os.path.abspath(
                os.path.join(self.assignment_dir, self.local_root(course_id, assignment_id))
            )
        )

    def check_access(self, course_id: str) -> None:
        """nbgrader's own course check (an Authenticator plugin), when one is set."""
        if self.authenticator is not None and not self.authenticator.has_access(
            self.coursedir.student_id, course_id
        ):
            self.fail("You do not have access to this course.")
