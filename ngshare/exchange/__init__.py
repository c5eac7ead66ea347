"""The nbgrader exchange plugin for ngshare.

With ``pip install ngshare[exchange]`` in the single-user image, one line in
``nbgrader_config.py`` makes every nbgrader exchange command (and the
Jupyter extensions) talk to the ngshare service instead of a shared
directory::

    from ngshare.exchange import configure_exchange
    configure_exchange(c)  # or configure_exchange(c, url="http://.../services/ngshare")

The URL defaults to ``$NGSHARE_URL``, then to the Zero to JupyterHub in-cluster
address; requests are authenticated with ``$JUPYTERHUB_API_TOKEN``, and the
user is whom that token stands for, as the server says. The HTTP client is
:mod:`ngshare.client`, shared with ``ngsharectl``.
"""

from __future__ import annotations

from typing import Any

from ngshare.exchange.collect import ExchangeCollect
from ngshare.exchange.exchange import Exchange
from ngshare.exchange.fetch_assignment import ExchangeFetchAssignment
from ngshare.exchange.fetch_feedback import ExchangeFetchFeedback
from ngshare.exchange.list import ExchangeList
from ngshare.exchange.release_assignment import ExchangeReleaseAssignment
from ngshare.exchange.release_feedback import ExchangeReleaseFeedback
from ngshare.exchange.submit import ExchangeSubmit

__all__ = [
    "Exchange",
    "ExchangeCollect",
    "ExchangeFetchAssignment",
    "ExchangeFetchFeedback",
    "ExchangeList",
    "ExchangeReleaseAssignment",
    "ExchangeReleaseFeedback",
    "ExchangeSubmit",
    "configure_exchange",
]


def configure_exchange(c: Any, url: str | None = None) -> None:
    """Point nbgrader's ExchangeFactory at ngshare (``c`` is nbgrader's config).

    ``url`` is the ngshare API base URL; leave it out to use ``$NGSHARE_URL``
    or, in a Zero to JupyterHub pod, ``http://proxy-public/services/ngshare``.
    """
    c.ExchangeFactory.exchange = Exchange
    c.ExchangeFactory.fetch_assignment = ExchangeFetchAssignment
    c.ExchangeFactory.fetch_feedback = ExchangeFetchFeedback
    c.ExchangeFactory.release_assignment = ExchangeReleaseAssignment
    c.ExchangeFactory.release_feedback = ExchangeReleaseFeedback
    c.ExchangeFactory.list = ExchangeList
    c.ExchangeFactory.submit = ExchangeSubmit
    c.ExchangeFactory.collect = ExchangeCollect
    if url:
        c.Exchange.ngshare_url = url
