"""The load generators: wrk against the API and pgbench against the database, run and parsed."""

from __future__ import annotations

import argparse
import math
import os
import re
import shlex
import shutil
import subprocess
import sys
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bench_common import PAGE_SIZE, RECORDED_BY, TENANT, say
from bench_results import Run

# What every event query of the service returns: the event's JSON rendered by the database.
EVENT_COLUMNS = "e.id, e.occurred_at, carelog_event_json(e) AS doc"
PATIENT_EXPR = "'P-' || lpad(:pid::text, 5, '0')"


def pgbench_select_script(patients: int) -> str:
    """pgbench script: the service's list query for a random patient."""
    return f"""\\set pid random(0, {patients - 1})
SELECT {EVENT_COLUMNS}
FROM patient_events AS e
WHERE tenant_id = '{TENANT}'
  AND patient_id = {PATIENT_EXPR}
  AND occurred_at >= '-infinity'::timestamptz
  AND occurred_at < 'infinity'::timestamptz
  AND (occurred_at, id) < ('infinity'::timestamptz, 9223372036854775807)
ORDER BY occurred_at DESC, id DESC
LIMIT {PAGE_SIZE + 1};
"""


def pgbench_insert_script(patients: int) -> str:
    """pgbench script: the service's INSERT ... RETURNING of a lab_result, random patient.

    The payload is built on each call from a pgbench variable, as the service's jsonb
    parameter is parsed on each call.
    """
    payload = (
        "jsonb_build_object('test', 'hba1c', 'value', :value / 10.0, 'unit', '%',"
        " 'specimen', 'blood')"
    )
    return f"""\\set pid random(0, {patients - 1})
\\set value random(40, 110)
INSERT INTO patient_events AS e
    (tenant_id, patient_id, event_type, payload, occurred_at, recorded_by, source)
VALUES ('{TENANT}', {PATIENT_EXPR}, 'lab_result', {payload}, now(), '{RECORDED_BY}', NULL)
RETURNING {EVENT_COLUMNS};
"""


def require_wrk() -> str:
    """Path of wrk, or exit with how to install it."""
    wrk = shutil.which("wrk")
    if wrk is None:
        sys.exit("error: wrk is not on PATH; install it first: apt-get install wrk")
    return wrk


def pgbench_path() -> Path:
    """The pgbench that ships with the ``pgserver`` wheel (the embedded server's own)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # platformdirs warns when XDG_RUNTIME_DIR is unset
        import pgserver

    path = Path(pgserver.__file__).parent / "pginstall" / "bin" / "pgbench"
    if not path.exists():
        sys.exit(f"error: pgbench not found at {path}")
    return path


def loadavg() -> float:
    """The 1-minute load average (0 where the platform has none)."""
    try:
        return os.getloadavg()[0]
    except OSError:
        return 0.0


# --------------------------------------------------------------------------------------------
# wrk

UNIT_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0, "h": 3_600_000.0}
WRK_PERCENTILE = re.compile(r"^\s*(50|75|90|99)(?:\.0+)?%\s+([\d.]+)(us|ms|s|m|h)\s*$", re.M)
WRK_LATENCY_AVG = re.compile(r"^\s*Latency\s+([\d.]+)(us|ms|s|m|h)\s", re.M)
WRK_REQUESTS = re.compile(r"^\s*(\d+) requests in ([\d.]+)(us|ms|s|m|h)", re.M)
WRK_RPS = re.compile(r"^Requests/sec:\s+([\d.]+)", re.M)
WRK_NON2XX = re.compile(r"Non-2xx or 3xx responses:\s+(\d+)")
WRK_SOCKET = re.compile(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)")


def to_ms(value: str, unit: str) -> float:
    """A wrk duration (``812.00us``, ``1.20ms``, ``2.01s``) in milliseconds."""
    return float(value) * UNIT_MS[unit]


def parse_wrk(output: str, run: Run) -> None:
    """Fill ``run`` from wrk's ``--latency`` report."""
    for percentile, value, unit in WRK_PERCENTILE.findall(output):
        setattr(run, f"p{percentile}_ms", round(to_ms(value, unit), 3))
    if avg := WRK_LATENCY_AVG.search(output):
        run.latency_avg_ms = round(to_ms(avg.group(1), avg.group(2)), 3)
    if requests := WRK_REQUESTS.search(output):
        run.requests = int(requests.group(1))
    if rps := WRK_RPS.search(output):
        run.requests_per_s = float(rps.group(1))
    if non2xx := WRK_NON2XX.search(output):
        run.non_2xx = int(non2xx.group(1))
    if sock := WRK_SOCKET.search(output):
        names = ("connect", "read", "write", "timeout")
        run.socket_errors = {
            name: int(count) for name, count in zip(names, sock.groups(), strict=True)
        }
    if run.p50_ms is None or run.requests == 0:
        run.exit_code = run.exit_code or 1


def wrk_command(
    wrk: str, script: Path, url: str, seconds: int, args: argparse.Namespace
) -> list[str]:
    """The wrk command line of one run."""
    return [
        wrk,
        "-t",
        str(min(args.threads, args.connections)),
        "-c",
        str(args.connections),
        "-d",
        f"{seconds}s",
        "--timeout",
        "10s",
        "--latency",
        "-s",
        str(script),
        url,
    ]


