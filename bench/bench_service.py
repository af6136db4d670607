"""The service under test: ``carelog serve`` on its embedded PostgreSQL, started and stopped."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import psutil

from bench_common import TENANT, say

TOKEN_RE = re.compile(r"clk_[A-Za-z0-9_-]+")
KEYS_TOKEN_RE = re.compile(r"^token:\s+(clk_[A-Za-z0-9_-]+)\s*$", re.MULTILINE)


def carelog_executable() -> str:
    """The ``carelog`` script of the running interpreter's environment, else the one on PATH."""
    beside = Path(sys.executable).parent / "carelog"
    if beside.exists():
        return str(beside)
    found = shutil.which("carelog")
    if found is None:
        sys.exit("error: the carelog command is not installed (pip install -e '.[server]')")
    return found


def free_port() -> int:
    """A TCP port nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def service_env(
    data_dir: Path,
    *,
    access_log: bool,
    database_url: str | None = None,
    overrides: dict[str, str | None] | None = None,
) -> dict[str, str]:
    """Environment of the processes that use the embedded database of ``data_dir``, or the
    server at ``database_url``; ``overrides`` sets variables last (None removes one)."""
    env = dict(os.environ)
    env.pop("DATABASE_URL", None)
    env.pop("CARELOG_DATABASE_URL", None)
    if database_url is not None:
        env["DATABASE_URL"] = database_url
    env["CARELOG_DATA_DIR"] = str(data_dir)
    env["CARELOG_ACCESS_LOG"] = "true" if access_log else "false"
    # One principal drives all the load: its rate limit would be all that is measured.
    env["CARELOG_RATE_LIMIT_PER_SECOND"] = "0"
    for name, value in (overrides or {}).items():
        if value is None:
            env.pop(name, None)
        else:
            env[name] = value
    return env


def database_url(data_dir: Path) -> str:
    """URL of the embedded server's ``carelog`` database (Unix socket in its data folder)."""
    return f"postgresql://postgres:@/carelog?host={data_dir / 'pgdata'}"


def cpu_seconds(root: int) -> float:
    """CPU seconds (user and system) used so far by ``root`` and every process under it."""
    total = 0.0
    try:
        parent = psutil.Process(root)
        for process in [parent, *parent.children(recursive=True)]:
            try:
                times = process.cpu_times()
            except psutil.NoSuchProcess:
                continue
            total += times.user + times.system
    except psutil.NoSuchProcess:
        pass
    return total


def postmaster_pid(pgdata: Path) -> int | None:
    """The pid of a live postmaster of ``pgdata``, if one is running."""
    try:
        pid = int((pgdata / "postmaster.pid").read_text().split("\n", 1)[0])
    except (OSError, ValueError):
        return None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None
    except PermissionError:
        return pid
    return pid


