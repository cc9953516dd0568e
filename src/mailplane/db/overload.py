"""Which database errors mean "too busy, try again" rather than a bug.

Classified once, here: the API's error choke point and the background loops ask
``overload_of`` and answer 503 with ``Retry-After`` (or retry the batch later) instead of
failing with a 500 or an error in the log. Anything else stays what it is: a bug.
"""

from __future__ import annotations

import psycopg
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from mailplane.errors import Overloaded

# SQLite primary result codes (https://sqlite.org/rescode.html): another connection holds
# the lock past the busy timeout.
_SQLITE_BUSY, _SQLITE_LOCKED = 5, 6

# PostgreSQL SQLSTATEs (https://www.postgresql.org/docs/current/errcodes-appendix.html)
# that say "not now" about the server or the transaction, never about the request's data.
_PG_RETRYABLE = (
    "08",  # connection exception: the server went away or refused the connection
    "53",  # insufficient resources: too many connections (53300), out of memory
    "40001",  # serialization_failure: lost a race with a concurrent transaction
    "40P01",  # deadlock_detected: the victim may retry
    "55P03",  # lock_not_available (lock_timeout)
    "57014",  # query_canceled (statement_timeout)
    "57P01",  # admin_shutdown: the server is restarting
    "57P03",  # cannot_connect_now: the server is starting up
)

RETRY_AFTER_SECONDS = 2


def overload_of(exc: BaseException) -> Overloaded | None:
    """The Overloaded error that ``exc`` stands for, or None if it is not about load."""
    if isinstance(exc, Overloaded):
        return exc
    if isinstance(exc, PoolTimeout):
        return Overloaded(
            "all database connections are busy; retry shortly", retry_after=RETRY_AFTER_SECONDS
        )
    if isinstance(exc, DBAPIError) and _retryable(exc.orig):
        return Overloaded(
            "the database is busy with other changes; retry shortly",
            retry_after=RETRY_AFTER_SECONDS,
        )
    return None


def _retryable(orig: BaseException | None) -> bool:
    sqlite_code = getattr(orig, "sqlite_errorcode", None)
    if isinstance(sqlite_code, int):
        return sqlite_code & 0xFF in (_SQLITE_BUSY, _SQLITE_LOCKED)
    if isinstance(orig, psycopg.Error):
        if orig.sqlstate is None:
            # No answer from the server at all: the connection failed or was cut.
            return isinstance(orig, psycopg.OperationalError)
        return orig.sqlstate.startswith(_PG_RETRYABLE)
    return False
