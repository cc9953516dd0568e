"""``mailplane up`` started by an ordinary user: it says why the mail plane cannot run and
serves the API alone (issue 3). Run for real as ``nobody`` through ``runuser``."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sysconfig
import tempfile
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.nobody import interpreter_for_nobody, require_root
from tests.support.ports import free_port, wait_for_port

SRC = Path(__file__).resolve().parents[2] / "src"


@pytest.fixture
def nobody_state() -> Iterator[Path]:
    require_root()
    root = Path(tempfile.mkdtemp(prefix="mp-nobody-"))
    os.chmod(root, 0o755)
    shutil.chown(root, "nobody")
    yield root
    shutil.rmtree(root, ignore_errors=True)


def test_up_as_ordinary_user_explains_and_runs_the_api_alone(nobody_state: Path) -> None:
    python = interpreter_for_nobody()
    port = free_port()
    env = {
        "PATH": "/usr/sbin:/usr/bin:/sbin:/bin",
        "HOME": str(nobody_state),
        "PYTHONPATH": f"{SRC}:{sysconfig.get_paths()['purelib']}",
        "MAILPLANE_STATE_DIR": str(nobody_state / "state"),
        "MAILPLANE_API_PORT": str(port),
        "MAILPLANE_ARGON2_MEMORY_KIB": "1024",
        "MAILPLANE_ARGON2_TIME_COST": "1",
        "MAILPLANE_DNS_RESOLVERS": '["127.0.0.1"]',
        "MAILPLANE_DNS_PORT": "9",
    }
    command = [*python, "-c", "from mailplane.cli.main import app; app()", "up"]
    process = subprocess.Popen(
        ["runuser", "-u", "nobody", "--", "env", *[f"{k}={v}" for k, v in env.items()], *command],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        wait_for_port(port, timeout=30)
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5) as answer:
            assert json.loads(answer.read())["status"] == "ok"
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        output, _ = process.communicate(timeout=30)
    assert "mail plane not started" in output
    assert "run `mailplane up` as root" in output
    assert "Running the API alone" in output
    # The mail plane really did not start: Postfix never wrote its pid file.
    assert not list((nobody_state / "state").rglob("master.pid"))
