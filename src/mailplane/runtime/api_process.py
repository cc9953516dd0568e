"""The HTTP API as a child of ``mailplane up``.

Postfix and Dovecot never call the API (they read the database), so mail keeps flowing
while the API is down. Running it as its own process makes that literal: if it crashes or
is killed, the supervisor starts it again and the mail plane never notices.
"""

from __future__ import annotations

import logging
import subprocess
import sys
import time

from mailplane.mailserver.processes import die_with_parent

log = logging.getLogger(__name__)

# Restart delays after repeated failures: quick at first, then at most every 30 s.
BACKOFF_SECONDS = (0.5, 1.0, 2.0, 5.0, 10.0, 30.0)
# A process that ran this long counts as healthy: the next failure starts the backoff anew.
STABLE_AFTER_SECONDS = 60.0


class ApiProcess:
    """A ``mailplane`` subcommand as a supervised child: the API (``serve``) by default,
    or another long-running command such as ``intake`` or ``worker``."""

    def __init__(self, command: str = "serve", name: str = "API") -> None:
        self.command = command
        self.name = name
        self.process: subprocess.Popen[bytes] | None = None
        self.started_at = 0.0
        self.failures = 0
        self.next_start = 0.0
        self.restarts = 0

    def start(self) -> None:
        # The child reads the same MAILPLANE_* environment, so it has the same settings.
        self.process = subprocess.Popen(
            [sys.executable, "-m", "mailplane.cli.main", self.command],
            stdin=subprocess.DEVNULL,
            preexec_fn=die_with_parent,
        )
        self.started_at = time.monotonic()
        log.info("%s started (pid %s)", self.name, self.process.pid)

    def watch(self) -> None:
        """Called periodically by the supervisor: restart the API if it has exited."""
        if self.process is None:
            return
        code = self.process.poll()
        now = time.monotonic()
        if code is None:
            return
        if self.next_start == 0.0:
            if now - self.started_at >= STABLE_AFTER_SECONDS:
                self.failures = 0
            delay = BACKOFF_SECONDS[min(self.failures, len(BACKOFF_SECONDS) - 1)]
            self.failures += 1
            self.next_start = now + delay
            log.warning("%s exited with %s; restarting in %.1f s", self.name, code, delay)
        if now >= self.next_start:
            self.next_start = 0.0
            self.restarts += 1
            self.start()

    def stop(self, timeout: float = 10.0) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
