"""Process control: Dovecot, then Postfix, as child processes; health checks by greeting.

Start order matters: Postfix's submission smtpd exits ("no SASL authentication
mechanisms") if Dovecot's auth socket is not there yet (pitfall P11), so Dovecot starts
first and Postfix only after Dovecot's IMAP greeting, which implies auth is ready.

Both run in the foreground in their own session: ``dovecot -F`` and Postfix's
``master -d`` (``postfix start-fg`` would leave master behind on SIGTERM, P9, and master
needs its own process group to signal its children). Output goes to log files, never to
a pipe nobody reads (P1).
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import shutil
import signal
import socket
import ssl
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from mailplane.config import Settings
from mailplane.mailserver.layout import Layout, layout
from mailplane.mailserver.requirements import DOVECOT, POSTFIX_MASTER

_PR_SET_PDEATHSIG = 1


def die_with_parent() -> None:  # pragma: no cover (runs in the child before exec)
    """Linux: the child gets SIGKILL if its parent dies, even by SIGKILL."""
    with contextlib.suppress(OSError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)


@dataclass(frozen=True)
class Health:
    name: str
    ok: bool
    detail: str


def read_greeting(host: str, port: int, *, timeout: float = 2.0, use_tls: bool = False) -> bytes:
    """The first line a server sends: '220 ...' (SMTP) or '* OK ...' (IMAP)."""
    with socket.create_connection((host, port), timeout=timeout) as raw:
        if use_tls:
            context = ssl.create_default_context()
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
            with context.wrap_socket(raw) as wrapped:
                return wrapped.recv(512)
        return raw.recv(512)


def _wait_for_greeting(host: str, port: int, prefix: bytes, deadline: float) -> None:
    last: Exception | None = None
    while time.monotonic() < deadline:
        try:
            if read_greeting(host, port, timeout=1.0).startswith(prefix):
                return
        except OSError as exc:
            last = exc
        time.sleep(0.02)
    raise TimeoutError(f"no {prefix!r} greeting on {host}:{port}: {last}")


def probe(settings: Settings) -> list[Health]:
    """Health of every listener, by greeting: usable from any process (mailplane status)."""
    host = settings.mail_listen_address
    checks = [
        ("dovecot", settings.imap_port, b"* OK", False),
        ("dovecot-imaps", settings.imaps_port, b"* OK", True),
        ("postfix", settings.smtp_port, b"220", False),
        ("postfix-submission", settings.submission_port, b"220", False),
        ("postfix-submissions", settings.submissions_port, b"220", True),
    ]
    results = []
    for name, port, prefix, use_tls in checks:
        try:
            line = read_greeting(host, port, use_tls=use_tls)
            ok = line.startswith(prefix)
            detail = f"{host}:{port} {line.decode(errors='replace').strip()[:60]}"
        except OSError as exc:
            ok, detail = False, f"{host}:{port} unreachable: {exc}"
        results.append(Health(name, ok, detail))
    return results


class MailServers:
    """Dovecot and Postfix of one state directory, started and stopped together."""

    def __init__(self, settings: Settings, *, die_with_parent: bool = True) -> None:
        self.settings = settings
        self.paths: Layout = layout(settings)
        self.die_with_parent = die_with_parent
        self.dovecot: subprocess.Popen[bytes] | None = None
        self.postfix: subprocess.Popen[bytes] | None = None
        self._logs: list[IO[bytes]] = []

    def _spawn(self, args: list[str], log: Path) -> subprocess.Popen[bytes]:
        handle = log.open("ab")
        self._logs.append(handle)
        return subprocess.Popen(
            args,
            stdin=subprocess.DEVNULL,
            stdout=handle,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=die_with_parent if self.die_with_parent else None,
        )

    def _clear_dovecot_run(self) -> None:
        # A stale anvil-auth-penalty socket from a previous run stalls auth for 5 s at
        # every start (pitfall P3); nothing else in base_dir survives a restart either.
        run = self.paths.dovecot_run
        if run.exists():
            for entry in run.iterdir():
                if entry.is_dir() and not entry.is_symlink():
                    shutil.rmtree(entry, ignore_errors=True)
                else:
                    entry.unlink(missing_ok=True)

    def start(self, timeout: float = 20.0) -> None:
        host = self.settings.mail_listen_address
        deadline = time.monotonic() + timeout
        self._clear_dovecot_run()
        self.dovecot = self._spawn(
            [str(DOVECOT), "-F", "-c", str(self.paths.dovecot_conf)], self.paths.dovecot_log
        )
        try:
            _wait_for_greeting(host, self.settings.imap_port, b"* OK", deadline)
            self._check_alive()
            self.postfix = self._spawn(
                [str(POSTFIX_MASTER), "-d", "-c", str(self.paths.postfix_config)],
                self.paths.postfix_log,
            )
            _wait_for_greeting(host, self.settings.smtp_port, b"220", deadline)
            self._check_alive()
        except BaseException:
            self.kill()
            raise

    def _check_alive(self) -> None:
        for name, process in (("dovecot", self.dovecot), ("postfix", self.postfix)):
            if process is not None and process.poll() is not None:
                log = self.paths.dovecot_log if name == "dovecot" else self.paths.postfix_log
                raise RuntimeError(f"{name} exited with {process.returncode}; see {log}")

    def reload(self) -> None:
        """Re-read configuration files. Map contents are live and need no reload."""
        for process in (self.dovecot, self.postfix):
            if process is not None and process.poll() is None:
                os.kill(process.pid, signal.SIGHUP)

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM (Postfix first: it stops taking mail, then Dovecot), SIGKILL if slow."""
        for process in (self.postfix, self.dovecot):
            if process is not None and process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in (self.postfix, self.dovecot):
            if process is None:
                continue
            try:
                process.wait(timeout)
            except subprocess.TimeoutExpired:
                self._killpg(process)
        self._close_logs()

    def kill(self) -> None:
        """Immediate teardown of both process groups (tests, failed starts)."""
        for process in (self.postfix, self.dovecot):
            if process is not None:
                self._killpg(process)
        self._close_logs()

    @staticmethod
    def _killpg(process: subprocess.Popen[bytes]) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(5)

    def _close_logs(self) -> None:
        for handle in self._logs:
            handle.close()
        self._logs.clear()

    def running(self) -> bool:
        return all(p is not None and p.poll() is None for p in (self.dovecot, self.postfix))
