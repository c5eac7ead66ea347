"""Course roles from JupyterHub groups (opt-in): the hub side.

With ``roles_from_groups`` on, a member of the hub group ``formgrade-<course>``
is an instructor of <course> and a member of ``nbgrader-<course>`` a student,
as nbgrader documents. Two paths keep the enrollments in step with the groups
(the database side is :mod:`ngshare.server.service.group_enrollments`):

- every authenticated request reconciles the caller's own courses from the
  ``groups`` of the user model HubAuth already holds, so that costs no call
  to the hub (and, once a user's groups are known unchanged, no database
  query either); and
- a background task reads every group from the hub (``GET /hub/api/groups``
  with the service's own token) every ``group_sync_interval`` seconds and
  reconciles each course they name, so rosters list students who never called
  ngshare and a member who left a group loses the role without calling again.

The hub is asked asynchronously; the database work runs through the service
runner in worker threads, one transaction per course. A sync that fails (hub
down, token without the scopes, database away) is logged and tried again
later; requests never wait for a sync and never fail because of one.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
from collections.abc import Iterable
from typing import Any
from urllib.parse import urlencode

from jupyterhub.services.auth import HubAuth
from jupyterhub.utils import make_ssl_context, url_path_join
from tornado.httpclient import AsyncHTTPClient, HTTPClientError, HTTPRequest
from traitlets import Bool, Float, TraitError, Unicode, validate
from traitlets.config import LoggingConfigurable

from ngshare.server.service.errors import ServiceError
from ngshare.server.service.group_enrollments import (
    NO_MEMBERS,
    GroupPrefixes,
    courses_out_of_sync,
    reconcile_course,
    reconcile_user,
    roles_from_groups,
    rosters_from_groups,
    user_out_of_sync,
)
from ngshare.server.service.runner import ServiceRunner
from ngshare.server.storage.models import Role

#: The scopes the ngshare service's role needs for the background sync.
REQUIRED_SCOPES = ("list:groups", "read:groups")

# Seconds to wait for the hub's answer to one page of groups. Generous: the
# answer lists every member, and a slow sync only delays the next one.
HUB_REQUEST_TIMEOUT = 60.0
# After a failed sync, try again this soon at the latest (a hub that is
# restarting should not leave the rosters stale for a whole interval).
RETRY_AFTER_FAILURE = 30.0
# Replicas syncing on the same schedule would all reach the hub at once.
JITTER = 0.1

# JupyterHub answers list requests with this media type in pages.
PAGINATION_MEDIA_TYPE = "application/jupyterhub-pagination+json"


class GroupSyncError(Exception):
    """The hub's groups could not be read."""


