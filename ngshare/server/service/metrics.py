"""Prometheus metrics, served at ``/metrics``: every name starts with ``ngshare_``.

What an admin watches: how long requests take and how many are running,
bytes in and out, releases, submissions and feedback by API, refusals by
reason, and how long the database and the blob store take. Labels never
carry course or user names: they would disclose who does what to anyone
who may scrape, and make a series per student.

The metrics live in a registry of ngshare's own rather than the process-wide
default, so nothing another library registers (JupyterHub's own metrics,
for one) appears under ngshare's name.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy import Engine
from sqlalchemy.pool import QueuePool

REGISTRY = CollectorRegistry(auto_describe=True)

# Requests: from a few milliseconds (a fetch from the cache) to minutes (a
# large upload on a slow link).
REQUEST_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300)
STORAGE_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 5, 30)

REQUEST_DURATION = Histogram(
    "ngshare_request_duration_seconds",
    "Time to answer a request, by handler, method and status code",
    ["handler", "method", "code"],
    buckets=REQUEST_BUCKETS,
    registry=REGISTRY,
)
REQUESTS_IN_FLIGHT = Gauge(
    "ngshare_requests_in_flight",
    "Requests being handled now",
    registry=REGISTRY,
)
RECEIVED_BYTES = Counter(
    "ngshare_received_bytes",
    "Bytes of request bodies received, by handler",
    ["handler"],
    registry=REGISTRY,
)
SENT_BYTES = Counter(
    "ngshare_sent_bytes",
    "Bytes of response bodies sent, by handler",
    ["handler"],
    registry=REGISTRY,
)
TRANSFERS = Counter(
    "ngshare_transfers",
    "Releases, submissions and feedback stored, by kind and API",
    ["kind", "api"],
    registry=REGISTRY,
)
REFUSALS = Counter(
    "ngshare_refusals",
    "Requests refused, by reason",
    ["reason"],
    registry=REGISTRY,
)
DATABASE_DURATION = Histogram(
    "ngshare_database_operation_seconds",
    "Time of one service operation's database transaction, by operation",
    ["operation"],
    buckets=STORAGE_BUCKETS,
    registry=REGISTRY,
)
BLOB_STORE_DURATION = Histogram(
    "ngshare_blob_store_operation_seconds",
    "Time of blob store calls, by operation",
    ["operation"],
    buckets=STORAGE_BUCKETS,
    registry=REGISTRY,
)

# Why a request was refused, from its status; 403 is split by the handler
# into "auth" (no or a bad token) and "permission" (a known caller not allowed).
REFUSAL_REASONS = {
    400: "bad_request",
    403: "permission",
    404: "not_found",
    409: "conflict",
    413: "limit",
    415: "bad_request",
    503: "unavailable",
    507: "storage_full",
}


def refusal_reason(status: int, *, authenticated: bool) -> str | None:
    """The reason label of a refused request, or None if it was not refused."""
    if status == 403 and not authenticated:
        return "auth"
    return REFUSAL_REASONS.get(status)


@contextlib.contextmanager
def timed(histogram: Histogram, operation: str) -> Iterator[None]:
    start = time.perf_counter()
    try:
        yield
    finally:
        histogram.labels(operation).observe(time.perf_counter() - start)


class DatabasePoolCollector(Collector):
    """The connection pool's use, read at each scrape."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def collect(self) -> Iterator[GaugeMetricFamily]:
        pool = self.engine.pool
        family = GaugeMetricFamily(
            "ngshare_database_pool_connections",
            "Database connections of this process's pool, by state",
            labels=["state"],
        )
        if isinstance(pool, QueuePool):
            family.add_metric(["in_use"], pool.checkedout())
            family.add_metric(["idle"], pool.checkedin())
            family.add_metric(["size"], pool.size())
        yield family


def watch_database_pool(engine: Engine) -> DatabasePoolCollector:
    collector = DatabasePoolCollector(engine)
    REGISTRY.register(collector)
    return collector


def unwatch(collector: Collector) -> None:
    with contextlib.suppress(KeyError):
        REGISTRY.unregister(collector)
