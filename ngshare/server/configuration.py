"""Reading the command line and config files strictly: a mistake stops ngshare in one line.

traitlets, left to itself, survives most mistakes: an unknown option is a
warning, a config file that raises is a logged traceback after which the
server starts without the file's settings (its tokens and admins), a path
to a missing config file is silently ignored, and anything positional is
dropped. For a server that guards a semester of student work each of those
is a trap, so here every one of them is a :class:`StartupError`: ``ngshare``
prints one line saying what is wrong and what to do, and exits non-zero.
Tracebacks appear only with ``--debug``.
"""

from __future__ import annotations

import difflib
import logging
import sys
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any, NoReturn

from traitlets import Enum, TraitError
from traitlets.config import Application, Configurable
from traitlets.config.loader import ArgumentError, KVArgParseConfigLoader

# Exit statuses: 2 for a command line that cannot be understood (as argparse
# does), 1 for everything else that stops the start.
USAGE = 2
FAILED = 1


class StartupError(Exception):
    """Why ngshare cannot start, in one line meant for the person who started it."""

    def __init__(self, message: str, status: int = FAILED) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


def _undecorated(method: Callable[..., Any]) -> Callable[..., Any]:
    """traitlets' method without its catch_config_error, which logs and exits by itself."""
    return getattr(method, "__wrapped__", method)


class _StrictLoader(KVArgParseConfigLoader):
    """Command-line parsing in which every mistake is a one-line StartupError."""

    progname = "ngshare"

    def _create_parser(self) -> None:
        super()._create_parser()

        def error(message: str) -> NoReturn:
            # argparse would print its usage block and exit by itself.
            raise StartupError(f"{message}. Run `{self.progname} --help` for the options.", USAGE)

        self.parser.error = error  # type: ignore[method-assign]

    def _handle_unrecognized_alias(self, arg: str) -> None:
        raise StartupError(
            f"Unknown option --{arg}. Run `{self.progname} --help` for the options.", USAGE
        )


class StrictApplication(Application):
    """An Application whose command line and config files must be right."""

    # A config file that raises stops the start instead of being skipped.
    raise_config_file_errors = True
    #: Whether the command takes positional arguments (it then checks them itself).
    takes_arguments = False
    # INFO, not traitlets' WARN: the start-up lines (where it listens, which
    # mode, which database) are what an admin reads first. Redefined rather
    # than given a @default so --help shows the level that is really used.
    log_level = Enum(
        (0, 10, 20, 30, 40, 50, "DEBUG", "INFO", "WARN", "ERROR", "CRITICAL"),
        default_value=logging.INFO,
        help="Set the log level by value or name.",
    ).tag(config=True)
    _reading_command_line = False

    def initialize(self, argv: list[str] | None = None) -> None:
        self.parse_command_line(argv)
        if self.subapp is None:
            self.load_settings()
            # After the config files: they may choose classes (a blob store)
            # whose options the command line sets.
            self.check_command_line(self.known_classes())

    def load_settings(self) -> None:
        """Read what comes after the command line (config files); for subclasses."""

    def known_classes(self) -> list[type[Configurable]]:
        return [type(self), Application, *self.classes]

    def parse_command_line(self, argv: list[str] | None = None) -> None:
        self._reading_command_line = True
        try:
            _undecorated(Application.parse_command_line)(self, argv)
        except (TraitError, ArgumentError) as error:
            reason = str(error).rstrip(".")
            raise StartupError(
                f"Invalid option: {reason}. Run `{self.name} --help` for the options.", USAGE
            ) from error
        finally:
            self._reading_command_line = False

    def _load_config(self, cfg: Any, section_names: Any = None, traits: Any = None) -> None:
        # Options for this application itself are applied while the command
        # line is read, before check_command_line() could see them: check here,
        # or traitlets would only warn. (Config files may keep unknown options,
        # e.g. of another version: those stay warnings.)
        section = type(self).__name__
        if self._reading_command_line and section in cfg:
            known = self.class_trait_names(config=True)
            for name in cfg[section]:
                if name not in known:
                    raise StartupError(
                        f"Unknown option --{section}.{name}{_suggestion(name, known)}. "
                        f"Run `{self.name} --help-all` for every option.",
                        USAGE,
                    )
        super()._load_config(cfg, section_names, traits)

    def _create_loader(
        self, argv: list[str] | None, aliases: Any, flags: Any, classes: Any
    ) -> KVArgParseConfigLoader:
        loader = _StrictLoader(
            argv, aliases, flags, classes=classes, log=self.log, subcommands=self.subcommands
        )
        loader.progname = self.name.replace("-", " ", 1)
        return loader

    def check_command_line(self, known: list[type[Configurable]]) -> None:
        """Refuse positional arguments and ``--Class.trait`` options nobody reads."""
        if self.extra_args and not self.takes_arguments:
            commands = ", ".join(self.subcommands or {}) or "none"
            raise StartupError(
                f"Unknown command {self.extra_args[0]!r}. Commands: {commands}. "
                f"Run `{self.name} --help` for more.",
                USAGE,
            )
        # Settings of a base class apply to its subclasses (traitlets' rule).
        by_name = {
            base.__name__: base
            for cls in known
            for base in cls.mro()
            if isinstance(base, type) and issubclass(base, Configurable)
        }
        for section, values in self.cli_config.items():
            cls = by_name.get(section)
            if cls is None:
                raise StartupError(
                    f"Unknown option --{section}.{next(iter(values), '')}: nothing here is "
                    f"configured as {section}{_suggestion(section, by_name)}.",
                    USAGE,
                )
            traits = cls.class_trait_names(config=True)
            for name in values:
                if name not in traits:
                    raise StartupError(
                        f"Unknown option --{section}.{name}{_suggestion(name, traits)}. "
                        f"Run `{self.name} --help-all` for every option.",
                        USAGE,
                    )

    def load_config_file_strictly(self, path: str, *, given: bool) -> None:
        """Load ``path``; if the user named it (``given``), it must exist."""
        file = Path(path)
        if not file.is_file():
            if given:
                raise StartupError(
                    f"Config file {path} not found (given with -f/--config). Check the path, "
                    f"or run `{self.name} --generate-config` to write one."
                )
            return
        try:
            _undecorated(Application.load_config_file)(self, str(file.resolve()))
        except TraitError as error:
            raise StartupError(f"Config file {path}: {error}") from error
        except Exception as error:
            raise StartupError(
                f"Config file {path} failed: {_describe(error, file)}. Fix it, or start without it."
            ) from error


def _suggestion(name: str, candidates: Any) -> str:
    close = difflib.get_close_matches(name, list(candidates), n=1)
    return f" (did you mean {close[0]}?)" if close else ""


def _describe(error: BaseException, file: Path) -> str:
    if isinstance(error, SyntaxError):
        return f"SyntaxError: {error.msg} (line {error.lineno})"
    # The innermost frame in the config file says where the mistake is.
    frames = traceback.extract_tb(error.__traceback__)
    lines = [f.lineno for f in frames if Path(f.filename).resolve() == file.resolve()]
    where = f" (line {lines[-1]})" if lines else ""
    return f"{type(error).__name__}: {error}{where}"


def exit_with(app: Application, error: StartupError, *, debug: bool) -> NoReturn:
    """Print ``error`` as one line (with its traceback under ``--debug``) and exit."""
    if debug:
        traceback.print_exception(error)
    print(f"{app.name}: error: {error.message}", file=sys.stderr)
    sys.exit(error.status)
