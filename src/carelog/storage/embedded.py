"""The embedded PostgreSQL: a real PostgreSQL 16 server (from the ``pgserver`` wheel) in a folder.

Used when no ``DATABASE_URL`` is set. It listens on a Unix socket inside its data folder only,
so it never takes a TCP port.

Who stops it: its *owner*, recorded in ``embedded.owner`` in the data folder (pid, process start
time, role). A long-running service (``carelog serve``; the app's lifespan), made with
``serving=True``, owns the server it starts and *adopts* one that runs with no live owner (left
by a service killed with SIGKILL, or started by a one-off command), so it stops it on exit. A
one-off command (``carelog keys ...``) is a guest: it uses a running server and leaves it
running; it owns, and stops, only a server it started itself while no live service claimed it.
A process that is alive but not the one recorded (its pid reused) is not the owner. Decisions
are made under ``embedded.lock``, beside the record.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import secrets
import subprocess
import warnings
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from functools import cache
from pathlib import Path
from types import TracebackType
from typing import Any, Literal

import psycopg

_log = logging.getLogger("carelog.embedded")

DATABASE = "carelog"
OWNER_FILE = "embedded.owner"
LOCK_FILE = "embedded.lock"

Role = Literal["service", "guest"]


def _pgserver() -> Any:
    with warnings.catch_warnings():
        # platformdirs warns when XDG_RUNTIME_DIR is unset; pgserver then uses /tmp, which is fine.
        warnings.simplefilter("ignore")
        import pgserver
        import pgserver._commands
        import pgserver.utils
    return pgserver


@cache
def _proc() -> bool:
    return Path("/proc/self/stat").exists()


@cache
def _boot_id() -> str:
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        return ""


def process_identity(pid: int) -> str | None:
    """Who ``pid`` is now: None if no live process has it (a zombie has exited).

    On Linux, the boot and the process's start time, which a later process given the same pid
    does not share. Elsewhere only liveness is known, and the identity is ``""``.
    """
    if pid <= 0:
        return None
    if _proc():
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            return None
        # "pid (comm) state ppid ... starttime ...": comm may hold spaces and parentheses.
        fields = stat.rpartition(")")[2].split()
        if len(fields) < 20 or fields[0] in {"Z", "X"}:
            return None
        return f"{_boot_id()}:{fields[19]}"
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None
    except PermissionError:
        pass  # alive, another user's
    return ""


@dataclass(frozen=True)
class Owner:
    """Who stops the server: one ``EmbeddedPostgres`` (``token``) in the process ``pid``."""

    pid: int
    started: str
    role: Role
    token: str

    def alive(self) -> bool:
        """Whether the recorded process still runs (the same one, not a reuse of its pid)."""
        return process_identity(self.pid) == self.started


def serves(pid: int, pgdata: Path) -> bool:
    """Whether ``pid`` is a live server on ``pgdata``: PostgreSQL works in its data folder,
    which a process that merely reuses a stale pid does not (Linux; elsewhere only
    liveness is known). The folders are compared as files (device and inode), not as path
    text: a server started through a bind mount or another mount of the same volume works
    in the same folder under another name. Any doubt (another user's process, whose
    folder cannot be read) counts as serving: removing a live server's lock is the worse
    mistake."""
    if process_identity(pid) is None:
        return False
    if not _proc():
        return True
    try:
        return os.path.samefile(f"/proc/{pid}/cwd", pgdata)
    except FileNotFoundError:
        return False  # the process is gone, or there is no such data folder
    except OSError:
        return True


def read_owner(data_dir: Path) -> Owner | None:
    """The recorded owner of the server in ``data_dir``, alive or not; None if none is."""
    try:
        raw = json.loads((data_dir / OWNER_FILE).read_text())
        role = raw["role"]
        if role not in ("service", "guest"):
            return None
        return Owner(
            pid=int(raw["pid"]), started=str(raw["started"]), role=role, token=str(raw["token"])
        )
    except (OSError, ValueError, KeyError, TypeError):
        return None


def takes_ownership(owner: Owner | None, *, token: str, serving: bool, started_here: bool) -> bool:
    """Whether the instance ``token`` becomes the owner of the server it just started or found.

    ``owner`` is the live recorded owner, None for an orphan (no record, or its process gone).
    A service takes an orphan or a guest's server; a guest only a server it started, and only
    when no live owner would stop it.
    """
    if owner is None:
        return serving or started_here
    if owner.token == token:
        return True
    return serving and owner.role == "guest"


class EmbeddedPostgres:
    """A PostgreSQL server whose data lives in ``data_dir``, started on :meth:`start`.

    ``serving``: this process is the long-running service, which adopts a server that has no
    live owner (see the module's docstring).
    """

    def __init__(self, data_dir: Path, *, serving: bool = False) -> None:
        self.data_dir = data_dir.expanduser().resolve()
        self.serving = serving
        self._server: Any = None
        self._token = secrets.token_hex(8)

    @property
    def pgdata(self) -> Path:
        """The PostgreSQL data folder (``PGDATA``)."""
        return self.data_dir / "pgdata"

    @property
    def owns(self) -> bool:
        """Whether :meth:`stop` will stop the server (this instance is its recorded owner)."""
        owner = read_owner(self.data_dir)
        return owner is not None and owner.token == self._token

    def _postmaster_pid(self) -> int | None:
        try:
            return int((self.pgdata / "postmaster.pid").read_text().split("\n", 1)[0])
        except (OSError, ValueError):
            return None

    def _running(self) -> bool:
        pid = self._postmaster_pid()
        return pid is not None and serves(pid, self.pgdata)

    def _remove_stale_lock(self) -> None:
        # A server killed with -9 (or lost with the machine) leaves postmaster.pid behind,
        # naming a pid that another process may have by now. Neither pgserver nor pg_ctl
        # would start past it. (PostgreSQL still refuses to start while any of the old
        # server's processes hold its shared memory.)
        lock = self.pgdata / "postmaster.pid"
        pid = self._postmaster_pid()
        if pid is not None and not serves(pid, self.pgdata):
            _log.warning("removed a stale %s naming process %d", lock, pid)
            lock.unlink(missing_ok=True)

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        with (self.data_dir / LOCK_FILE).open("a") as handle:
            # Released by the kernel if this process dies holding it.
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def _record(self, owner: Owner | None) -> None:
        path = self.data_dir / OWNER_FILE
        if owner is None:
            path.unlink(missing_ok=True)
            return
        partial = path.with_name(f".{OWNER_FILE}.{os.getpid()}")
        partial.write_text(json.dumps(asdict(owner)))
        os.replace(partial, path)  # readers see the old record or the new, never half of one

    def start(self) -> str:
        """Start (or attach to) the server and create the ``carelog`` database; return its URL."""
        pgserver = _pgserver()
        with self._locked():
            started_here = not (self.pgdata.exists() and self._running())
            if self._server is None:
                self._server = pgserver.get_server(self.pgdata, cleanup_mode=None)
            if not self._running():
                self._remove_stale_lock()
                # A handle pgserver cached in this process does not restart a stopped server.
                with self._server._lock:
                    self._server.ensure_postgres_running()
            self._claim(started_here=started_here)
            self._forget_dead_handles()
        admin_url = self._server.get_uri()
        with psycopg.connect(admin_url, autocommit=True) as conn:
            exists = conn.execute(
                "SELECT 1 FROM pg_database WHERE datname = %s", (DATABASE,)
            ).fetchone()
            if exists is None:
                conn.execute(f'CREATE DATABASE "{DATABASE}"')
        return str(self._server.get_uri(DATABASE))

    def _claim(self, *, started_here: bool) -> None:
        recorded = read_owner(self.data_dir)
        live = recorded if recorded is not None and recorded.alive() else None
        if not takes_ownership(
            live, token=self._token, serving=self.serving, started_here=started_here
        ):
            return
        identity = process_identity(os.getpid())
        assert identity is not None
        role: Role = "service" if self.serving else "guest"
        self._record(Owner(pid=os.getpid(), started=identity, role=role, token=self._token))
        if started_here or (live is not None and live.token == self._token):
            return
        if live is None:
            left_by = f"process {recorded.pid}, gone" if recorded is not None else "no owner"
            _log.warning(
                "adopted the embedded PostgreSQL already running in %s (%s); it stops with this "
                "process",
                self.pgdata,
                left_by,
            )
        else:
            _log.info("took over the embedded PostgreSQL from process %d", live.pid)

    def _forget_dead_handles(self) -> None:
        # pgserver lists each process that opened the server in .handle_pids.json and removes
        # it at exit, so a killed process stays listed for good. Nothing here decides by that
        # list (cleanup_mode=None), but it should not name the dead.
        handles = self._server.global_process_id_list
        with self._server._lock:
            pids: list[int] = handles.get()
            alive = [pid for pid in pids if process_identity(pid) is not None]
            if alive != pids:
                handles.put(alive)

    def url(self, database: str = DATABASE) -> str:
        """Connection URL of ``database`` on the running server."""
        assert self._server is not None, "start() first"
        return str(self._server.get_uri(database))

    def stop(self, *, force: bool = False) -> None:
        """Stop the server if this instance owns it (or whoever does, with ``force``)."""
        if not self.data_dir.exists():
            return
        with self._locked():
            if not (force or self.owns):
                return
            if self._running():
                self._pg_ctl_stop()
            self._record(None)

    def _pg_ctl_stop(self) -> None:
        # pgserver runs the server as user "pgserver" when started by root.
        user = self._server.system_user if self._server is not None else _system_user()
        try:
            _pgserver()._commands.pg_ctl(
                ["-w", "-m", "fast", "stop"], pgdata=self.pgdata, user=user
            )
        except subprocess.CalledProcessError:
            if self._running():
                raise
        _log.info("embedded PostgreSQL stopped")

    def __enter__(self) -> EmbeddedPostgres:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def _system_user() -> str | None:
    """The user pgserver runs PostgreSQL as (its rule: "pgserver" under root, else the caller)."""
    return "pgserver" if os.geteuid() == 0 else None
