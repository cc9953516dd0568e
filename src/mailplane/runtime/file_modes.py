"""Who may read what in the state directory: one table, applied by the mail-plane
bootstrap and checked by ``mailplane status``.

The state directory holds the platform's secrets: the signing secret, the TLS key, the
SQLite database (password hashes, DKIM private keys) and the rendered Postfix and Dovecot
files, which hold the PostgreSQL password when there is one. Only root and the daemons
that must read a file may read it; other local users may not even list the directories.

Who reads what, measured on Debian's Postfix 3.7 and Dovecot 2.3:

* Postfix's lookups (smtpd, cleanup, trivial-rewrite) run as ``postfix`` with the single
  group ``postfix``: Postfix drops supplementary groups, so a dedicated group would not
  reach it. SQLite WAL readers create and write the ``-shm``/``-wal`` files (pitfall P10),
  so the database directory is group-writable and setgid (new files get its group) and
  the files are 0660, all of group ``postfix``.
* Dovecot's auth worker, which runs the SQL lookups, is root; the auth process reads
  ``dovecot-sql.conf.ext`` before dropping to ``dovecot``.
* Postfix and Dovecot read the TLS key as root, before dropping privileges.
* The state directory itself is 0711: postfix, vmail, dovecot and dovenull must pass
  through it to their own subdirectories, but nobody may list it.
"""

from __future__ import annotations

import grp
import os
import shutil
import stat
from dataclasses import dataclass
from pathlib import Path

from mailplane.config import Settings
from mailplane.mailserver.layout import SqliteTarget, database_target

STATE_DIR_MODE = 0o711
DB_DIR_MODE = 0o2770
DB_FILE_MODE = 0o660
DB_GROUP = "postfix"
SECRET_FILE_MODE = 0o600
PRIVATE_DIR_MODE = 0o750
DAEMON_CONFIG_MODE = 0o640


@dataclass(frozen=True)
class Private:
    """A path and the most it may allow: ``mode`` (bootstrap sets exactly this) and the one
    group besides root that may be given group access."""

    path: Path
    mode: int
    group: str = "root"
    # Set by bootstrap (inside the state dir); an operator's own files are only checked.
    managed: bool = True


def sqlite_files(database: Path) -> list[Path]:
    return [database, Path(f"{database}-wal"), Path(f"{database}-shm")]


def _is_sqlite(settings: Settings) -> bool:
    return settings.database_url is None or settings.resolved_database_url.startswith("sqlite")


def _sqlite_path(settings: Settings) -> Path:
    target = database_target(settings.resolved_database_url)
    assert isinstance(target, SqliteTarget)
    return target.path


def private_paths(settings: Settings) -> list[Private]:
    state = settings.state_dir
    rules = [
        Private(state, STATE_DIR_MODE),
        Private(settings.secret_file, SECRET_FILE_MODE),
    ]
    if _is_sqlite(settings):
        # Wherever the file is, bootstrap.prepare_sqlite_access gives it these modes.
        database = _sqlite_path(settings)
        rules.append(Private(database.parent, DB_DIR_MODE, DB_GROUP, managed=False))
        rules += [Private(p, DB_FILE_MODE, DB_GROUP, managed=False) for p in sqlite_files(database)]
    key = settings.tls_key_path
    if key.is_relative_to(state):
        rules += [Private(key.parent, PRIVATE_DIR_MODE), Private(key, SECRET_FILE_MODE)]
    else:
        # An operator's key: Debian's convention for shared keys is group ssl-cert, 0640.
        rules.append(Private(key, 0o640, "ssl-cert", managed=False))
    postfix_etc, dovecot_etc = state / "postfix" / "etc", state / "dovecot" / "etc"
    rules += [
        Private(postfix_etc, PRIVATE_DIR_MODE, "postfix"),
        Private(dovecot_etc, PRIVATE_DIR_MODE, "dovecot"),
        Private(state / "log", PRIVATE_DIR_MODE),
    ]
    # Map and SQL files may hold the database password (main.cf and master.cf do not).
    for path in sorted(postfix_etc.glob("*.cf")) if postfix_etc.is_dir() else []:
        if path.name not in ("main.cf", "master.cf"):
            rules.append(Private(path, DAEMON_CONFIG_MODE, "postfix"))
    for path in sorted(dovecot_etc.glob("*.ext")) if dovecot_etc.is_dir() else []:
        rules.append(Private(path, DAEMON_CONFIG_MODE, "dovecot"))
    # The XOAUTH2 checkpassword program on PostgreSQL (mailserver/oauth2_check.py): run,
    # never written, by Dovecot's auth.
    program = dovecot_etc / "mailplane-oauth2-check"
    if program.exists():
        rules.append(Private(program, PRIVATE_DIR_MODE, "dovecot"))
    return rules


def _group_name(gid: int) -> str:
    try:
        return grp.getgrgid(gid).gr_name
    except KeyError:
        return str(gid)


def loose(rule: Private) -> str | None:
    """Why this path lets in more than its rule allows, or None."""
    try:
        info = rule.path.stat()
    except FileNotFoundError:
        return None
    mode = stat.S_IMODE(info.st_mode)
    allowed = rule.mode & 0o777
    if mode & 0o777 & ~allowed:
        return f"{rule.path} is {mode:04o}; it should be at most {allowed:04o}"
    group = _group_name(info.st_gid)
    own_group = os.getegid() == info.st_gid
    if mode & 0o060 and group not in ("root", rule.group) and not own_group:
        return f"{rule.path} gives group {group} access; only {rule.group} may have it"
    return None


def loose_modes(settings: Settings) -> list[str]:
    """What ``mailplane status`` warns about: every secret other users could reach."""
    return [reason for rule in private_paths(settings) if (reason := loose(rule)) is not None]


def apply(settings: Settings) -> None:
    """Give every managed path its owner (root), group and mode. Needs root."""
    for rule in private_paths(settings):
        if not rule.managed or not rule.path.exists():
            continue
        if os.geteuid() == 0:
            shutil.chown(rule.path, "root", rule.group if _group_exists(rule.group) else "root")
        os.chmod(rule.path, rule.mode)


def _group_exists(name: str) -> bool:
    try:
        grp.getgrnam(name)
    except KeyError:
        return False
    return True
