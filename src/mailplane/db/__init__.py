"""Engine and sessions for SQLite (the embedded default) and PostgreSQL.

SQLite runs in WAL mode with foreign keys on. Writers take the write lock when their
transaction begins (``BEGIN IMMEDIATE``): a deferred transaction that reads first and
then writes can fail at once with "database is locked" when another writer committed in
between, and the busy timeout does not help in that case.

Pool sizes follow the API's admission limits (``api_max_concurrent_reads`` + ``..._writes``):
a request keeps its connection until its response is serialised, so the pool must hold one
per admitted request, or requests that hold a worker thread wait for a connection held by
requests that wait for a worker thread.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

from sqlalchemy import Engine, create_engine
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from mailplane.config import Settings
from mailplane.db import sqlite


def normalize_url(url: str) -> str:
    """Use psycopg 3 for PostgreSQL whatever spelling the operator chose."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def create_private_sqlite_file(url: str) -> None:
    """Create the database directory (0700) and an empty database file (0600) unless they
    exist. SQLite would create the file with the process umask, typically 0644: password
    hashes and DKIM keys readable by every local user. Its -wal, -shm and -journal files
    copy the database file's mode. The mail-plane bootstrap later opens both to Postfix
    (mailplane.runtime.file_modes). Nothing to do for PostgreSQL or in-memory SQLite."""
    parsed = make_url(url)
    database = parsed.database
    if parsed.get_backend_name() != "sqlite" or not database or database == ":memory:":
        return
    path = Path(database)
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    with suppress(FileExistsError):
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))


# Headroom beyond the admitted requests: the CLI, the DNS loop and a request's short
# authentication session.
POOL_HEADROOM = 4
# Waiting longer than this for a connection means the database is overloaded: 503.
POOL_TIMEOUT_SECONDS = 10


def pool_capacity(settings: Settings) -> int:
    return settings.api_max_concurrent_reads + settings.api_max_concurrent_writes + POOL_HEADROOM


def make_engine(settings: Settings, *, capacity: int | None = None) -> Engine:
    url = normalize_url(settings.resolved_database_url)
    size = pool_capacity(settings) if capacity is None else capacity
    steady = min(size, 8 if url.startswith("sqlite") else 10)
    pool = {
        "pool_size": steady,
        "max_overflow": size - steady,
        "pool_timeout": POOL_TIMEOUT_SECONDS,
    }
    if url.startswith("sqlite"):
        create_private_sqlite_file(url)
        engine = create_engine(
            url,
            connect_args={
                "isolation_level": None,
                "check_same_thread": False,
                "timeout": settings.database_busy_timeout_seconds,
            },
            **pool,
        )
        sqlite.install_hooks(engine, settings.database_busy_timeout_seconds)
        return engine
    return create_engine(url, pool_pre_ping=True, **pool)


class Database:
    """The engine plus two session factories: one for readers, one for writers."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.engine = make_engine(settings)
        writer_bind = (
            self.engine.execution_options(**{sqlite.IMMEDIATE: True})
            if settings.is_sqlite
            else self.engine
        )
        self._reader = sessionmaker(
            bind=self.engine, expire_on_commit=False, info={"settings": settings}
        )
        self._writer = sessionmaker(
            bind=writer_bind, expire_on_commit=False, info={"settings": settings}
        )
        self._health_engine: Engine | None = None

    def ping(self) -> None:
        """SELECT 1 on a connection of its own (/healthz): never queued behind requests."""
        if self._health_engine is None:
            self._health_engine = make_engine(self.settings, capacity=1)
        with self._health_engine.connect() as connection:
            connection.exec_driver_sql("SELECT 1")

    def session(self, *, write: bool) -> Session:
        return (self._writer if write else self._reader)()

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        """A writing unit of work for CLI commands and jobs: commit or roll back."""
        session = self.session(write=True)
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise
        finally:
            session.close()

    def dispose(self) -> None:
        self.engine.dispose()
        if self._health_engine is not None:
            self._health_engine.dispose()
