"""The embedded PostgreSQL: a real PostgreSQL 16 server (from the ``pgserver`` wheel) in a folder.

Used when no ``DATABASE_URL`` is set. It listens on a Unix socket inside its data folder only,
so it never takes a TCP port. The process that starts it stops it; a process that finds it
already running (``carelog keys`` beside ``carelog serve``) leaves it running.
"""

from __future__ import annotations

import logging
import warnings
from pathlib import Path
from types import TracebackType
from typing import Any

import psycopg

_log = logging.getLogger("carelog.embedded")

DATABASE = "carelog"


def _pgserver() -> Any:
    with warnings.catch_warnings():
        # platformdirs warns when XDG_RUNTIME_DIR is unset; pgserver then uses /tmp, which is fine.
        warnings.simplefilter("ignore")
        import pgserver
        import pgserver._commands
        import pgserver.utils
    return pgserver


class EmbeddedPostgres:
    """A PostgreSQL server whose data lives in ``data_dir``, started on :meth:`start`."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir.expanduser().resolve()
        self._server: Any = None
        self._started_here = False

    @property
    def pgdata(self) -> Path:
        """The PostgreSQL data folder (``PGDATA``)."""
        return self.data_dir / "pgdata"

    def _running(self) -> bool:
        info = _pgserver().utils.PostmasterInfo.read_from_pgdata(self.pgdata)
        return info is not None and bool(info.is_running())

    def start(self) -> str:
        """Start (or attach to) the server and create the ``carelog`` database; return its URL."""
        pgserver = _pgserver()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        if self._server is None:
            already = self.pgdata.exists() and self._running()
            self._server = pgserver.get_server(self.pgdata, cleanup_mode=None)
            self._started_here = not already
        elif not self._running():
            with self._server._lock:
                self._server.ensure_postgres_running()
            self._started_here = True
        admin_url = self._server.get_uri()
        with psycopg.connect(admin_url, autocommit=True) as conn:
            exists = conn.execute(
                "SELECT 1 FROM pg_database WHERE datname = %s", (DATABASE,)
            ).fetchone()
            if exists is None:
                conn.execute(f'CREATE DATABASE "{DATABASE}"')
        return str(self._server.get_uri(DATABASE))

    def url(self, database: str = DATABASE) -> str:
        """Connection URL of ``database`` on the running server."""
        assert self._server is not None, "start() first"
        return str(self._server.get_uri(database))

    def stop(self, *, force: bool = False) -> None:
        """Stop the server if this process started it (or always, with ``force``)."""
        if self._server is None or not (self._started_here or force):
            return
        if self._running():
            _pgserver()._commands.pg_ctl(
                ["-w", "-m", "fast", "stop"],
                pgdata=self.pgdata,
                user=self._server.system_user,
            )
            _log.info("embedded PostgreSQL stopped")
        self._started_here = False

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
