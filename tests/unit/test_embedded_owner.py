"""Who owns the embedded server: the ownership rule, the owner record, and process identity."""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path

import pytest

from carelog.storage.embedded import (
    OWNER_FILE,
    Owner,
    Role,
    process_identity,
    read_owner,
    takes_ownership,
)

pytestmark = pytest.mark.unit

ME = "mine"


def _owner(role: Role, held_by: str = "theirs") -> Owner:
    return Owner(pid=1, started="x", role=role, token=held_by)


@pytest.mark.parametrize(
    ("owner", "serving", "started_here", "takes"),
    [
        # An orphan (no live owner): a service adopts it; a guest only if it started it.
        (None, True, False, True),
        (None, True, True, True),
        (None, False, False, False),
        (None, False, True, True),
        # A live guest's server: a service takes it over, another guest leaves it be.
        (_owner("guest"), True, False, True),
        (_owner("guest"), False, False, False),
        (_owner("guest"), False, True, False),
        # A live service keeps its server, even one restarted by someone else.
        (_owner("service"), True, False, False),
        (_owner("service"), False, True, False),
        (_owner("service"), True, True, False),
        # Starting again keeps what this instance already owns.
        (_owner("guest", ME), False, False, True),
        (_owner("service", ME), True, False, True),
    ],
)
def test_takes_ownership(
    owner: Owner | None, *, serving: bool, started_here: bool, takes: bool
) -> None:
    assert takes_ownership(owner, token=ME, serving=serving, started_here=started_here) is takes


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads /proc")
def test_process_identity_tells_a_reused_pid_and_a_zombie_from_the_owner() -> None:
    me = process_identity(os.getpid())
    assert me is not None
    assert me == process_identity(os.getpid())
    assert Owner(pid=os.getpid(), started=me, role="service", token="t").alive()
    # Same pid, another start: the pid was reused, the recorded owner is gone.
    assert not Owner(pid=os.getpid(), started=me + "0", role="service", token="t").alive()
    assert process_identity(0) is None
    assert process_identity(-1) is None

    child = subprocess.Popen(["sleep", "30"])
    try:
        identity = process_identity(child.pid)
        assert identity is not None
        assert identity != me
    finally:
        child.kill()
    # Killed but not yet reaped: a zombie, which is no owner.
    deadline = time.monotonic() + 5
    while process_identity(child.pid) is not None and time.monotonic() < deadline:
        time.sleep(0.01)
    assert process_identity(child.pid) is None
    child.wait()
    assert not Owner(pid=child.pid, started=identity, role="service", token="t").alive()


def test_owner_record_round_trip_and_garbage(tmp_path: Path) -> None:
    path = tmp_path / OWNER_FILE
    assert read_owner(tmp_path) is None
    owner = Owner(pid=42, started="boot:7", role="guest", token="abc")
    path.write_text(json.dumps({"pid": 42, "started": "boot:7", "role": "guest", "token": "abc"}))
    assert read_owner(tmp_path) == owner
    for garbage in ["", "{", "[]", '{"pid": 1}', json.dumps({**owner.__dict__, "role": "boss"})]:
        path.write_text(garbage)
        assert read_owner(tmp_path) is None, garbage
