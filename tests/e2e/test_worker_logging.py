"""``carelog serve --workers 2`` logs like one worker: an access line per request, and
warnings with their timestamp and level."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import psycopg
import pytest
from psycopg.conninfo import conninfo_to_dict

from tests.e2e.test_service_process import Service

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

STAMP = r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} "


def test_workers_log_access_lines_and_stamped_warnings(
    tmp_path: Path, make_database: Callable[[], str], server_url: str
) -> None:
    url = make_database()
    service = Service(tmp_path / "unused", "--workers", "2", database_url=url)
    try:
        for _ in range(20):
            assert httpx.get(f"{service.url}/healthz").status_code == 200
        # Each worker's listeners (key revocations, committed events) lose their connection
        # and say so, as a warning: two listeners in each of the two workers.
        with psycopg.connect(server_url, autocommit=True) as su:
            su.execute(
                "SELECT pg_terminate_backend(pid, 5000) FROM pg_stat_activity"
                " WHERE datname = %s AND application_name = 'carelog'",
                (conninfo_to_dict(url)["dbname"],),
            )
        access = re.compile(STAMP + r"INFO carelog\.access GET /healthz 200 ", re.M)
        warning = re.compile(STAMP + r"WARNING carelog\.notify listener on \S+ lost", re.M)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and len(warning.findall(service.output)) < 4:
            time.sleep(0.1)
    finally:
        assert service.stop() == 0, service.output
    assert len(access.findall(service.output)) == 20, service.output
    lost = sorted(warning.findall(service.output))
    assert len(lost) == 4, service.output
    for channel in ("carelog_api_keys", "carelog_events"):
        assert sum(channel in line for line in lost) == 2, service.output
    # No line of any process goes out bare (without its timestamp and level).
    logged = [line for line in service.lines if " carelog" in line or "uvicorn" in line]
    assert all(re.match(STAMP, line) for line in logged), service.output
