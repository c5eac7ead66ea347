"""The server's periodic purge of deleted data past its retention period.

Every replica runs it. A purge is a set of plain DELETE statements, so two
replicas purging at once are harmless: whoever comes second deletes nothing.
"""

from __future__ import annotations

import asyncio
import datetime
import logging

from ngshare.server.service import deleted
from ngshare.server.service.permissions import Caller
from ngshare.server.service.runner import ServiceRunner

log = logging.getLogger("ngshare")

# Purges run by the server itself are recorded as made by this name.
SYSTEM_ACTOR = "(ngshare)"


async def purge_periodically(
    runner: ServiceRunner, retention: datetime.timedelta, interval: float
) -> None:
    """Purge expired deleted data every ``interval`` seconds until cancelled."""
    caller = Caller(SYSTEM_ACTOR, is_admin=True)
    while True:
        await asyncio.sleep(interval)
        try:
            report = await runner.call(deleted.purge, caller, retention)
        except Exception:
            log.exception("Purging deleted data failed")
            continue
        if report.courses or report.assignments or report.enrollments:
            log.info("Purged deleted data past retention: %s", report)
