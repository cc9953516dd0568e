"""Where the mail plane keeps its files under the state directory, and the DB it reads.

Unix socket paths are limited to 107 bytes (``sun_path``), so every socket lives under a
short ``run/`` directory and :func:`check_socket_paths` refuses a state directory that is
too deep (pitfall P12).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.engine import make_url

from mailplane.config import Settings

SUN_PATH_MAX = 107


@dataclass(frozen=True)
class Layout:
    state: Path

    @property
    def postfix_config(self) -> Path:
        return self.state / "postfix" / "etc"

    @property
    def postfix_queue(self) -> Path:
        return self.state / "postfix" / "queue"

    @property
    def postfix_data(self) -> Path:
        return self.state / "postfix" / "data"

    @property
    def dovecot_config(self) -> Path:
        return self.state / "dovecot" / "etc"

    @property
    def dovecot_state(self) -> Path:
        return self.state / "dovecot" / "state"

    @property
    def dovecot_run(self) -> Path:
        """Dovecot's base_dir: its sockets (auth, LMTP, quota-status) live here."""
        return self.state / "run" / "dovecot"

    @property
    def intake_run(self) -> Path:
        """The submission milter's socket: root:postfix 0750, so that only Postfix (and
        root) can ask it for a submission marker."""
        return self.state / "run" / "mailplane"

    @property
    def milter_socket(self) -> Path:
        return self.intake_run / "milter"

    @property
    def bounce_policy_socket(self) -> Path:
        """The policy service that checks bounce-domain recipients (bounces/policy.py)."""
        return self.intake_run / "bounce-policy"

    @property
    def log_dir(self) -> Path:
        return self.state / "log"

    @property
    def postfix_log(self) -> Path:
        return self.log_dir / "postfix.log"

    @property
    def dovecot_log(self) -> Path:
        return self.log_dir / "dovecot.log"

    @property
    def main_cf(self) -> Path:
        return self.postfix_config / "main.cf"

    @property
    def dovecot_conf(self) -> Path:
        return self.dovecot_config / "dovecot.conf"

    @property
    def auth_socket(self) -> Path:
        return self.dovecot_run / "auth-postfix"

    @property
    def lmtp_socket(self) -> Path:
        return self.dovecot_run / "lmtp"

    @property
    def quota_status_socket(self) -> Path:
        return self.dovecot_run / "quota-status"

    def sockets(self) -> list[Path]:
        return [
            self.auth_socket,
            self.lmtp_socket,
            self.quota_status_socket,
            self.milter_socket,
            self.bounce_policy_socket,
        ]


def layout(settings: Settings) -> Layout:
    return Layout(settings.state_dir)


def check_socket_paths(paths: Layout) -> None:
    for socket in paths.sockets():
        if len(str(socket).encode()) > SUN_PATH_MAX:
            raise ValueError(
                f"socket path {socket} is longer than {SUN_PATH_MAX} bytes; "
                "use a shorter MAILPLANE_STATE_DIR"
            )


@dataclass(frozen=True)
class SqliteTarget:
    path: Path


@dataclass(frozen=True)
class PostgresTarget:
    host: str
    port: int
    user: str
    password: str | None
    dbname: str


DatabaseTarget = SqliteTarget | PostgresTarget


def database_target(url: str) -> DatabaseTarget:
    """What Postfix and Dovecot need to reach the database mailplane uses."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if not parsed.database or parsed.database == ":memory:":
            raise ValueError("the mail plane needs a SQLite file, not an in-memory database")
        return SqliteTarget(Path(parsed.database).resolve())
    if parsed.get_backend_name() == "postgresql":
        for value in (parsed.host, parsed.username, parsed.password, parsed.database):
            # Neither Postfix's nor libpq's key = value syntax is worth quoting for this.
            if value is not None and any(ch in value for ch in " '\"\\\n\r"):
                raise ValueError(
                    "database host, user, password and name must not contain "
                    "spaces, quotes or backslashes for Postfix and Dovecot"
                )
        if not parsed.database or not parsed.username:
            raise ValueError("the PostgreSQL URL needs a user and a database name")
        return PostgresTarget(
            host=parsed.host or "127.0.0.1",
            port=parsed.port or 5432,
            user=parsed.username,
            password=parsed.password,
            dbname=parsed.database,
        )
    raise ValueError(f"unsupported database for the mail plane: {parsed.get_backend_name()}")
