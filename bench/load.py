"""Load benchmark: the two seed routes over HTTP, beside the database's own ceiling.

Hypothesis
----------
1. Reading a patient's newest events (``GET /patient-events/{patient_id}``) costs the same at
   10,000 and at 1,000,000 rows in ``patient_events``: the list query is a range scan on
   ``patient_events_timeline`` that stops after ``limit + 1`` rows, so its latency depends on
   the page size, not on the table size. The same holds for ``POST /patient-events`` (one
   heap row and three B-tree inserts, whose depth grows only logarithmically).
2. The database is not the bottleneck: PostgreSQL alone, running the service's own statements
   at the same concurrency (pgbench), sustains several times the API's request rate, so the
   API's numbers measure the service's per-request cost (HTTP, JSON, validation, one API-key
   lookup, pool hand-off) rather than PostgreSQL's.

Run
---
Prerequisites: ``wrk`` on PATH (``apt-get install wrk``) and the project installed with its
``server`` extra. From the repository root::

    python bench/load.py --sizes 10000,1000000

That starts ``carelog serve`` on an embedded PostgreSQL in a fresh temporary folder, preloads
10,000 events over 10,000 patients with COPY, measures, tops the table up to 1,000,000 rows,
measures again, prints a markdown table and writes ``bench/results/<timestamp>.json``. Reuse
a preloaded database with ``--data-dir DIR`` (only the missing rows are loaded). A quick check::

    python bench/load.py --sizes 5000,20000 --patients 200 --duration 3

What each size runs, in this order (each after a warm-up that is not measured):

* ``GET api``: wrk, ``bench/get_events.lua``, a random patient per request.
* ``SELECT db``: pgbench, the service's list query (same columns, WHERE, ORDER BY, LIMIT 21).
* ``POST api``: wrk, ``bench/post_event.lua``, a lab_result for a random patient per request.
* ``INSERT db``: pgbench, the service's INSERT ... RETURNING.

Reads go first so that they see exactly the preloaded row count; the writes then add rows
(pgbench's INSERT run adds its tps times the run and warm-up seconds, easily hundreds of
thousands), and the "rows in table" column says how many were there when each run started.
A size already exceeded by those rows is measured at the larger count, and flagged so.

Choices
-------
* The service runs with ``CARELOG_RATE_LIMIT_PER_SECOND=0`` (one principal sends all the
  load, so its rate limit would be all there is to measure) and ``CARELOG_ACCESS_LOG=false``:
  the benchmark measures the service, not the cost of writing one log line per request to a
  pipe. ``--access-log`` keeps it on.
* wrk and pgbench run with the same connection count and two threads. wrk is closed-loop: it
  measures throughput at saturation and the latency at that throughput. Its request timeout
  is raised to 10 s so that slow requests land in the percentiles rather than in the error
  count only.
* pgbench's p50 and p99 come from its per-transaction log (``-l --log-prefix``), parsed here:
  pgbench prints only the average latency itself.
* The preload deals the first 21 x ``--patients`` rows round-robin (P-00000, P-00001, ...)
  and the rest to random patients: every patient has an event (a patient without events
  answers 404, so sizes below ``--patients`` are refused) and, from 21 x ``--patients`` rows
  on, a full page of 20 plus the one the query looks ahead for. Rows arrive interleaved across
  patients and at random clinical times, as in production, so a patient's rows are spread
  over the heap rather than clustered. After loading: VACUUM (ANALYZE) and CHECKPOINT, so that
  neither autovacuum, hint-bit writes nor a checkpoint lands inside a measured run.
* Compare GET latency across sizes only when pages are full: with 10,000 rows over 10,000
  patients each patient has one event, so the page is one row where at 1,000,000 rows it is
  20. The script prints the mean page size per size and warns when pages are not full;
  ``--patients 476`` (10,000 // 21) gives full pages from 10,000 rows on.
* Reusing ``--data-dir``: keep the same ``--patients`` as the run that loaded it.
* Everything (service, PostgreSQL, wrk, pgbench) shares one machine, so the numbers are an
  upper bound for this machine, not a capacity plan. The 1-minute load average before each run
  is recorded in the JSON to spot a noisy neighbour.

The script exits with status 1 when any measured run had errors (non-2xx responses, socket
errors or failed transactions); such runs are flagged in the table.
"""

from __future__ import annotations

import argparse
import os
import shlex
import shutil
import sys
import tempfile
import traceback
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg

# bench/ is not a package: run as ``python bench/load.py``, Python puts bench/ first on
# sys.path, and that is how these sibling modules import.
from bench_common import BENCH_DIR, PAGE_SIZE, ROUND_ROBIN_PASSES, say
from bench_preload import count_rows, mean_page_rows, top_up
from bench_results import (
    Run,
    SizeReport,
    default_out,
    fmt,
    markdown_table,
    results_payload,
    write_results,
)
from bench_service import Service, database_url, free_port, sanity_check
from bench_tools import (
    pgbench_insert_script,
    pgbench_path,
    pgbench_select_script,
    require_wrk,
    run_pgbench,
    run_wrk,
)