def execute(
    scenario: str,
    tool: str,
    size: int,
    rows: int,
    args: argparse.Namespace,
    command: list[str],
    **options: Any,
) -> Run:
    """Run one measured command (wrk or pgbench) and keep its output on a new :class:`Run`."""
    run = Run(
        scenario,
        tool,
        size,
        rows,
        float(args.duration),
        args.connections,
        loadavg_1m_before=loadavg(),
        command=shlex.join(command),
    )
    say(f"{scenario}: {run.command}")
    result = subprocess.run(
        command, capture_output=True, text=True, timeout=args.duration + 60, check=False, **options
    )
    run.output = result.stdout + result.stderr
    run.exit_code = result.returncode
    return run


def run_wrk(
    scenario: str,
    script: Path,
    path: str,
    *,
    wrk: str,
    base_url: str,
    token: str,
    args: argparse.Namespace,
    size: int,
    rows: int,
) -> Run:
    """Warm up, then one measured wrk run of ``script``."""
    env = dict(os.environ)
    env["CARELOG_BENCH_TOKEN"] = token
    env["CARELOG_BENCH_PATIENTS"] = str(args.patients)
    env["CARELOG_BENCH_SEED"] = str(args.seed + rows)
    url = base_url + path
    if args.warmup:
        subprocess.run(
            wrk_command(wrk, script, url, args.warmup, args),
            env=env,
            capture_output=True,
            timeout=args.warmup + 60,
            check=False,
        )
    command = wrk_command(wrk, script, url, args.duration, args)
    run = execute(scenario, "wrk", size, rows, args, command, env=env)
    parse_wrk(run.output, run)
    return run


# --------------------------------------------------------------------------------------------
# pgbench

PGBENCH_TPS = re.compile(r"^tps = ([\d.]+)", re.M)
PGBENCH_LATENCY = re.compile(r"^latency average = ([\d.]+) ms", re.M)
PGBENCH_PROCESSED = re.compile(r"^number of transactions actually processed: (\d+)", re.M)
PGBENCH_FAILED = re.compile(r"^number of failed transactions: (\d+)", re.M)


def percentile(sorted_values: Sequence[float], fraction: float) -> float:
    """Nearest-rank percentile of already sorted values."""
    rank = max(1, math.ceil(fraction * len(sorted_values)))
    return sorted_values[rank - 1]


def pgbench_log_latencies(log_dir: Path, prefix: str) -> tuple[list[float], int]:
    """Per-transaction latencies (ms) from pgbench's ``-l`` logs, and the failed count.

    Each line is ``client_id transaction_no time script_no time_epoch time_us ...`` where
    ``time`` is the latency in microseconds, or ``failed``/``skipped``.
    """
    latencies: list[float] = []
    failed = 0
    for log in sorted(log_dir.glob(f"{prefix}.*")):
        for line in log.read_text().splitlines():
            fields = line.split()
            if len(fields) < 3:
                continue
            if fields[2].isdigit():
                latencies.append(int(fields[2]) / 1000.0)
            else:
                failed += 1
    latencies.sort()
    return latencies, failed


def run_pgbench(
    scenario: str,
    script_text: str,
    *,
    pgbench: Path,
    pgdata: Path,
    work: Path,
    args: argparse.Namespace,
    size: int,
    rows: int,
) -> Run:
    """Warm up, then one measured pgbench run of ``script_text`` (per-transaction logs on)."""
    name = scenario.split()[0].lower()
    script = work / f"{name}.sql"
    script.write_text(script_text)
    base = [
        str(pgbench),
        "-h",
        str(pgdata),
        "-U",
        "postgres",
        "-n",
        "-M",
        "prepared",
        "-c",
        str(args.connections),
        "-j",
        str(min(args.threads, args.connections)),
        "-f",
        str(script),
    ]
    if args.warmup:
        subprocess.run(
            [*base, "-T", str(args.warmup), "carelog"],
            capture_output=True,
            timeout=args.warmup + 60,
            check=False,
        )
    log_dir = work / f"pgbench-{name}-{size}"
    log_dir.mkdir()
    prefix = "txn"
    command = [
        *base,
        "-T",
        str(args.duration),
        "-l",
        "--log-prefix",
        str(log_dir / prefix),
        "carelog",
    ]
    run = execute(scenario, "pgbench", size, rows, args, command, cwd=work)
    if tps := PGBENCH_TPS.search(run.output):
        run.requests_per_s = float(tps.group(1))
    if avg := PGBENCH_LATENCY.search(run.output):
        run.latency_avg_ms = float(avg.group(1))
    if processed := PGBENCH_PROCESSED.search(run.output):
        run.requests = int(processed.group(1))
    reported_failed = PGBENCH_FAILED.search(run.output)
    latencies, logged_failed = pgbench_log_latencies(log_dir, prefix)
    run.failed_transactions = max(
        logged_failed, int(reported_failed.group(1)) if reported_failed else 0
    )
    if latencies:
        for fraction, attribute in (
            (0.5, "p50_ms"),
            (0.75, "p75_ms"),
            (0.9, "p90_ms"),
            (0.99, "p99_ms"),
        ):
            setattr(run, attribute, round(percentile(latencies, fraction), 3))
    elif run.exit_code == 0:
        run.exit_code = 1
    shutil.rmtree(log_dir, ignore_errors=True)
    return run