class Service:
    """``carelog serve`` as a child process, stopped (with its database) by :meth:`stop`.

    With ``database_url`` it uses that server instead of an embedded one (which it then
    neither starts nor stops); ``env`` is passed to :func:`service_env` as its overrides.
    """

    def __init__(
        self,
        data_dir: Path,
        port: int,
        workers: int,
        log_path: Path,
        *,
        access_log: bool,
        database_url: str | None = None,
        env: dict[str, str | None] | None = None,
    ) -> None:
        self.data_dir = data_dir
        self.port = port
        self.workers = workers
        self.log_path = log_path
        self.access_log = access_log
        self.database_url = database_url
        self.env = env
        self.base_url = f"http://127.0.0.1:{port}"
        self.proc: subprocess.Popen[bytes] | None = None
        self.db_was_running = False

    @property
    def pgdata(self) -> Path:
        """The embedded server's data folder (and socket directory)."""
        return self.data_dir / "pgdata"

    def start(self, timeout: float = 180.0) -> None:
        """Start the service and wait for /readyz."""
        self.db_was_running = postmaster_pid(self.pgdata) is not None
        if self.db_was_running:
            say(
                f"note: a PostgreSQL already runs on {self.pgdata}: the service adopts (and "
                "later stops) it unless a live 'carelog serve' owns it"
            )
        command = [
            carelog_executable(),
            "serve",
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--workers",
            str(self.workers),
        ]
        say(f"starting: {shlex.join(command)} (log: {self.log_path})")
        with self.log_path.open("ab") as log:
            # Own session: a Ctrl-C in the terminal reaches this script only, and stop() ends
            # the service (and, through it, the database) in order.
            self.proc = subprocess.Popen(
                command,
                env=self.environment(access_log=self.access_log),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + timeout
        with httpx.Client(timeout=2.0) as client:
            while True:
                if self.proc.poll() is not None:
                    raise RuntimeError(
                        f"carelog serve exited with {self.proc.returncode}:\n{self.log_tail()}"
                    )
                try:
                    if client.get(f"{self.base_url}/readyz").status_code == 200:
                        return
                except httpx.TransportError:
                    pass
                if time.monotonic() > deadline:
                    raise RuntimeError(
                        f"service not ready after {timeout:.0f} s:\n{self.log_tail()}"
                    )
                time.sleep(0.25)

    def environment(self, *, access_log: bool) -> dict[str, str]:
        """The environment of this service's processes (and of CLI commands beside it)."""
        return service_env(
            self.data_dir,
            access_log=access_log,
            database_url=self.database_url,
            overrides=self.env,
        )

    def kill(self) -> None:
        """SIGKILL the service and its workers (its process group), as a crash would."""
        if self.proc is None or self.proc.poll() is not None:
            return
        os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait()

    def log_tail(self, lines: int = 30) -> str:
        """The end of the service's log, for error messages."""
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def token(self) -> str:
        """An events:read/write token of tenant ``default``.

        The admin token printed on the first start, else (on a reused data folder, where it was
        printed before) a new key from ``carelog keys create``.
        """
        match = TOKEN_RE.search(self.log_path.read_text(errors="replace"))
        if match is not None:
            return match.group(0)
        result = subprocess.run(
            [
                carelog_executable(),
                "keys",
                "create",
                "--tenant",
                TENANT,
                "--scope",
                "events:read",
                "--scope",
                "events:write",
                "--name",
                "bench",
            ],
            env=self.environment(access_log=False),
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        found = KEYS_TOKEN_RE.search(result.stdout)
        if result.returncode != 0 or found is None:
            raise RuntimeError(f"carelog keys create failed:\n{result.stdout}\n{result.stderr}")
        return found.group(1)

    def stop(self) -> None:
        """SIGTERM the service and wait; then make sure its PostgreSQL is gone too."""
        if self.proc is not None and self.proc.poll() is None:
            say("stopping the service (SIGTERM)")
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                say("service did not stop in 60 s; killing its process group")
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        if self.db_was_running:
            return
        pid = postmaster_pid(self.pgdata)
        if pid is None:
            return
        # The service stops the database it started; this is for when it could not (killed).
        say(f"PostgreSQL {pid} still runs; fast shutdown")
        for sig, wait in ((signal.SIGINT, 30.0), (signal.SIGQUIT, 10.0)):
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                return
            deadline = time.monotonic() + wait
            while time.monotonic() < deadline:
                if postmaster_pid(self.pgdata) is None:
                    return
                time.sleep(0.2)
        say(f"warning: PostgreSQL {pid} is still running")


def sanity_check(base_url: str, token: str) -> None:
    """One POST and one GET through the API, before loading it."""
    headers = {"Authorization": f"Bearer {token}"}
    body = {
        "patient_id": "P-00000",
        "event_type": "lab_result",
        "payload": {"test": "hba1c", "value": 5.4, "unit": "%"},
    }
    with httpx.Client(base_url=base_url, headers=headers, timeout=10.0) as client:
        posted = client.post("/patient-events", json=body)
        listed = client.get("/patient-events/P-00000")
    if posted.status_code != 200 or listed.status_code != 200:
        raise RuntimeError(
            f"sanity check failed: POST {posted.status_code} {posted.text[:200]!r}, "
            f"GET {listed.status_code} {listed.text[:200]!r}"
        )
