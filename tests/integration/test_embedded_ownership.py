"""The embedded server's owner on a real server: guests leave it, services adopt orphans.

Other processes are played by owner records: a killed service's record names a process that is
gone, a live one names a ``sleep`` child.
"""

from __future__ import annotations

import json
import logging
import subprocess
from collections.abc import Iterator
from dataclasses import asdict
from pathlib import Path

import psycopg
import pytest

from carelog.storage.embedded import (
    OWNER_FILE,
    EmbeddedPostgres,
    Owner,
    Role,
    process_identity,
    read_owner,
    serves,
)

pytestmark = [pytest.mark.integration, pytest.mark.slow]


@pytest.fixture(scope="module")
def initialized(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One data folder for the module: initdb costs seconds, a start a fraction of one."""
    return tmp_path_factory.mktemp("owners") / "data"


@pytest.fixture
def data_dir(initialized: Path) -> Iterator[Path]:
    """The module's data folder, its server stopped and no owner recorded after each test."""
    yield initialized
    EmbeddedPostgres(initialized).stop(force=True)


def _other_process(data_dir: Path, role: Role, *, alive: bool) -> subprocess.Popen[bytes]:
    """Record another process as the owner; it is gone (as after kill -9) unless ``alive``."""
    child = subprocess.Popen(["sleep", "60"])
    identity = process_identity(child.pid)
    assert identity is not None
    owner = Owner(pid=child.pid, started=identity, role=role, token="other")
    (data_dir / OWNER_FILE).write_text(json.dumps(asdict(owner)))
    if not alive:
        child.kill()
        child.wait()
    return child


def _running(data_dir: Path) -> bool:
    return EmbeddedPostgres(data_dir)._running()


def test_guest_and_service_share_and_hand_over(data_dir: Path) -> None:
    guest = EmbeddedPostgres(data_dir)
    guest.start()
    assert guest.owns, "a guest that starts the server stops it"
    service = EmbeddedPostgres(data_dir, serving=True)
    service.start()
    assert service.owns, "a service takes over a guest's server"
    assert not guest.owns
    other_guest = EmbeddedPostgres(data_dir)
    other_guest.start()
    assert not other_guest.owns
    guest.stop()
    other_guest.stop()
    assert _running(data_dir)
    service.stop()
    assert not _running(data_dir)
    assert read_owner(data_dir) is None


def test_service_adopts_an_orphan_that_guests_leave_be(
    data_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    first = EmbeddedPostgres(data_dir, serving=True)
    first.start()
    _other_process(data_dir, "service", alive=False)  # the service was killed
    assert not first.owns

    guest = EmbeddedPostgres(data_dir)
    guest.start()
    assert not guest.owns
    guest.stop()
    assert _running(data_dir), "a guest leaves an orphan running"

    with caplog.at_level(logging.WARNING, logger="carelog.embedded"):
        adopter = EmbeddedPostgres(data_dir, serving=True)
        adopter.start()
    assert adopter.owns
    assert "adopted the embedded PostgreSQL" in caplog.text
    adopter.stop()
    assert not _running(data_dir)


def test_live_service_keeps_its_server_unless_its_pid_was_reused(data_dir: Path) -> None:
    EmbeddedPostgres(data_dir).start()
    child = _other_process(data_dir, "service", alive=True)
    try:
        for serving in (True, False):
            visitor = EmbeddedPostgres(data_dir, serving=serving)
            visitor.start()
            assert not visitor.owns
            visitor.stop()
            assert _running(data_dir)
        # The recorded pid now belongs to another process: the owner is gone.
        raw = json.loads((data_dir / OWNER_FILE).read_text())
        raw["started"] += "0"
        (data_dir / OWNER_FILE).write_text(json.dumps(raw))
        adopter = EmbeddedPostgres(data_dir, serving=True)
        adopter.start()
        assert adopter.owns
    finally:
        child.kill()
        child.wait()
    adopter.stop()
    assert not _running(data_dir)


def test_no_record_is_an_orphan_and_force_stops_without_a_start(data_dir: Path) -> None:
    EmbeddedPostgres(data_dir).start()
    (data_dir / OWNER_FILE).unlink()  # as left by a carelog that kept no record
    adopter = EmbeddedPostgres(data_dir, serving=True)
    adopter.start()
    assert adopter.owns
    EmbeddedPostgres(data_dir).stop(force=True)
    assert not _running(data_dir)
    assert read_owner(data_dir) is None


def test_a_stale_lock_file_naming_a_live_stranger_does_not_stop_a_start(data_dir: Path) -> None:
    """After a crash and a reboot (or a container restart), postmaster.pid can name a pid
    that a different process now has. That process is not the server: the start goes on."""
    lock = data_dir / "pgdata" / "postmaster.pid"
    EmbeddedPostgres(data_dir).start()
    left_behind = lock.read_text().split("\n", 1)[1]
    EmbeddedPostgres(data_dir).stop(force=True)
    stranger = subprocess.Popen(["sleep", "60"])
    try:
        lock.write_text(f"{stranger.pid}\n{left_behind}")
        assert not _running(data_dir)
        server = EmbeddedPostgres(data_dir)
        url = server.start()
        with psycopg.connect(url) as conn:
            assert conn.execute("SELECT 1").fetchone() == (1,)
        assert _running(data_dir)
        assert int(lock.read_text().split("\n", 1)[0]) != stranger.pid
        server.stop()
    finally:
        stranger.kill()
        stranger.wait()


def test_a_server_whose_folder_has_another_name_still_serves(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A server started through a bind mount works in the same folder under another path:
    it is the server, and its lock is not stale (review of the stale-lock fix)."""
    pgdata = tmp_path / "pgdata"
    pgdata.mkdir()
    worker = subprocess.Popen(["sleep", "60"], cwd=pgdata)
    try:
        assert serves(worker.pid, pgdata)
        # The kernel names the folder by the mount it was entered through.
        monkeypatch.setattr("os.readlink", lambda _path: "/mnt/alias/pgdata")
        assert serves(worker.pid, pgdata)
        assert not serves(worker.pid, tmp_path)  # another folder is another folder
    finally:
        worker.kill()
        worker.wait()
