"""Putting imported students into an nbgrader gradebook as well.

nbgrader keeps its own list of students in the course's gradebook database
(``gradebook.db``), which autograding and the formgrader use; ngshare's
roster decides who may fetch and submit. ``students import --gradebook``
updates both from one CSV file, through nbgrader's own Gradebook API so the
database stays as nbgrader expects it. nbgrader is imported only here, and
only when asked for: ``ngsharectl`` itself does not need it.
"""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Sequence
from pathlib import Path

from ngshare.cli.errors import CliError, ExitCode
from ngshare.cli.roster_csv import RosterRow


def database_url(target: str) -> str:
    """A gradebook path (``gradebook.db``) or a database URL, as a URL."""
    if "://" in target:
        return target
    return f"sqlite:///{Path(target).expanduser().resolve()}"


def _alembic_on_path() -> None:
    """Let nbgrader find the ``alembic`` command it runs to create a new gradebook.

    nbgrader looks it up on PATH, which lacks this environment's scripts when
    ``ngsharectl`` is run by its full path from a virtualenv that is not
    activated; it is installed next to this interpreter.
    """
    scripts = str(Path(sys.executable).parent)
    if shutil.which("alembic") is None and shutil.which("alembic", path=scripts):
        os.environ["PATH"] = os.pathsep.join([scripts, os.environ.get("PATH", "")])


def import_students(target: str, course_id: str, rows: Sequence[RosterRow]) -> int:
    """Create or update each student in the gradebook; returns how many."""
    try:
        from nbgrader.api import Gradebook, InvalidEntry
    except ImportError:
        raise CliError(
            "--gradebook needs nbgrader, which is not installed here. Install it "
            "(pip install 'ngshare[exchange]') or run ngsharectl where nbgrader runs.",
            ExitCode.LOCAL,
        ) from None
    from sqlalchemy.exc import SQLAlchemyError

    if "://" not in target and not Path(target).expanduser().parent.is_dir():
        raise CliError(
            f"Cannot open the gradebook {target}: its directory does not exist.", ExitCode.LOCAL
        )
    _alembic_on_path()
    try:
        with Gradebook(database_url(target), course_id=course_id) as gradebook:
            for row in rows:
                # As nbgrader's own import: an empty cell is NULL, and a column
                # the file lacks is not touched.
                given = {**row.details(), "lms_user_id": row.lms_user_id}
                gradebook.update_or_create_student(
                    row.username, **{k: v or None for k, v in given.items() if v is not None}
                )
    except (SQLAlchemyError, InvalidEntry, OSError) as error:
        detail = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise CliError(f"Cannot update the gradebook {target}: {detail}", ExitCode.LOCAL) from None
    return len(rows)
