"""What the load benchmark measured: runs per size, the markdown table and the JSON file."""

from __future__ import annotations

import json
import os
import platform
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench_common import BENCH_DIR


@dataclass
class Preload:
    """One COPY top-up of the table."""

    rows_before: int
    rows_loaded: int
    copy_seconds: float
    rows_per_second: float
    vacuum_analyze_seconds: float


@dataclass
class Run:
    """One measured run of one scenario at one table size."""

    scenario: str
    tool: str
    size: int
    rows_in_table: int
    duration_s: float
    connections: int
    requests: int = 0
    requests_per_s: float = 0.0
    latency_avg_ms: float | None = None
    p50_ms: float | None = None
    p75_ms: float | None = None
    p90_ms: float | None = None
    p99_ms: float | None = None
    non_2xx: int = 0
    socket_errors: dict[str, int] = field(default_factory=dict)
    failed_transactions: int = 0
    exit_code: int = 0
    loadavg_1m_before: float = 0.0
    command: str = ""
    output: str = ""

    @property
    def errors(self) -> int:
        """Everything that went wrong in the run, whatever the tool."""
        return (
            self.non_2xx
            + sum(self.socket_errors.values())
            + self.failed_transactions
            + (1 if self.exit_code else 0)
        )

    def as_json(self) -> dict[str, Any]:
        """The run as a JSON object, with its error total and flag."""
        data = asdict(self)
        data["errors"] = self.errors
        data["flagged"] = self.errors > 0
        return data


@dataclass
class SizeReport:
    """What was measured at one table size."""

    size: int
    rows_in_table: int
    mean_get_page_rows: float
    preload: Preload | None
    runs: list[Run] = field(default_factory=list)


def fmt(value: float | None, digits: int = 2) -> str:
    """A number for the table, or a dash."""
    return "-" if value is None else f"{value:,.{digits}f}"


def markdown_table(reports: Sequence[SizeReport]) -> str:
    """The results as a markdown table."""
    lines = [
        "| scenario | rows in table | req/s | p50 ms | p99 ms | errors |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for report in reports:
        for run in report.runs:
            errors = f"**{run.errors:,} FLAGGED**" if run.errors else "0"
            lines.append(
                f"| {run.scenario} | {run.rows_in_table:,} | {fmt(run.requests_per_s, 0)} "
                f"| {fmt(run.p50_ms)} | {fmt(run.p99_ms)} | {errors} |"
            )
    return "\n".join(lines)


def default_out(stamp: str) -> Path:
    """bench/results/<timestamp>.json."""
    return BENCH_DIR / "results" / f"{stamp}.json"


def write_results(path: Path, payload: dict[str, Any]) -> None:
    """The JSON results file (its folder is created if needed)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(payload, indent=2) + "\n")


def results_payload(
    command_line: str,
    started: datetime,
    failure: str | None,
    config: dict[str, Any],
    reports: Sequence[SizeReport],
) -> dict[str, Any]:
    """The JSON results: the command, host, configuration and every size's runs."""
    return {
        "command": command_line,
        "started_at": started.isoformat(),
        "finished_at": datetime.now(UTC).isoformat(),
        "incomplete": failure,
        "host": {
            "platform": platform.platform(),
            "python": platform.python_version(),
            "cpus": os.cpu_count(),
        },
        "config": config,
        "sizes": [
            {
                "size": report.size,
                "rows_in_table": report.rows_in_table,
                "mean_get_page_rows": report.mean_get_page_rows,
                "preload": asdict(report.preload) if report.preload else None,
                "runs": [run.as_json() for run in report.runs],
            }
            for report in reports
        ],
        "table_markdown": markdown_table(reports),
    }
