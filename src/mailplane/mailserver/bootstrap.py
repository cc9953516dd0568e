"""State-directory preparation for the mail plane: directories, owners, TLS, config files.

Everything Postfix and Dovecot need lives below the state directory; nothing is written
to /etc/postfix or /etc/dovecot. Owners and modes follow Debian's
``/etc/postfix/postfix-files`` and the pitfalls in ``docs/mail-plane.md``.
"""

from __future__ import annotations

import grp
import os
import pwd
import shutil
import subprocess
import time
from pathlib import Path

from mailplane.config import Settings
from mailplane.mailserver import requirements, tls
from mailplane.mailserver.dovecot_config import OAUTH2_CHECK
from mailplane.mailserver.layout import Layout, SqliteTarget, database_target, layout
from mailplane.mailserver.render import render
from mailplane.runtime import file_modes

# Queue subdirectories: (name, owner is mail_owner, group, mode), as in postfix-files.
_QUEUE_DIRS = [
    *[
        (name, "postfix", None, 0o700)
        for name in (
            "active",
            "bounce",
            "corrupt",
            "defer",
            "deferred",
            "flush",
            "hold",
            "incoming",
            "private",
            "saved",
            "trace",
        )
    ],
    ("maildrop", "postfix", "postdrop", 0o730),
    ("public", "postfix", "postdrop", 0o710),
    ("pid", "root", None, 0o755),
]


def _chown(path: Path, user: str, group: str | None = None) -> None:
    shutil.chown(path, user, group)


def _mkdir(path: Path, mode: int, user: str = "root", group: str | None = None) -> None:
    path.mkdir(parents=True, exist_ok=True)
    if os.geteuid() == 0:
        _chown(path, user, group)
    os.chmod(path, mode)


def ensure_vmail_user(name: str) -> None:
    """Dovecot refuses uid 0 for mail, so mail belongs to a system user (pitfall P4)."""
    try:
        pwd.getpwnam(name)
        return
    except KeyError:
        pass
    result = subprocess.run(
        [
            "useradd",
            "--system",
            "--user-group",
            "--home-dir",
            "/nonexistent",
            "--no-create-home",
            "--shell",
            "/usr/sbin/nologin",
            name,
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        check=False,
    )
    # Exit code 9: another process created it meanwhile, which is just as good.
    if result.returncode not in (0, 9):
        raise RuntimeError(f"useradd {name} failed: {result.stderr.strip()}")


def ensure_tls(settings: Settings) -> None:
    cert, key = settings.tls_cert_path, settings.tls_key_path
    if cert.exists() and key.exists():
        return
    if settings.tls_cert_file is not None or settings.tls_key_file is not None:
        raise RuntimeError(f"TLS certificate {cert} or key {key} does not exist")
    tls.self_signed(settings.mail_hostname, cert, key)


def prepare_sqlite_access(path: Path) -> None:
    """Postfix reads the WAL-mode database as uid postfix; WAL readers write the -shm file
    and may create -wal/-shm (pitfall P10). So the directory is root:postfix, setgid and
    group-writable, the files root:postfix 0660, and other users get nothing (see
    mailplane.runtime.file_modes). SQLite gives new -wal/-shm files the owner and mode of
    the database file; the setgid directory gives them its group."""
    _mkdir(path.parent, file_modes.DB_DIR_MODE, "root", file_modes.DB_GROUP)
    for candidate in file_modes.sqlite_files(path):
        if candidate.exists():
            _chown(candidate, "root", file_modes.DB_GROUP)
            os.chmod(candidate, file_modes.DB_FILE_MODE)


def _prepare_directories(settings: Settings, paths: Layout) -> None:
    # Postfix, vmail, dovecot and dovenull pass through the state directory; only the
    # run/ directory with its sockets and the queue are open to them beyond that.
    _mkdir(paths.state, file_modes.STATE_DIR_MODE)
    _mkdir(paths.log_dir, file_modes.PRIVATE_DIR_MODE)
    for log in (paths.postfix_log, paths.dovecot_log):
        log.touch(exist_ok=True)
        os.chmod(log, 0o640)
    _mkdir(paths.postfix_config, file_modes.PRIVATE_DIR_MODE, "root", "postfix")
    # The queue and its parents belong to root; data_directory to postfix (pitfall P5).
    _mkdir(paths.postfix_queue.parent, 0o755)
    _mkdir(paths.postfix_queue, 0o755)
    for name, owner, group, mode in _QUEUE_DIRS:
        _mkdir(paths.postfix_queue / name, mode, owner, group)
    _mkdir(paths.postfix_data, 0o700, "postfix")
    _mkdir(paths.dovecot_config, file_modes.PRIVATE_DIR_MODE, "root", "dovecot")
    _mkdir(paths.dovecot_state, 0o750)
    _mkdir(paths.dovecot_run.parent, 0o755)
    _mkdir(paths.dovecot_run, 0o755)
    # A local user who could talk to the milter could ask it to vouch for any login.
    _mkdir(paths.intake_run, 0o750, "root", "postfix")
    _mkdir(settings.mail_root, 0o770, settings.vmail_user, settings.vmail_user)


def write_config(settings: Settings, files: dict[Path, str], paths: Layout) -> None:
    for path, content in files.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(content)
        # Map and SQL files may hold the database password: readable by the daemon only.
        if path.name in ("main.cf", "master.cf"):
            mode, group = 0o644, "root"
        elif path.is_relative_to(paths.postfix_config):
            mode, group = file_modes.DAEMON_CONFIG_MODE, "postfix"
        elif path.name == OAUTH2_CHECK:
            mode, group = file_modes.PRIVATE_DIR_MODE, "dovecot"  # 0750: a program
        else:
            mode, group = file_modes.DAEMON_CONFIG_MODE, "dovecot"
        if os.geteuid() == 0:
            _chown(tmp, "root", group)
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    # Postfix sleeps in 300 ms steps while main.cf is younger than a second or two
    # (a guard against half-written files): backdate it (pitfall P7).
    past = time.time() - 60
    os.utime(paths.main_cf, (past, past))


def prepare_state(settings: Settings) -> None:
    """Create what Postfix and Dovecot need under the state directory.

    Without root or the packages, only the parts the API needs are made; ``mailplane up``
    then explains what is missing (see :mod:`mailplane.mailserver.requirements`).
    """
    settings.state_dir.mkdir(parents=True, exist_ok=True)
    if not settings.mail_enabled or not requirements.check().ok:
        return
    paths = layout(settings)
    ensure_vmail_user(settings.vmail_user)
    grp.getgrnam("postfix")  # fails clearly if the postfix package is half-installed
    ensure_tls(settings)
    _prepare_directories(settings, paths)
    target = database_target(settings.resolved_database_url)
    if isinstance(target, SqliteTarget):
        prepare_sqlite_access(target.path)
    write_config(settings, render(settings, settings.resolved_database_url), paths)
    # Whatever an earlier version or an operator left behind: the secret, the TLS key and
    # their directories get the modes the status check expects.
    file_modes.apply(settings)
