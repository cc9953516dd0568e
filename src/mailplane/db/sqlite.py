"""SQLite: pragmas, ``BEGIN IMMEDIATE`` for writers, and one writer at a time per process.

SQLite has one write lock per database file. A writer that finds it taken does not queue:
its busy handler sleeps and polls (1, 2, 5 ... 100 ms), so under a burst the lock sits free
between a commit and the next poll, and who gets it next is luck. Inside one process the
writers therefore take turns on a ``threading.Lock`` first (handed over at once, and bounded
by the same busy timeout); the busy timeout still arbitrates between processes (the DNS loop
in ``mailplane up``, the CLI, several API workers).

The turn is taken when a writing transaction begins and given back when its connection
returns to the pool, which the Session does right after COMMIT or ROLLBACK.
"""

from __future__ import annotations

import threading
from typing import Any

from sqlalchemy import Engine, event

from mailplane.db.overload import RETRY_AFTER_SECONDS
from mailplane.errors import Overloaded

IMMEDIATE = "mailplane_sqlite_immediate"


class WriterTurn:
    """Whose turn it is to write: at most one connection of this engine at a time."""

    def __init__(self, timeout: float) -> None:
        self._lock = threading.Lock()
        self._timeout = timeout
        self._holder: object | None = None

    def take(self, record: object) -> None:
        if self._holder is record:  # this connection writes again before going back
            return
        if not self._lock.acquire(timeout=self._timeout):
            raise Overloaded(
                "the database is busy with other changes; retry shortly",
                retry_after=RETRY_AFTER_SECONDS,
            )
        self._holder = record

    def give_back(self, record: object) -> None:
        if self._holder is record:
            self._holder = None
            self._lock.release()


def install_hooks(engine: Engine, busy_timeout_seconds: float) -> None:
    turn = WriterTurn(busy_timeout_seconds)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute(f"PRAGMA busy_timeout={round(busy_timeout_seconds * 1000)}")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        if not connection.get_execution_options().get(IMMEDIATE, False):
            connection.exec_driver_sql("BEGIN")
            return
        record = connection.connection._connection_record
        turn.take(record)
        try:
            connection.exec_driver_sql("BEGIN IMMEDIATE")
        except BaseException:
            turn.give_back(record)
            raise

    @event.listens_for(engine, "checkin")
    def _on_checkin(_dbapi_connection: Any, record: Any) -> None:
        turn.give_back(record)
