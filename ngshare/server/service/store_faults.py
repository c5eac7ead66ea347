"""Blob store faults as the answers they mean: 507 for a full store, 503 for a failing one.

A store that runs out of space (ENOSPC, EDQUOT) or cannot be read or written
(an I/O error, a lost mount) is not a bug of the server: the client is told
what happened and that trying again later will work, and the operator finds
one line in the log naming the cause, not a traceback per request. Whoever
wrote the failed upload removes what it wrote (see the intake), so nothing
partial stays behind.
"""

from __future__ import annotations

import contextlib
import errno
import logging
from collections.abc import Iterator

from ngshare.server.service.errors import InsufficientStorage, Unavailable

log = logging.getLogger("ngshare")

FULL = frozenset({errno.ENOSPC, errno.EDQUOT})

STORE_FULL = "The blob store is full ({cause}); nothing was stored, try again later"
STORE_FAILING = "The blob store is unavailable ({cause}); try again shortly"


@contextlib.contextmanager
def store_faults(action: str) -> Iterator[None]:
    """Turn an OSError of the blob store during ``action`` into its service error."""
    try:
        yield
    except OSError as e:
        cause = e.strerror or type(e).__name__
        if e.errno in FULL:
            log.error("Blob store full while %s: %s", action, cause)
            raise InsufficientStorage(STORE_FULL.format(cause=cause)) from None
        log.error("Blob store failing while %s: %s", action, e)
        raise Unavailable(STORE_FAILING.format(cause=cause)) from None
