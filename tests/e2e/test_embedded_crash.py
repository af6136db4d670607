"""``carelog serve`` killed with SIGKILL: the next service adopts the PostgreSQL it left behind.

A killed service cannot stop its embedded server, which keeps running with no owner. The next
``carelog serve`` on that data folder must start on it and, stopped cleanly, stop it: no
PostgreSQL process of that data folder may be left.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from carelog.storage.embedded import EmbeddedPostgres
from tests.e2e.test_service_process import Service

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def _postmaster_pid(pgdata: Path) -> int | None:
    """The pid in ``postmaster.pid``, if the file is there."""
    try:
        return int((pgdata / "postmaster.pid").read_text().split("\n", 1)[0])
    except (OSError, ValueError):
        return None


def _alive(pid: int) -> bool:
    """Whether ``pid`` is a live process (a zombie is not)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rpartition(")")[2].split()[0] not in {"Z", "X"}


def _processes_of(pgdata: Path) -> list[int]:
    """Live processes whose command line names ``pgdata`` (the postmaster has ``-D pgdata``)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        if str(pgdata).encode() in cmdline and _alive(int(entry.name)):
            found.append(int(entry.name))
    return found


def _postgres_left(pgdata: Path) -> list[int]:
    """Every PostgreSQL process of ``pgdata`` still alive, by its pid file and by command line."""
    left = set(_processes_of(pgdata))
    pid = _postmaster_pid(pgdata)
    if pid is not None and _alive(pid):
        left.add(pid)
    return sorted(left)


@pytest.fixture
def data_dir(tmp_path: Path) -> Iterator[Path]:
    path = tmp_path / "data"
    yield path
    EmbeddedPostgres(path).stop(force=True)


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads /proc")
def test_service_after_kill_9_adopts_and_stops_the_server(data_dir: Path) -> None:
    pgdata = data_dir / "pgdata"
    crashed = Service(data_dir)
    # What `kill -9 <pid of carelog serve>` does: the main process only.
    os.kill(crashed.process.pid, signal.SIGKILL)
    assert crashed.stop() == -signal.SIGKILL
    orphan = _postmaster_pid(pgdata)
    assert orphan is not None
    assert _alive(orphan), "the setup: a killed service leaves its PostgreSQL running"

    service = Service(data_dir)
    try:
        assert _postmaster_pid(pgdata) == orphan, "the orphan is reused, not replaced"
    finally:
        code = service.stop()
    assert code == 0, service.output
    deadline = time.monotonic() + 5
    while _postgres_left(pgdata) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert _postgres_left(pgdata) == [], service.output
