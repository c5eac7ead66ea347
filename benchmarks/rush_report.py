"""Figures of a rush: per-target results, the side-by-side table, ratios, JSON."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

MB = 1_000_000


def percentile(samples: list[float], p: float) -> float | None:
    """Nearest-rank percentile; None for no samples."""
    if not samples:
        return None
    ordered = sorted(samples)
    rank = max(1, math.ceil(p / 100 * len(ordered)))
    return ordered[rank - 1]


@dataclass
class Result:
    """What one target did during one rush."""

    name: str
    description: str
    students: int
    concurrency: int
    error: str | None = None
    server_cpus: str | None = None
    release_seconds: float | None = None
    rush_seconds: float | None = None
    rush_requests: int = 0
    rush_bytes_up: int = 0
    rush_bytes_down: int = 0
    payload_bytes: int = 0
    fetch: list[float] = field(default_factory=list)
    submit: list[float] = field(default_factory=list)
    cycle: list[float] = field(default_factory=list)
    collect_seconds: float | None = None
    collect_requests: int = 0
    collect_bytes_down: int = 0
    collect_student: list[float] = field(default_factory=list)
    collected: int = 0
    load_average: str | None = None
    rush_server_cpu: float | None = None
    rush_client_cpu: float | None = None
    collect_server_cpu: float | None = None
    collect_client_cpu: float | None = None
    peak_rss: int | None = None
    stored_bytes: int | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.error is None

    def summary(self) -> dict[str, Any]:
        """Derived figures (JSON-friendly); raw samples are left out."""
        rush = self.rush_seconds
        out: dict[str, Any] = {
            "name": self.name,
            "description": self.description,
            "ok": self.ok,
            "error": self.error,
            "students": self.students,
            "concurrency": self.concurrency,
            "server_cpus": self.server_cpus,
            "load_average_after": self.load_average,
            "release_s": self.release_seconds,
            "rush_s": rush,
            "rush_requests": self.rush_requests,
            "rush_wire_bytes": self.rush_bytes_up + self.rush_bytes_down,
            "rush_payload_bytes": self.payload_bytes,
            "students_per_s": self.students / rush if rush else None,
            "requests_per_s": self.rush_requests / rush if rush else None,
            "payload_mb_per_s": self.payload_bytes / MB / rush if rush else None,
            "wire_mb_per_s": (self.rush_bytes_up + self.rush_bytes_down) / MB / rush
            if rush
            else None,
            "collect_s": self.collect_seconds,
            "collect_requests": self.collect_requests,
            "collect_wire_bytes": self.collect_bytes_down,
            "collected": self.collected,
            "rush_server_cpu_s": self.rush_server_cpu,
            "rush_client_cpu_s": self.rush_client_cpu,
            "collect_server_cpu_s": self.collect_server_cpu,
            "collect_client_cpu_s": self.collect_client_cpu,
            "peak_rss_bytes": self.peak_rss,
            "stored_bytes": self.stored_bytes,
            "notes": self.notes,
        }
        for op, samples in (
            ("fetch", self.fetch),
            ("submit", self.submit),
            ("cycle", self.cycle),
            ("collect_student", self.collect_student),
        ):
            out[f"{op}_p50_s"] = percentile(samples, 50)
            out[f"{op}_p99_s"] = percentile(samples, 99)
        return out


def _num(value: float | None, digits: int = 1) -> str:
    return "-" if value is None else f"{value:,.{digits}f}"


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value * 1000:,.0f}"


def _pair(a: float | None, b: float | None) -> str:
    return f"{_ms(a)} / {_ms(b)}"


def _cpu(server: float | None, client: float | None) -> str:
    return f"{_num(server, 1)} / {_num(client, 1)}"


def _mb(value: int | None) -> str:
    return "-" if value is None else f"{value / MB:,.1f}"


ROWS: list[tuple[str, Any]] = [
    ("rush wall time (s)", lambda s: _num(s["rush_s"], 2)),
    ("rush students/s", lambda s: _num(s["students_per_s"], 2)),
    ("rush requests/s", lambda s: _num(s["requests_per_s"], 1)),
    ("rush payload MB/s", lambda s: _num(s["payload_mb_per_s"], 1)),
    ("rush wire MB/s", lambda s: _num(s["wire_mb_per_s"], 1)),
    ("rush requests", lambda s: f"{s['rush_requests']:,}"),
    ("rush wire MB", lambda s: _mb(s["rush_wire_bytes"])),
    (
        "rush CPU s: server / load gen",
        lambda s: _cpu(s["rush_server_cpu_s"], s["rush_client_cpu_s"]),
    ),
    ("fetch p50 / p99 (ms)", lambda s: _pair(s["fetch_p50_s"], s["fetch_p99_s"])),
    ("submit p50 / p99 (ms)", lambda s: _pair(s["submit_p50_s"], s["submit_p99_s"])),
    ("fetch+submit p50 / p99 (ms)", lambda s: _pair(s["cycle_p50_s"], s["cycle_p99_s"])),
    ("collect all (s)", lambda s: _num(s["collect_s"], 2)),
    (
        "collect per student p50 / p99 (ms)",
        lambda s: _pair(s["collect_student_p50_s"], s["collect_student_p99_s"]),
    ),
    (
        "collect CPU s: server / load gen",
        lambda s: _cpu(s["collect_server_cpu_s"], s["collect_client_cpu_s"]),
    ),
    ("collect requests", lambda s: f"{s['collect_requests']:,}"),
    ("collect wire MB", lambda s: _mb(s["collect_wire_bytes"])),
    ("release (s)", lambda s: _num(s["release_s"], 2)),
    ("server peak RSS (MB)", lambda s: _mb(s["peak_rss_bytes"])),
    ("bytes stored (MB)", lambda s: _mb(s["stored_bytes"])),
    ("server CPUs", lambda s: s["server_cpus"] or "-"),
    ("load average after", lambda s: s["load_average_after"] or "-"),
    ("verified", lambda s: "yes" if s["ok"] else "FAILED"),
]


def table(summaries: list[dict[str, Any]]) -> str:
    """The side-by-side table, one column per target."""
    header = ["", *(s["name"] for s in summaries)]
    lines = [header, *([label, *(fmt(s) for s in summaries)] for label, fmt in ROWS)]
    widths = [max(len(row[i]) for row in lines) for i in range(len(header))]
    text = []
    for n, row in enumerate(lines):
        cells = [
            row[0].ljust(widths[0]),
            *(c.rjust(w) for c, w in zip(row[1:], widths[1:], strict=True)),
        ]
        text.append("  ".join(cells).rstrip())
        if n == 0:
            text.append("  ".join("-" * w for w in widths))
    return "\n".join(text)


def _ratio(a: float | None, b: float | None) -> float | None:
    return a / b if a and b else None


def comparisons(summaries: list[dict[str, Any]], baseline: str) -> list[dict[str, Any]]:
    """Each target against the baseline: how many times faster, smaller, quicker."""
    base = next((s for s in summaries if s["name"] == baseline), None)
    if base is None or not base["ok"]:
        return []
    out = []
    for s in summaries:
        if s["name"] == baseline or not s["ok"]:
            continue
        out.append(
            {
                "target": s["name"],
                "baseline": baseline,
                "throughput_x": _ratio(s["students_per_s"], base["students_per_s"]),
                "fetch_p99_fraction": _ratio(s["fetch_p99_s"], base["fetch_p99_s"]),
                "submit_p99_fraction": _ratio(s["submit_p99_s"], base["submit_p99_s"]),
                "cycle_p99_fraction": _ratio(s["cycle_p99_s"], base["cycle_p99_s"]),
                "collect_x": _ratio(base["collect_s"], s["collect_s"]),
                "stored_fraction": _ratio(s["stored_bytes"], base["stored_bytes"]),
            }
        )
    return out


def comparison_text(rows: list[dict[str, Any]]) -> str:
    def times(v: float | None) -> str:
        return "-" if v is None else f"{v:.1f}x"

    def frac(v: float | None) -> str:
        return "-" if v is None else f"{v:.3f} (1/{1 / v:.1f})" if v > 0 else "0"

    lines = []
    for r in rows:
        lines.append(
            f"{r['target']} vs {r['baseline']}: rush throughput {times(r['throughput_x'])}, "
            f"collect {times(r['collect_x'])} faster, p99 fetch {frac(r['fetch_p99_fraction'])}, "
            f"submit {frac(r['submit_p99_fraction'])}, fetch+submit "
            f"{frac(r['cycle_p99_fraction'])} of baseline, "
            f"bytes stored {frac(r['stored_fraction'])}"
        )
    return "\n".join(lines)