MAX_PATIENTS = 100_000  # patient ids are P-%05d, and pgbench builds them with lpad(.., 5)


# --------------------------------------------------------------------------------------------
# Arguments


def _count(text: str) -> int:
    value = int(text.replace("_", ""))
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def _sizes(text: str) -> list[int]:
    try:
        sizes = [_count(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a comma-separated list of counts: {text}") from None
    if not sizes:
        raise argparse.ArgumentTypeError("give at least one size")
    return sorted(set(sizes))


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """The command line."""
    parser = argparse.ArgumentParser(
        description="Load-test Carelog's event routes with wrk, and the same SQL with pgbench.",
    )
    parser.add_argument(
        "--events",
        type=_count,
        default=1_000_000,
        help="rows to preload when --sizes is not given (default: %(default)s)",
    )
    parser.add_argument(
        "--sizes",
        type=_sizes,
        default=None,
        help="comma-separated table sizes to measure at, e.g. 10000,1000000 (default: --events)",
    )
    parser.add_argument(
        "--patients",
        type=_count,
        default=10_000,
        help=f"patients the events are spread over, at most {MAX_PATIENTS} (default: %(default)s)",
    )
    parser.add_argument(
        "--duration",
        type=_count,
        default=20,
        help="seconds of each measured run (default: %(default)s)",
    )
    parser.add_argument(
        "--warmup",
        type=int,
        default=3,
        help="seconds of unmeasured load before each run, 0 for none (default: %(default)s)",
    )
    parser.add_argument(
        "--connections",
        type=_count,
        default=32,
        help="concurrent connections of wrk and of pgbench (default: %(default)s)",
    )
    parser.add_argument(
        "--threads",
        type=_count,
        default=2,
        help="threads of wrk (-t) and of pgbench (-j) (default: %(default)s)",
    )
    parser.add_argument(
        "--workers",
        type=_count,
        default=1,
        help="service worker processes, carelog serve --workers (default: %(default)s)",
    )
    parser.add_argument(
        "--data-dir",
        type=Path,
        default=None,
        help="CARELOG_DATA_DIR to use or reuse (default: a fresh temporary "
        "folder, removed afterwards unless --keep-data)",
    )
    parser.add_argument(
        "--keep-data",
        action="store_true",
        help="keep the temporary data folder (to reuse it with --data-dir)",
    )
    parser.add_argument("--port", type=int, default=0, help="service port (default: a free one)")
    parser.add_argument(
        "--access-log",
        action="store_true",
        help="keep the per-request access log on (off by default)",
    )
    parser.add_argument("--skip-pgbench", action="store_true", help="only the HTTP runs")
    parser.add_argument(
        "--seed",
        type=int,
        default=20240601,
        help="seed of the preload's generator, and of wrk's threads (default: %(default)s)",
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=None,
        help="JSON results file (default: bench/results/<timestamp>.json)",
    )
    args = parser.parse_args(argv)
    if args.sizes is None:
        args.sizes = [args.events]
    if args.patients > MAX_PATIENTS:
        parser.error(f"--patients must be at most {MAX_PATIENTS} (ids are P-%05d)")
    if args.sizes[0] < args.patients:
        parser.error(
            f"the smallest size ({args.sizes[0]:,}) is below --patients ({args.patients:,}): "
            "patients without events would answer 404; lower --patients"
        )
    if args.warmup < 0:
        parser.error("--warmup must be 0 or more")
    return args


# --------------------------------------------------------------------------------------------
# Main


SCENARIOS = ("GET api", "SELECT db", "POST api", "INSERT db")


def measure(
    args: argparse.Namespace, data_dir: Path, work: Path, reports: list[SizeReport]
) -> None:
    """Start the service, then preload and measure at each size; always stop the service.

    Results are appended to ``reports`` as they come, so an interrupted run keeps them.
    """
    wrk = require_wrk()
    pgbench = pgbench_path()
    port = args.port or free_port()
    service = Service(data_dir, port, args.workers, work / "serve.log", access_log=args.access_log)
    url = database_url(data_dir)
    try:
        service.start()
        token = service.token()
        say(f"service ready on {service.base_url}")
        sanity_check(service.base_url, token)
        for size in args.sizes:
            preload = top_up(url, size, args.patients, args.seed)
            with psycopg.connect(url, autocommit=True) as conn:
                page_rows = mean_page_rows(conn, args.patients)
                rows = count_rows(conn)
            report = SizeReport(size, rows, round(page_rows, 2), preload)
            reports.append(report)
            say(f"measuring at {rows:,} rows (mean GET page {page_rows:.1f} rows)")
            for scenario in SCENARIOS:
                tool = "pgbench" if scenario.endswith(" db") else "wrk"
                if args.skip_pgbench and tool == "pgbench":
                    continue
                with psycopg.connect(url, autocommit=True) as conn:
                    rows = count_rows(conn)
                common: dict[str, Any] = {"args": args, "size": size, "rows": rows}
                if tool == "wrk":
                    get = scenario.startswith("GET")
                    script = BENCH_DIR / ("get_events.lua" if get else "post_event.lua")
                    # The path is only wrk's default: the script sets each request's path.
                    path = "/patient-events/P-00000" if get else "/patient-events"
                    run = run_wrk(
                        scenario,
                        script,
                        path,
                        wrk=wrk,
                        base_url=service.base_url,
                        token=token,
                        **common,
                    )
                else:
                    text = (
                        pgbench_select_script(args.patients)
                        if scenario.startswith("SELECT")
                        else pgbench_insert_script(args.patients)
                    )
                    run = run_pgbench(
                        scenario,
                        text,
                        pgbench=pgbench,
                        pgdata=service.pgdata,
                        work=work,
                        **common,
                    )
                report.runs.append(run)
                say(
                    f"  -> {fmt(run.requests_per_s, 0)} req/s, p50 {fmt(run.p50_ms)} ms, "
                    f"p99 {fmt(run.p99_ms)} ms, errors {run.errors}"
                )
    finally:
        service.stop()


def print_report(command_line: str, reports: Sequence[SizeReport]) -> list[Run]:
    """Print the command, the table and its notes; return the flagged runs."""
    print()
    print(f"command: {command_line}")
    print()
    print(markdown_table(reports))
    print()
    for report in reports:
        note = f"at {report.size:,} rows: mean GET page {report.mean_get_page_rows:.1f} rows"
        if report.mean_get_page_rows < PAGE_SIZE:
            note += (
                " (pages not full: compare GET across sizes with --patients <= "
                f"{report.size // ROUND_ROBIN_PASSES:,})"
            )
        if report.rows_in_table > report.size:
            note += (
                f"; size {report.size:,} was already exceeded by earlier runs' writes, so it"
                f" was measured at {report.rows_in_table:,} rows"
            )
        if report.preload is not None:
            note += f"; preload {report.preload.rows_per_second:,.0f} rows/s"
        print(note)
    flagged = [run for report in reports for run in report.runs if run.errors]
    for run in flagged:
        print(
            f"FLAGGED: {run.scenario} at {run.rows_in_table:,} rows: non-2xx {run.non_2xx}, "
            f"socket errors {run.socket_errors}, failed transactions "
            f"{run.failed_transactions}, exit code {run.exit_code}"
        )
    return flagged


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark; 1 when it failed or a measured run had errors."""
    args = parse_args(argv)
    require_wrk()
    started = datetime.now(UTC)
    out: Path = args.out or default_out(started.strftime("%Y%m%dT%H%M%SZ"))
    command_line = shlex.join(sys.orig_argv)
    created_data_dir = args.data_dir is None
    data_dir = (
        Path(tempfile.mkdtemp(prefix="carelog-bench-")) if created_data_dir else args.data_dir
    )
    data_dir = data_dir.resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    if created_data_dir:
        data_dir.chmod(0o755)  # the embedded server runs as its own system user
    reused = " (reused)" if (data_dir / "pgdata").exists() else ""
    say(f"data folder: {data_dir}{reused}")
    reports: list[SizeReport] = []
    failure: str | None = None
    try:
        with tempfile.TemporaryDirectory(prefix="carelog-bench-work-") as work:
            measure(args, data_dir, Path(work), reports)
    except (Exception, KeyboardInterrupt) as exc:
        traceback.print_exc()
        failure = f"{type(exc).__name__}: {exc}"
    finally:
        if created_data_dir and not args.keep_data:
            shutil.rmtree(data_dir, ignore_errors=True)
        elif created_data_dir:
            say(f"kept the data folder; reuse it with --data-dir {data_dir}")

    flagged = print_report(command_line, reports)
    if failure is not None:
        print(f"\nINCOMPLETE: the benchmark stopped early ({failure})")
    config: dict[str, Any] = {
        "sizes": args.sizes,
        "patients": args.patients,
        "duration_s": args.duration,
        "warmup_s": args.warmup,
        "connections": args.connections,
        "threads": args.threads,
        "workers": args.workers,
        "access_log": args.access_log,
        "pool_max_size": os.environ.get("CARELOG_POOL_MAX_SIZE", "default (16)"),
        "data_dir": str(data_dir) if not created_data_dir or args.keep_data else None,
        "seed": args.seed,
    }
    write_results(out, results_payload(command_line, started, failure, config, reports))
    print(f"\nresults: {out}")
    return 1 if flagged or failure is not None else 0


if __name__ == "__main__":
    sys.exit(main())
