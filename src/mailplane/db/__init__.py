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

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Engine, create_engine
from sqlalchemy.orm import Session, sessionmaker

from mailplane.config import Settings
from mailplane.db import sqlite


def normalize_url(url: str) -> str:
    """Use psycopg 3 for PostgreSQL whatever spelling the operator chose."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


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
        if settings.database_url is None:
            settings.db_dir.mkdir(parents=True, exist_ok=True)
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
        self._reader = sessionmaker(bind=self.engine, expire_on_commit=False)
        self._writer = sessionmaker(bind=writer_bind, expire_on_commit=False)
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
