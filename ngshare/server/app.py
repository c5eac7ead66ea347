"""The ``ngshare`` command: configuration, startup and the Tornado application.

Configuration follows JupyterHub: every setting is a documented trait that can
be set in ``ngshare_config.py`` (``-f``) or on the command line, and the
environment JupyterHub gives a managed service only provides *defaults*. So a
hub-managed service needs nothing but ``"command": ["ngshare", "--admins", ...]``,
and without a hub ``ngshare`` starts with SQLite and a blob directory in its
data directory and static API tokens.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import importlib
import logging
import os
import secrets
import signal
import sys
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from sqlalchemy.exc import OperationalError
from tornado import web
from tornado.httpclient import AsyncHTTPClient
from tornado.httpserver import HTTPServer
from tornado.netutil import bind_sockets
from traitlets import (
    Bool,
    Enum,
    Float,
    Integer,
    Set,
    TraitError,
    Type,
    Unicode,
    default,
    validate,
)

from ngshare import __version__
from ngshare.server.auth.authenticators import (
    Authenticator,
    HubAuthenticator,
    StaticTokenAuthenticator,
)
from ngshare.server.auth.hub_groups import HubGroups
from ngshare.server.auth.oauth_state import SharedStateHubOAuth
from ngshare.server.configuration import StartupError, StrictApplication, exit_with
from ngshare.server.handlers import api, pages, v1
from ngshare.server.handlers.base import NotFoundHandler
from ngshare.server.handlers.health import HealthHandler, ReadyHandler
from ngshare.server.handlers.metrics import MetricsHandler
from ngshare.server.handlers.oauth import OAuthCallbackHandler
from ngshare.server.handlers.pages.times import load_zone
from ngshare.server.handlers.request_log import log_request
from ngshare.server.handlers.v1.release_cache import ReleaseCache
from ngshare.server.maintenance.purge import purge_periodically
from ngshare.server.service.limits import ContentLimits
from ngshare.server.service.metrics import unwatch, watch_database_pool
from ngshare.server.service.readiness import ReadinessProbe
from ngshare.server.service.runner import ServiceRunner
from ngshare.server.storage.blobs import STORE_NAMES, BlobStore, BlobStoreUnusable
from ngshare.server.storage.blobs.filesystem import FilesystemBlobStore
from ngshare.server.storage.blobs.gzip_cache import GzipCache
from ngshare.server.storage.db import Database, SchemaOutOfDate, redact_url
from ngshare.server.storage.private_files import private_directory, warn_if_readable_by_others

DEFAULT_PORT = 10101
# Larger blobs are sent as stored: compressing them would hold them in memory.
GZIP_CACHE_MAX_BLOB = 8 * 1024**2


STANDALONE_ADMIN = "admin"
# What to install for a store whose library is an optional extra.
STORE_EXTRAS = {"ngshare.server.storage.blobs.s3": " (pip install 'ngshare[s3]')"}


class BlobStoreClass(Type):
    """A :class:`BlobStore` class: by its short name, its dotted name, or itself."""

    def validate(self, obj: Any, value: Any) -> Any:
        if isinstance(value, str):
            value = STORE_NAMES.get(value, value)
            module = value.rpartition(".")[0]
            try:
                if module:
                    importlib.import_module(module)
            except ModuleNotFoundError as e:
                if e.name is None or module.startswith(e.name):
                    raise TraitError(f"{value} could not be imported: {e}") from None
                # The store is there, a library it needs is not (boto3 for s3).
                raise TraitError(
                    f"The blob store {value} needs the module {e.name!r}, which is not "
                    f"installed{STORE_EXTRAS.get(module, '')}"
                ) from None
        return super().validate(obj, value)


aliases = {
    "f": "NgshareApp.config_file",
    "config": "NgshareApp.config_file",
    "ip": "NgshareApp.ip",
    "port": "NgshareApp.port",
    "prefix": "NgshareApp.base_url",
    "data-dir": "NgshareApp.data_dir",
    "db-url": "NgshareApp.db_url",
    "storage-path": "NgshareApp.storage_path",
    "blob-store": "NgshareApp.blob_store",
    "admins": "NgshareApp.admin_users",
    "mode": "NgshareApp.mode",
    "log-level": "NgshareApp.log_level",
}

flags = {
    "debug": (
        {"Application": {"log_level": logging.DEBUG}, "NgshareApp": {"debug": True}},
        "Log at debug level (never logs secrets).",
    ),
    "generate-config": (
        {"NgshareApp": {"generate_config": True}},
        "Write a commented default config file and exit.",
    ),
    "no-upgrade-db": (
        {"NgshareApp": {"upgrade_db": False}},
        "Do not upgrade the database schema at start (fail if it is out of date).",
    ),
    "roles-from-groups": (
        {"HubGroups": {"roles_from_groups": True}},
        "Take course roles from JupyterHub groups (formgrade-<course>, nbgrader-<course>).",
    ),
}


class NgshareApp(StrictApplication):
    """The nbgrader exchange as a JupyterHub service."""

    name = "ngshare"
    version = __version__
    description = __doc__
    aliases = aliases
    flags = flags
    subcommands = {
        # By name: the commands import this module, which must not import them.
        "upgrade-db": ("ngshare.server.commands.UpgradeDB", "Upgrade the database schema."),
        "verify-storage": (
            "ngshare.server.commands.VerifyStorage",
            "Check that every file in the database has its content in the blob store.",
        ),
        "list-deleted": (
            "ngshare.server.commands.ListDeleted",
            "List deleted items still restorable.",
        ),
        "restore": ("ngshare.server.commands.Restore", "Restore a deleted item: KIND ID."),
        "purge-deleted": (
            "ngshare.server.commands.PurgeDeleted",
            "Remove deleted items past the retention period for good.",
        ),
        "gc-blobs": ("ngshare.server.commands.GCBlobs", "Remove blob contents no file refers to."),
        "copy-blobs": (
            "ngshare.server.commands.CopyBlobs",
            "Copy every blob to the configured store from another (to move stores).",
        ),
        "import-ngshare06": (
            "ngshare.server.commands.ImportNgshare06",
            "Import an ngshare 0.6 server's database and files.",
        ),
    }

    config_file = Unicode("ngshare_config.py", help="The config file to load.").tag(config=True)
    generate_config = Bool(False, help="Generate a default config file and exit.").tag(config=True)
    debug = Bool(False, help="Debug mode: more logging, tracebacks in the server log.").tag(
        config=True
    )

    ip = Unicode(help="Address to listen on; from $JUPYTERHUB_SERVICE_URL by default.").tag(
        config=True
    )
    port = Integer(
        help="Port to listen on; from $JUPYTERHUB_SERVICE_URL by default. 0: any free "
        "port, which the start-up log names."
    ).tag(config=True)
    base_url = Unicode(
        help="URL prefix of every route; $JUPYTERHUB_SERVICE_PREFIX by default, else /."
    ).tag(config=True)

    data_dir = Unicode(
        help="Where the embedded database and blobs live by default ($NGSHARE_DATA_DIR, "
        "else ./ngshare-data)."
    ).tag(config=True)
    db_url = Unicode(
        help="SQLAlchemy database URL ($NGSHARE_DB_URL, else SQLite in data_dir). "
        "postgresql://user@host/db uses psycopg 3."
    ).tag(config=True)
    storage_path = Unicode(
        help="Directory of the blob store ($NGSHARE_STORAGE_PATH, else data_dir/blobs)."
    ).tag(config=True)
    blob_store = BlobStoreClass(
        FilesystemBlobStore,
        klass=BlobStore,
        help="""Where file contents live: "filesystem" (under storage_path),
        "database" (in the database itself, so several replicas need nothing
        shared but the database), or the dotted name of any BlobStore class,
        configured through its own traits.""",
    ).tag(config=True)
    upgrade_db = Bool(
        True, help="Upgrade the database schema at start (after backing up SQLite)."
    ).tag(config=True)

    db_pool_size = Integer(8, help="Database connection pool size.").tag(config=True)
    db_max_overflow = Integer(8, help="Connections allowed beyond the pool size.").tag(config=True)
    db_pool_timeout = Integer(30, help="Seconds to wait for a pooled connection.").tag(config=True)
    workers = Integer(8, help="Worker threads for database operations and file I/O.").tag(
        config=True
    )
    max_body_size = Integer(
        1024**3,
        help="Largest request body accepted, in bytes (v1 uploads are buffered whole).",
    ).tag(config=True)
    max_file_size = Integer(
        1024**3,
        help="Largest single file accepted, in bytes, through either API (413 beyond).",
    ).tag(config=True)
    gzip_cache_size = Integer(
        64 * 1024**2,
        help="""Bytes of memory for compressed copies of small text blobs (notebooks),
        so a release downloaded by every student is compressed once; 0 turns it off
        (and with it compression of own-API downloads).""",
    ).tag(config=True)
    release_cache_size = Integer(
        64 * 1024**2,
        help="""Bytes of memory for v1 release answers (every file base64-encoded in
        JSON), so a release fetched by every student is encoded once; 0 turns it off.""",
    ).tag(config=True)
    course_quota = Integer(
        0,
        help="""Most bytes one course may hold (releases, submissions and feedback
        together); 0 means no quota. Uploads past it are refused with 413.""",
    ).tag(config=True)
    max_submission_size = Integer(
        4 * 1024**3,
        help="Largest total of one release, submission or feedback, in bytes (413 beyond).",
    ).tag(config=True)

    deleted_retention_days = Float(
        30,
        help="Days a deleted course, assignment or student stays restorable by an admin "
        "before it is purged for good (fractions allowed).",
    ).tag(config=True)
    purge_interval_seconds = Float(
        3600, help="How often the server purges deleted data past retention."
    ).tag(config=True)

    authenticate_prometheus = Bool(
        True,
        help="""Whether /metrics needs an admin's token (like JupyterHub's setting of
        the same name). Turn off for in-cluster scrapers that cannot hold one, and
        keep /metrics unreachable from outside.""",
    ).tag(config=True)

    shutdown_timeout = Float(
        30,
        help="""Seconds to let requests in flight finish after SIGTERM before
        stopping anyway (Kubernetes: keep terminationGracePeriodSeconds above
        this plus the preStop delay).""",
    ).tag(config=True)

    cookie_secret_file = Unicode(
        help="""File holding the secret that signs browser login cookies
        (<data_dir>/cookie_secret by default, created on first start).
        $NGSHARE_COOKIE_SECRET (hex) takes precedence: give every replica the
        same secret so a login works on all of them.""",
    ).tag(config=True)

    admin_users = Set(
        Unicode(),
        help="User names with full rights over every course (--admins a,b).",
    ).tag(config=True)
    display_timezone = Unicode(
        "UTC",
        help="""The time zone of the web pages (an IANA name, e.g. Europe/Berlin):
        times are shown in it, and due dates are entered in it.""",
    ).tag(config=True)

    mode = Enum(
        ["auto", "hub", "standalone"],
        default_value="auto",
        help="""How callers are identified. "hub": by their JupyterHub tokens (and
        browser logins), as a JupyterHub service. "standalone": by the static API
        tokens of StaticTokenAuthenticator.api_tokens. "auto" (the default): hub
        when the environment is a hub service's ($JUPYTERHUB_API_TOKEN with
        $JUPYTERHUB_SERVICE_NAME or $JUPYTERHUB_API_URL, and no $JUPYTERHUB_USER,
        which only a user's own server has), else standalone. The start-up log
        says which, and why.""",
    ).tag(config=True)

    authenticator_class = Type(
        klass=Authenticator,
        help="How callers are identified; set by mode (HubAuthenticator or "
        "StaticTokenAuthenticator) unless given.",
    ).tag(config=True)

    @default("log_format")
    def _default_log_format(self) -> str:
        return "[%(levelname)1.1s %(asctime)s %(name)s] %(message)s"

    @default("log_datefmt")
    def _default_log_datefmt(self) -> str:
        return "%Y-%m-%d %H:%M:%S"

    @validate("admin_users")
    def _split_admins(self, proposal: Any) -> set[str]:
        names: set[str] = set()
        for item in proposal.value:
            names.update(n.strip() for n in item.split(",") if n.strip())
        return names

    @validate("display_timezone")
    def _known_zone(self, proposal: Any) -> str:
        try:
            load_zone(proposal.value)
        except ValueError as e:
            raise TraitError(str(e)) from None
        return str(proposal.value)

    def chosen_mode(self) -> tuple[str, str]:
        """("hub" or "standalone", why), from ``mode`` and the environment."""
        if self.mode != "auto":
            return self.mode, f"--mode={self.mode}"
        env = os.environ
        if not env.get("JUPYTERHUB_API_TOKEN"):
            return "standalone", "no JupyterHub service environment"
        if env.get("JUPYTERHUB_USER"):
            # A user's single-user server has the hub's variables too.
            return "standalone", "$JUPYTERHUB_USER is set: a user's environment, not a service's"
        for variable in ("JUPYTERHUB_SERVICE_NAME", "JUPYTERHUB_API_URL"):
            if env.get(variable):
                return "hub", f"${variable} and $JUPYTERHUB_API_TOKEN are set"
        return "standalone", (
            "$JUPYTERHUB_API_TOKEN alone is a client's token; a service also has "
            "$JUPYTERHUB_API_URL (or use --mode=hub)"
        )

    @default("authenticator_class")
    def _default_authenticator(self) -> type[Authenticator]:
        mode, _ = self.chosen_mode()
        return HubAuthenticator if mode == "hub" else StaticTokenAuthenticator

    def _service_url(self) -> Any:
        url = os.environ.get("JUPYTERHUB_SERVICE_URL")
        return urlparse(url) if url else None

    @default("ip")
    def _default_ip(self) -> str:
        service = self._service_url()
        return service.hostname if service and service.hostname else "127.0.0.1"

    @default("port")
    def _default_port(self) -> int:
        service = self._service_url()
        if service and service.port:
            return service.port
        return DEFAULT_PORT

    @default("base_url")
    def _default_base_url(self) -> str:
        return os.environ.get("JUPYTERHUB_SERVICE_PREFIX", "/")

    @validate("base_url")
    def _slashes(self, proposal: Any) -> str:
        value = proposal.value or "/"
        return "/" + value.strip("/") + "/" if value.strip("/") else "/"

    @default("data_dir")
    def _default_data_dir(self) -> str:
        return os.path.abspath(os.environ.get("NGSHARE_DATA_DIR", "ngshare-data"))

    @default("db_url")
    def _default_db_url(self) -> str:
        return os.environ.get(
            "NGSHARE_DB_URL", "sqlite:///" + os.path.join(self.data_dir, "ngshare.sqlite")
        )

    @default("cookie_secret_file")
    def _default_cookie_secret_file(self) -> str:
        return os.path.join(self.data_dir, "cookie_secret")

    def cookie_secret(self) -> bytes:
        """The cookie signing secret: stable across restarts, shared by replicas."""
        from_env = os.environ.get("NGSHARE_COOKIE_SECRET")
        if from_env:
            return bytes.fromhex(from_env)
        path = Path(self.cookie_secret_file)
        if not path.exists():
            private_directory(path.parent)
            with contextlib.suppress(FileExistsError):
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
                with os.fdopen(fd, "w") as handle:
                    handle.write(secrets.token_hex(32) + "\n")
        return bytes.fromhex(path.read_text().strip())

    @default("storage_path")
    def _default_storage_path(self) -> str:
        return os.environ.get("NGSHARE_STORAGE_PATH", os.path.join(self.data_dir, "blobs"))

    # -- startup ------------------------------------------------------------------

    @property
    def classes(self) -> list[type]:  # type: ignore[override]
        # Every class ngshare configures, so --help-all and the checks of
        # --Class.trait options know them all: JupyterHub's HubAuth settings
        # (e.g. --HubAuth.cache_max_age) reach the authenticator's HubOAuth.
        return [*self._classes_for_config(), SharedStateHubOAuth]

    def initialize(self, argv: list[str] | None = None) -> None:
        super().initialize(argv)
        if self.subapp is None:
            self._route_logs()

    def load_settings(self) -> None:
        if self.generate_config:
            return  # -f names the file to write, not one to read
        given = "config_file" in self.cli_config.get("NgshareApp", {})
        self.load_config_file_strictly(self.config_file, given=given)
        # Command-line values win over the config file.
        self.update_config(self.cli_config)

    def _route_logs(self) -> None:
        self.log.propagate = False
        for name in ("ngshare", "ngshare.access", "tornado.application", "tornado.general"):
            logger = logging.getLogger(name)
            logger.setLevel(self.log.level)
            logger.propagate = False
            for handler in self.log.handlers:
                if handler not in logger.handlers:
                    logger.addHandler(handler)
        if self.log.handlers:
            logging.getLogger("alembic").addHandler(self.log.handlers[0])
            logging.getLogger("alembic").setLevel(logging.WARNING)

    def make_authenticator(self) -> Authenticator:
        options: dict[str, Any] = {"parent": self, "admin_users": set(self.admin_users)}
        if issubclass(self.authenticator_class, HubAuthenticator):
            options["prefix"] = self.base_url
            options["cookie_secret"] = self.cookie_secret()
        authenticator = self.authenticator_class(**options)
        if isinstance(authenticator, StaticTokenAuthenticator) and not authenticator.api_tokens:
            self._add_standalone_admin_token(authenticator)
        return authenticator

    def _add_standalone_admin_token(self, authenticator: StaticTokenAuthenticator) -> None:
        """With nothing configured, make one admin token so the server is usable.

        The token is kept in a file only this OS user can read; it is never
        printed or logged, only the file's path is.
        """
        path = Path(self.data_dir) / "admin-token"
        private_directory(path.parent)
        if not path.exists():
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as handle:
                handle.write(secrets.token_urlsafe(32) + "\n")
        token = path.read_text().strip()
        authenticator.api_tokens = {token: STANDALONE_ADMIN}
        authenticator.admin_users = set(authenticator.admin_users) | {STANDALONE_ADMIN}
        self._admin_token_file = path

    def make_app(self, runner: ServiceRunner, authenticator: Authenticator) -> web.Application:
        prefix = self.base_url
        handlers: list[Any] = [
            ("/healthz", HealthHandler),
            (prefix + "healthz", HealthHandler),
            ("/readyz", ReadyHandler),
            (prefix + "readyz", ReadyHandler),
            ("/metrics", MetricsHandler),
            (prefix + "metrics", MetricsHandler),
            *v1.routes(prefix),
            *api.routes(prefix),
            *pages.routes(prefix),
        ]
        if authenticator.hub_oauth is not None:
            handlers.append((prefix + "oauth_callback", OAuthCallbackHandler))
        settings = {
            "authenticator": authenticator,
            "runner": runner,
            "base_url": prefix,
            # v1 request bodies are buffered whole: an HTTP limit, the
            # handlers' own (the content limits are the runner's).
            "max_body_size": self.max_body_size,
            "release_cache": ReleaseCache(self.release_cache_size),
            "readiness": ReadinessProbe(runner.database, runner.blobs),
            "authenticate_prometheus": self.authenticate_prometheus,
            "deleted_retention": datetime.timedelta(days=self.deleted_retention_days),
            "log_function": log_request,
            "default_handler_class": NotFoundHandler,
            "cookie_secret": self.cookie_secret(),
            "login_url": prefix,
            "debug": False,
            "serve_traceback": False,
            **pages.settings(prefix, self.display_timezone),
        }
        return web.Application(handlers, **settings)

    def open_database(self) -> Database:
        database = Database(
            self.db_url,
            pool_size=self.db_pool_size,
            max_overflow=self.db_max_overflow,
            pool_timeout=self.db_pool_timeout,
        )
        try:
            if self.upgrade_db:
                database.upgrade()
            else:
                database.check_schema()
        except SchemaOutOfDate as error:
            database.dispose()
            raise StartupError(str(error)) from error
        except OperationalError as error:
            database.dispose()
            reason = str(error.orig or error).strip().splitlines()[0]
            raise StartupError(
                f"Cannot open the database {redact_url(self.db_url)}: {reason}. Check --db-url "
                "($NGSHARE_DB_URL) and that the database server is running."
            ) from error
        return database

    def start(self) -> None:
        if self.subapp is not None:
            self.subapp.start()
            return
        if self.generate_config:
            self._write_default_config()
            return
        asyncio.run(self.serve())

    def _write_default_config(self) -> None:
        path = Path(self.config_file)
        try:
            # Only its owner may read it: the docs put API tokens in it.
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            raise StartupError(f"{path} exists; not overwriting it (remove it first)") from None
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(self.generate_config_file())
        print(f"Wrote default config to {path}")

    def _classes_for_config(self) -> list[type]:
        # The configured blob store's own settings too (a plug-in store's).
        return [
            NgshareApp,
            HubAuthenticator,
            HubGroups,
            StaticTokenAuthenticator,
            self.blob_store,
        ]

    def generate_config_file(self, classes: Any = None) -> str:
        return super().generate_config_file(classes or self._classes_for_config())

    def content_limits(self) -> ContentLimits:
        """The limits on uploaded content, handed once to the service layer."""
        return ContentLimits(
            max_file_size=self.max_file_size,
            max_submission_size=self.max_submission_size,
            course_quota=self.course_quota,
        )

    def make_blob_store(self, database: Database, *, enforce_identity: bool = True) -> BlobStore:
        """The configured store, checked; an unusable one is fatal, in one line.

        ``enforce_identity=False`` accepts a store other than the one the
        database records (for ``ngshare copy-blobs``, which fills it).
        """
        try:
            store = self.blob_store(
                parent=self, database=database, enforce_identity=enforce_identity
            )
            store.check()
        except (BlobStoreUnusable, OSError) as e:
            raise StartupError(f"The blob store {self.blob_store.__name__} is unusable: {e}") from e
        return store

    def make_hub_groups(
        self, runner: ServiceRunner, authenticator: Authenticator
    ) -> HubGroups | None:
        """Course roles from hub groups, if configured (and under JupyterHub)."""
        if not isinstance(authenticator, HubAuthenticator):
            if self.config.get("HubGroups", {}).get("roles_from_groups"):
                self.log.warning("roles_from_groups needs JupyterHub: groups are ignored")
            return None
        groups = HubGroups(runner=runner, hub_auth=authenticator.hub_auth, parent=self)
        if not groups.roles_from_groups:
            return None
        authenticator.caller_groups = groups
        return groups

    async def serve(self) -> None:
        warn_if_readable_by_others(Path(self.data_dir), "The data directory")
        database = self.open_database()
        pool_metrics = watch_database_pool(database.engine)
        blobs = self.make_blob_store(database)
        runner = ServiceRunner(
            database,
            blobs,
            self.workers,
            limits=self.content_limits(),
            gzip_cache=GzipCache(self.gzip_cache_size, GZIP_CACHE_MAX_BLOB),
        )
        authenticator = self.make_authenticator()
        app = self.make_app(runner, authenticator)
        server = HTTPServer(app, xheaders=True, max_body_size=self.max_body_size)
        try:
            sockets = bind_sockets(self.port, self.ip)
        except OSError as error:
            runner.shutdown()
            raise StartupError(
                f"Cannot listen on {self.ip}:{self.port}: {error.strerror or error}. "
                "Is another ngshare (or another program) using that port? "
                "Choose another with --port."
            ) from error
        server.add_sockets(sockets)
        hub_groups = self.make_hub_groups(runner, authenticator)
        if hub_groups is not None:
            hub_groups.start()
        # The bound port, which --port=0 leaves to the system to choose.
        self._announce(authenticator, hub_groups, blobs, sockets[0].getsockname()[1])
        background = []
        if isinstance(authenticator, HubAuthenticator):
            background.append(asyncio.create_task(self._warn_if_hub_unreachable(authenticator)))
        purger = asyncio.create_task(
            purge_periodically(
                runner,
                datetime.timedelta(days=self.deleted_retention_days),
                self.purge_interval_seconds,
            )
        )

        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await stop.wait()

        self.log.info("Shutting down: finishing requests in flight")
        server.stop()
        try:
            await asyncio.wait_for(server.close_all_connections(), timeout=self.shutdown_timeout)
        except asyncio.TimeoutError:
            self.log.warning(
                "Requests still running after %g s; stopping anyway", self.shutdown_timeout
            )
        if hub_groups is not None:
            await hub_groups.stop()
        for task in [*background, purger]:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        app.settings["readiness"].shutdown()
        unwatch(pool_metrics)
        runner.shutdown()

    async def _warn_if_hub_unreachable(self, authenticator: HubAuthenticator) -> None:
        """One clear warning at start if the hub's API does not answer.

        Every call is checked with the hub, so until it answers every request
        gets a 503; the warning names the URL, which is the usual mistake.
        """
        api_url = authenticator.hub_auth.api_url.rstrip("/") + "/"
        try:
            await AsyncHTTPClient().fetch(api_url, request_timeout=10, raise_error=True)
        except Exception as error:
            self.log.warning(
                "JupyterHub's API at %s does not answer (%s): requests will get 503 "
                "'JupyterHub is unavailable' until it does. Check $JUPYTERHUB_API_URL "
                "(--HubAuthenticator.api_url) and that the hub is running.",
                api_url,
                error,
            )

    def _announce(
        self,
        authenticator: Authenticator,
        hub_groups: HubGroups | None,
        blobs: BlobStore,
        port: int,
    ) -> None:
        host = f"[{self.ip}]" if ":" in self.ip else self.ip or "0.0.0.0"  # noqa: S104
        url = f"http://{host}:{port}{self.base_url}"
        self.log.info("ngshare %s listening on %s", __version__, url)
        self.log.info("Database: %s", redact_url(self.db_url))
        self.log.info("Blob store: %s", blobs.describe())
        if hub_groups is not None:
            self.log.info(
                "Course roles from hub groups %s<course> (instructors), %s<course> (students)",
                hub_groups.instructor_group_prefix,
                hub_groups.student_group_prefix,
            )
        _, why = self.chosen_mode()
        if "authenticator_class" in self.config.get("NgshareApp", {}):
            why = "NgshareApp.authenticator_class is set"
        if isinstance(authenticator, HubAuthenticator):
            self.log.info(
                "Mode: JupyterHub service (%s); callers are checked with the hub at %s",
                why,
                authenticator.hub_auth.api_url,
            )
            return
        self.log.info("Mode: standalone, static API tokens (%s)", why)
        if getattr(self, "_admin_token_file", None):
            self.log.info(
                "No API tokens configured: the admin token is in %s. Try:\n"
                '    curl -H "Authorization: token $(cat %s)" %scourses',
                self._admin_token_file,
                self._admin_token_file,
                url,
            )
        else:
            self.log.info('Call it with: curl -H "Authorization: token <API token>" %scourses', url)


def main(argv: list[str] | None = None) -> None:
    app = NgshareApp.instance()
    try:
        app.initialize(argv)
        app.start()
    except StartupError as error:
        exit_with(app, error, debug=app.debug)
    sys.exit(0)
