"""The real API (``mailplane serve`` under uvicorn) as a child process on a free port,
against the session's database: for what only a real server shows (threads, pools, locks)."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from mailplane.config import Settings
from tests.support.ports import free_port, wait_for_port


@dataclass(frozen=True)
class LiveApi:
    url: str
    process: subprocess.Popen[bytes]


@contextmanager
def live_api(settings: Settings, **overrides: str) -> Iterator[str]:
    """Yields the base URL. ``overrides`` are MAILPLANE_* settings, e.g. api_queue_seconds."""
    with live_api_process(settings, **overrides) as server:
        yield server.url


@contextmanager
def live_api_process(settings: Settings, **overrides: str) -> Iterator[LiveApi]:
    """The server and its process, for tests that kill it."""
    with api_on_port(settings, free_port(), overrides) as server:
        yield server


@contextmanager
def api_on_port(settings: Settings, port: int, overrides: dict[str, str]) -> Iterator[LiveApi]:
    """On a fixed port: the mail stack's Dovecot calls the introspection endpoint at
    settings.api_port."""
    env = {
        **os.environ,
        "MAILPLANE_ENV": "test",
        "MAILPLANE_STATE_DIR": str(settings.state_dir),
        "MAILPLANE_SECRET_KEY": settings.effective_secret(),
        "MAILPLANE_ARGON2_MEMORY_KIB": str(settings.argon2_memory_kib),
        "MAILPLANE_ARGON2_TIME_COST": str(settings.argon2_time_cost),
        **{f"MAILPLANE_{name.upper()}": value for name, value in overrides.items()},
    }
    # Only what the test says: no database or proxy trust leaking in from the environment.
    env.pop("MAILPLANE_DATABASE_URL", None)
    env.pop("FORWARDED_ALLOW_IPS", None)
    if settings.database_url:
        env["MAILPLANE_DATABASE_URL"] = settings.database_url.get_secret_value()
    with tempfile.TemporaryFile() as log:
        server = subprocess.Popen(
            [sys.executable, "-m", "mailplane.cli.main", "serve", "--port", str(port)],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=Path(__file__).resolve().parents[2],
        )
        try:
            wait_for_port(port, timeout=30)
            yield LiveApi(f"http://127.0.0.1:{port}", server)
        finally:
            server.terminate()
            try:
                server.wait(timeout=15)
            except subprocess.TimeoutExpired:  # stuck requests: uvicorn waits for them
                server.kill()
                server.wait()
            log.seek(0)
            output = log.read().decode(errors="replace")
        # A traceback in the server's log is a 500 somebody did not see: show it.
        assert "Traceback" not in output, output[-5000:]
