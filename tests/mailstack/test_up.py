"""`mailplane init` + `mailplane up` as an operator runs them: all components start,
`mailplane status` reports each, and SIGTERM stops every process."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.ports import free_port, wait_for_port

pytestmark = pytest.mark.mailstack

BIN = Path(sys.executable).parent / "mailplane"


@pytest.fixture
def platform_env() -> Iterator[dict[str, str]]:
    state = Path(tempfile.mkdtemp(prefix="mpu-", dir="/tmp"))
    os.chmod(state, 0o755)
    env = {
        **os.environ,
        "MAILPLANE_ENV": "development",
        "MAILPLANE_STATE_DIR": str(state),
        "MAILPLANE_API_PORT": str(free_port()),
        "MAILPLANE_ARGON2_MEMORY_KIB": "1024",
        "MAILPLANE_ARGON2_TIME_COST": "1",
        # The DNS re-check loop runs inside `up`: never let it reach the system resolver.
        "MAILPLANE_DNS_RESOLVERS": '["127.0.0.1"]',
        "MAILPLANE_DNS_PORT": "9",
    }
    env.pop("MAILPLANE_DATABASE_URL", None)
    for name in ("SMTP", "SUBMISSION", "SUBMISSIONS", "INJECT", "IMAP", "IMAPS"):
        env[f"MAILPLANE_{name}_PORT"] = str(free_port())
    yield env
    shutil.rmtree(state, ignore_errors=True)


def _children_of(pid: int) -> list[int]:
    out = subprocess.run(["ps", "-e", "-o", "pid=,ppid="], capture_output=True, text=True)
    pairs = [tuple(map(int, line.split())) for line in out.stdout.splitlines() if line.strip()]
    return [child for child, parent in pairs if parent == pid]


def test_up_status_and_clean_stop(platform_env: dict[str, str]) -> None:
    init = subprocess.run(
        [str(BIN), "init"], env=platform_env, capture_output=True, text=True, timeout=60
    )
    assert init.returncode == 0, init.stderr
    assert (Path(platform_env["MAILPLANE_STATE_DIR"]) / "tls" / "cert.pem").exists()

    log = Path(platform_env["MAILPLANE_STATE_DIR"]) / "up.log"
    with log.open("wb") as out:
        up = subprocess.Popen([str(BIN), "up"], env=platform_env, stdout=out, stderr=out)
    try:
        wait_for_port(int(platform_env["MAILPLANE_API_PORT"]), timeout=30)
        status = subprocess.run(
            [str(BIN), "status"], env=platform_env, capture_output=True, text=True, timeout=30
        )
        assert status.returncode == 0, status.stdout + log.read_text()
        for component in ("api", "dovecot", "postfix", "postfix-submission"):
            assert any(line.split()[1:2] == [component] for line in status.stdout.splitlines()), (
                status.stdout
            )
        children = _children_of(up.pid)
        assert len(children) == 2  # dovecot -F and postfix master

        up.send_signal(signal.SIGTERM)
        assert up.wait(30) == 0 or up.returncode == 128 + signal.SIGTERM
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and any(Path(f"/proc/{c}").exists() for c in children):
            time.sleep(0.05)
        assert not [c for c in children if Path(f"/proc/{c}").exists()]
        after = subprocess.run(
            [str(BIN), "status"], env=platform_env, capture_output=True, text=True, timeout=30
        )
        assert after.returncode == 1
        assert "DOWN" in after.stdout
    finally:
        if up.poll() is None:
            up.kill()
