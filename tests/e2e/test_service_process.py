"""The README's way in: ``carelog serve`` as a real process on the embedded PostgreSQL.

Covers the first start's admin key, the seed's script over real HTTP, the keys CLI beside a
running service, a clean stop, and data surviving a restart. Logs must hold no patient data.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from carelog.storage.embedded import EmbeddedPostgres

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

TOKEN = re.compile(r"clk_[A-Za-z0-9_\-]+")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _env(data_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    env["CARELOG_DATA_DIR"] = str(data_dir)
    return env


def _carelog(
    data_dir: Path, *args: str, database_url: str | None = None
) -> subprocess.CompletedProcess[str]:
    env = _env(data_dir)
    if database_url is not None:
        env["DATABASE_URL"] = database_url
    return subprocess.run(
        [sys.executable, "-m", "carelog", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def _issued(result: subprocess.CompletedProcess[str]) -> tuple[str, str]:
    """The token and key id that ``carelog keys create`` or ``rotate`` printed."""
    assert result.returncode == 0, result.stderr
    token = TOKEN.search(result.stdout)
    key_id = re.search(r"key id:\s+(\S+)", result.stdout)
    assert token is not None
    assert key_id is not None
    return token[0], key_id[1]


class Service:
    """A ``carelog serve`` process and everything it printed."""

    def __init__(self, data_dir: Path, *args: str, database_url: str | None = None) -> None:
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.lines: list[str] = []
        env = _env(data_dir)
        if database_url is not None:
            env["DATABASE_URL"] = database_url
        self.process = subprocess.Popen(
            [sys.executable, "-m", "carelog", "serve", "--port", str(self.port), *args],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{self.url}/readyz", timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            assert self.process.poll() is None, self.output
            time.sleep(0.1)
        raise AssertionError(f"service did not become ready:\n{self.output}")

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.append(line)

    @property
    def output(self) -> str:
        return "".join(self.lines)

    def stop(self) -> int:
        self.process.send_signal(signal.SIGTERM)
        code = self.process.wait(timeout=30)
        self._reader.join(timeout=5)
        if self.process.stdout is not None:
            self.process.stdout.close()
        return code


@pytest.fixture
def data_dir(tmp_path: Path) -> Iterator[Path]:
    path = tmp_path / "data"
    yield path
    EmbeddedPostgres(path).stop(force=True)


def test_serve_seed_script_keys_and_restart(data_dir: Path) -> None:
    service = Service(data_dir)
    try:
        found = TOKEN.findall(service.output)
        assert len(found) == 1, service.output
        admin = {"Authorization": f"Bearer {found[0]}"}
        assert "Embedded PostgreSQL" in service.output

        # The seed's "Testing the Integration" script, with the one header added.
        event = {
            "patient_id": "P-2048",
            "event_type": "triage_note",
            "payload": {"symptoms": ["fever", "cough"], "severity": "moderate"},
        }
        r1 = httpx.post(f"{service.url}/patient-events", json=event, headers=admin)
        assert r1.status_code == 200
        r2 = httpx.get(f"{service.url}/patient-events/P-2048", headers=admin)
        assert r2.status_code == 200
        [row] = r2.json()
        assert row["payload"] == event["payload"]
        assert {"id", "patient_id", "event_type", "payload", "created_at"} <= row.keys()

        # The keys CLI works beside the running service, on the same embedded database.
        created = _carelog(
            data_dir,
            "keys",
            "create",
            "--tenant",
            "default",
            "--scope",
            "events:read",
            "--name",
            "reader",
        )
        reader_token, reader_id = _issued(created)
        reader = {"Authorization": f"Bearer {reader_token}"}
        assert httpx.get(f"{service.url}/patient-events/P-2048", headers=reader).is_success
        assert (
            httpx.post(f"{service.url}/patient-events", json=event, headers=reader).status_code
            == 403
        )

        listed = _carelog(data_dir, "keys", "list")
        assert listed.returncode == 0
        assert reader_id in listed.stdout
        assert reader_token not in listed.stdout

        revoked = _carelog(data_dir, "keys", "revoke", reader_id)
        assert revoked.returncode == 0, revoked.stderr
        assert httpx.get(f"{service.url}/patient-events/P-2048", headers=reader).status_code == 401
        assert _carelog(data_dir, "keys", "revoke", reader_id).returncode == 1
        bad = _carelog(data_dir, "keys", "create", "--tenant", "Bad Tenant!", "--scope", "admin")
        assert bad.returncode != 0

        # Agents are named; their events say so. Rotation hands out a new token.
        unnamed = _carelog(
            data_dir,
            "keys",
            "create",
            "--tenant",
            "default",
            "--scope",
            "events:write",
            "--kind",
            "agent",
        )
        assert unnamed.returncode != 0
        assert "agent name" in unnamed.stderr
        agent = _carelog(
            data_dir,
            "keys",
            "create",
            "--tenant",
            "default",
            "--scope",
            "events:write",
            "--kind",
            "agent",
            "--agent-name",
            "intake-bot",
            "--expires-in",
            "30d",
        )
        agent_token, agent_id = _issued(agent)
        assert "expires:" in agent.stdout
        written = httpx.post(
            f"{service.url}/patient-events",
            json=event,
            headers={"Authorization": f"Bearer {agent_token}"},
        )
        assert written.json()["agent_name"] == "intake-bot"
        rotated = _carelog(data_dir, "keys", "rotate", agent_id, "--grace", "0s")
        new_token, _ = _issued(rotated)
        assert new_token != agent_token
        assert "intake-bot" in rotated.stdout
        for token, status in ((agent_token, 401), (new_token, 200)):
            response = httpx.post(
                f"{service.url}/patient-events",
                json=event,
                headers={"Authorization": f"Bearer {token}"},
            )
            assert response.status_code == status
        table = _carelog(data_dir, "keys", "list").stdout
        assert "KIND" in table
        assert "LAST USED" in table
        assert re.search(rf"{agent_id}\s+default\s+agent\s+expired", table), table
        assert _carelog(data_dir, "keys", "rotate", "nope").returncode == 1
        assert _carelog(data_dir, "keys", "rotate", agent_id, "--grace", "soon").returncode != 0
        # SMART patient scopes need the patient list; the key then reaches only those.
        no_list = _carelog(
            data_dir, "keys", "create", "--tenant", "default", "--scope", "patient/*.rs"
        )
        assert no_list.returncode != 0
        assert "patient/ scopes need the patients" in no_list.stderr
        limited = _carelog(
            data_dir,
            "keys",
            "create",
            "--tenant",
            "default",
            "--scope",
            "patient/*.rs",
            "--patient",
            "P-2048",
        )
        limited_token, _ = _issued(limited)
        limited_headers = {"Authorization": f"Bearer {limited_token}"}
        assert httpx.get(f"{service.url}/patient-events/P-2048", headers=limited_headers).is_success
        assert (
            httpx.get(f"{service.url}/patient-events/P-10293", headers=limited_headers).status_code
            == 404
        )
        verified = _carelog(data_dir, "audit", "verify")
        assert verified.returncode == 0, verified.stdout + verified.stderr
        assert re.search(r"^default: ok \(\d+ rows", verified.stdout, re.M), verified.stdout
        assert re.search(r"^-: ok", verified.stdout, re.M), verified.stdout  # anonymous tries
        # Hostile headers against the real server: refused with a 4xx, never a 500.
        huge = httpx.get(
            f"{service.url}/patient-events/P-2048", headers={**admin, "X-Filler": "a" * 200_000}
        )
        assert huge.status_code == 431
        assert huge.json()["code"] == "headers-too-large"
        long_token = httpx.get(
            f"{service.url}/patient-events/P-2048",
            headers={"Authorization": "Bearer clk_" + "x" * 8000},
        )
        assert long_token.status_code == 401
        odd = httpx.get(
            f"{service.url}/patient-events/P-2048",
            headers={**admin, "X-Purpose-Of-Use": "TREAT'; DROP TABLE audit_events;--"},
        )
        assert odd.status_code == 422
        stored = httpx.get(f"{service.url}/patient-events/P-2048", headers=admin).json()
        assert len(stored) == 3
    finally:
        code = service.stop()
    assert code == 0, service.output
    assert not EmbeddedPostgres(data_dir)._running(), "embedded PostgreSQL left running"
    # Nothing that identifies the patient or the clinical content reached the log.
    assert "P-2048" not in service.output
    assert "fever" not in service.output

    restarted = Service(data_dir)
    try:
        assert TOKEN.findall(restarted.output) == [], "admin key printed twice"
        r3 = httpx.get(f"{restarted.url}/patient-events/P-2048", headers=admin)
        assert r3.status_code == 200
        assert r3.json() == stored
    finally:
        assert restarted.stop() == 0


def test_cli_help_explains_itself(data_dir: Path) -> None:
    result = _carelog(data_dir, "--help")
    assert result.returncode == 0
    for word in ["serve", "migrate", "keys", "DATABASE_URL"]:
        assert word in result.stdout
    serve_help = _carelog(data_dir, "serve", "--help")
    assert "--port" in serve_help.stdout
    assert "--host" in serve_help.stdout
    keys_help = _carelog(data_dir, "keys", "create", "--help")
    assert "--tenant" in keys_help.stdout
    assert "--scope" in keys_help.stdout


def test_migrate_command(data_dir: Path) -> None:
    first = _carelog(data_dir, "migrate")
    assert first.returncode == 0, first.stderr
    assert "0001_event_log" in first.stderr
    second = _carelog(data_dir, "migrate")
    assert second.returncode == 0
    assert "up to date" in second.stdout
    assert "applied" not in second.stderr


def test_unreachable_database_is_a_clear_error(data_dir: Path) -> None:
    url = f"postgresql://carelog@127.0.0.1:{_free_port()}/carelog?connect_timeout=3"
    for command in (["migrate"], ["keys", "list"], ["serve", "--port", str(_free_port())]):
        result = _carelog(data_dir, *command, database_url=url)
        assert result.returncode == 1, command
        assert "cannot reach the database" in result.stderr
        assert "Traceback" not in result.stderr