class HubGroups(LoggingConfigurable):
    """Course roles from JupyterHub groups (see docs/jupyterhub.md)."""

    roles_from_groups = Bool(
        False,
        help="""Take course roles from JupyterHub groups (--roles-from-groups).

        Members of the group <instructor_group_prefix><course> are instructors
        of <course>, members of <student_group_prefix><course> its students.
        Enrollments made through the roster API are never changed by the groups.
        The service's hub role needs the scopes list:groups and read:groups.
        """,
    ).tag(config=True)
    instructor_group_prefix = Unicode(
        "formgrade-", help="Hub groups named <prefix><course> hold the course's instructors."
    ).tag(config=True)
    student_group_prefix = Unicode(
        "nbgrader-", help="Hub groups named <prefix><course> hold the course's students."
    ).tag(config=True)
    group_sync_interval = Float(
        300.0,
        help="""Seconds between two reads of all of the hub's groups.

        Each read updates every course roster the groups name. 0 turns the
        background sync off: then only callers' own enrollments follow their
        groups, when they call.
        """,
    ).tag(config=True)
    create_courses_from_groups = Bool(
        True,
        help="Create a course named by a group if it does not exist yet.",
    ).tag(config=True)

    @validate("instructor_group_prefix", "student_group_prefix")
    def _non_empty_prefix(self, proposal: Any) -> str:
        prefix: str = proposal.value
        if not prefix:
            raise TraitError("A group prefix must not be empty")
        return prefix

    @validate("group_sync_interval")
    def _non_negative_interval(self, proposal: Any) -> float:
        interval: float = proposal.value
        if interval < 0:
            raise TraitError("group_sync_interval must be 0 (off) or more seconds")
        return interval

    def __init__(self, *, runner: ServiceRunner, hub_auth: HubAuth, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if self.instructor_group_prefix == self.student_group_prefix:
            raise TraitError("The instructor and student group prefixes must differ")
        self.runner = runner
        self.hub_auth = hub_auth
        # The course roles last reconciled for each caller: while a caller's
        # groups stay the same, their requests cost nothing. (The periodic
        # sync, not this, catches enrollments changed behind our back.)
        self._reconciled: dict[str, frozenset[tuple[str, Role]]] = {}
        self._task: asyncio.Task[None] | None = None

    @property
    def prefixes(self) -> GroupPrefixes:
        return GroupPrefixes(self.instructor_group_prefix, self.student_group_prefix)

    # -- each request ---------------------------------------------------------

    async def reconcile_caller(self, name: str, groups: Iterable[str]) -> None:
        """Bring a caller's group-made enrollments in line with their groups."""
        wanted = roles_from_groups(groups, self.prefixes)
        key = frozenset(wanted.items())
        if self._reconciled.get(name) == key:
            return
        create = self.create_courses_from_groups
        try:
            if await self.runner.call(user_out_of_sync, name, wanted, create, readonly=True):
                changes = await self.runner.call(reconcile_user, name, wanted, create)
                if changes:
                    self.log.info("Enrollments of %s from their hub groups: %s", name, changes)
        except ServiceError as e:
            # The request goes on with the enrollments as they are.
            self.log.warning("Could not update %s's enrollments from hub groups: %s", name, e)
            return
        self._reconciled[name] = key

    # -- the periodic sync ------------------------------------------------------

    async def fetch_groups(self) -> dict[str, list[str]]:
        """Every hub group with its members: {group name: [user names]}."""
        groups: dict[str, list[str]] = {}
        offset: int | None = 0
        while offset is not None:
            page = await self._get_json("groups", {"offset": str(offset)} if offset else {})
            if isinstance(page, list):
                # A hub that does not paginate answers with the whole list.
                items, offset = page, None
            elif isinstance(page, dict) and isinstance(page.get("items"), list):
                items = page["items"]
                following = (page.get("_pagination") or {}).get("next")
                offset = following.get("offset") if isinstance(following, dict) else None
            else:
                raise GroupSyncError("The hub answered GET /groups with an unexpected body")
            for group in items:
                if "users" not in group:
                    raise GroupSyncError(
                        "The hub lists groups without their members: the ngshare service's "
                        f"role needs the scopes {', '.join(REQUIRED_SCOPES)}"
                    )
                groups[group["name"]] = list(group["users"])
        return groups

    async def _get_json(self, path: str, query: dict[str, str]) -> Any:
        url = url_path_join(self.hub_auth.api_url, path)
        if query:
            url += "?" + urlencode(query)
        options: dict[str, Any] = {}
        if self.hub_auth.certfile or self.hub_auth.keyfile:
            # Internal SSL: the hub checks the service's client certificate.
            options["ssl_options"] = make_ssl_context(
                self.hub_auth.keyfile, self.hub_auth.certfile, cafile=self.hub_auth.client_ca
            )
        request = HTTPRequest(
            url,
            headers={
                "Authorization": f"token {self.hub_auth.api_token}",
                "Accept": PAGINATION_MEDIA_TYPE,
            },
            request_timeout=HUB_REQUEST_TIMEOUT,
            connect_timeout=HUB_REQUEST_TIMEOUT,
            **options,
        )
        try:
            response = await AsyncHTTPClient().fetch(request)
        except HTTPClientError as e:
            if e.code == 403:
                raise GroupSyncError(
                    "The hub refused to list its groups: the ngshare service's role needs "
                    f"the scopes {', '.join(REQUIRED_SCOPES)}"
                ) from e
            raise GroupSyncError(f"GET {path} from the hub failed: {e}") from e
        except OSError as e:
            raise GroupSyncError(f"Could not reach the hub at {self.hub_auth.api_url}: {e}") from e
        try:
            return json.loads(response.body)
        except ValueError as e:
            raise GroupSyncError("The hub answered GET /groups with invalid JSON") from e

    async def sync(self) -> int:
        """Read the hub's groups and reconcile every course; returns courses changed.

        Raises GroupSyncError if the hub could not be read (nothing changes
        then: an unreadable hub must not empty the rosters).
        """
        rosters = rosters_from_groups(await self.fetch_groups(), self.prefixes)
        create = self.create_courses_from_groups
        stale = await self.runner.call(courses_out_of_sync, rosters, create, readonly=True)
        changed = 0
        for name in stale:
            members = rosters.get(name, NO_MEMBERS)
            try:
                changes = await self.runner.call(reconcile_course, name, members, create)
            except ServiceError as e:
                self.log.warning("Could not update course %s from hub groups: %s", name, e)
                continue
            if changes:
                changed += 1
                self.log.info("Course %s from hub groups: %s", name, changes)
        return changed

    def start(self) -> None:
        """Start the periodic sync (a no-op when group_sync_interval is 0)."""
        if self.group_sync_interval > 0 and self._task is None:
            self._task = asyncio.create_task(self._run(), name="ngshare-hub-group-sync")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _run(self) -> None:
        while True:
            delay = self.group_sync_interval
            try:
                await self.sync()
            except (GroupSyncError, ServiceError) as e:
                delay = min(delay, RETRY_AFTER_FAILURE)
                self.log.warning("Hub group sync failed (next try in %.0f s): %s", delay, e)
            except Exception:
                # A bug must not end the sync for good; it is logged in full.
                delay = min(delay, RETRY_AFTER_FAILURE)
                self.log.exception("Hub group sync failed (next try in %.0f s)", delay)
            await asyncio.sleep(delay * random.uniform(1 - JITTER, 1 + JITTER))
