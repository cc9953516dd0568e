"""`mailplane init` + `mailplane up` as an operator runs them: all components start,
`mailplane status` reports each, and SIGTERM stops every process."""

from __future__ import annotations

import imaplib
import json
import os
import shutil
import signal
import smtplib
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from email.message import EmailMessage
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
    for name in (
        "SMTP",
        "SUBMISSION",
        "SUBMISSIONS",
        "INJECT",
        "IMAP",
        "IMAPS",
        "INTAKE",
        "BOUNCE",
    ):
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
        # The running API and daemons keep the database and secrets private (issue 7).
        assert "warn" not in status.stdout, status.stdout
        for component in ("api", "dovecot", "postfix", "postfix-submission", "intake"):
            assert any(line.split()[1:2] == [component] for line in status.stdout.splitlines()), (
                status.stdout
            )
        children = _children_of(up.pid)
        # dovecot -F, postfix master, the API (mailplane serve), mailplane intake, one
        # delivery worker
        assert len(children) == 5
        commands = [Path(f"/proc/{c}/cmdline").read_bytes() for c in children]
        assert sum(b"\0worker" in command for command in commands) == 1
        assert sum(b"\0intake" in command for command in commands) == 1

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


def _send(port: int, sender: str, recipient: str, subject: str) -> None:
    message = EmailMessage()
    message["From"], message["To"], message["Subject"] = sender, recipient, subject
    message.set_content("sent while the API was down")
    with smtplib.SMTP("127.0.0.1", port, timeout=30) as smtp:
        smtp.send_message(message)


def _wait_closed(port: int, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
        except OSError:
            return
        time.sleep(0.02)
    raise AssertionError(f"port {port} still accepts connections")


def _api(port: int, token: str, path: str, body: dict[str, object]) -> dict[str, object]:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}{path}",
        data=json.dumps(body).encode(),
        headers={"x-service-token": token, "content-type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=30) as answer:  # noqa: S310 (loopback)
        result: dict[str, object] = json.loads(answer.read())
        return result


@contextmanager
def _platform(env: dict[str, str]) -> Iterator[tuple[subprocess.Popen[bytes], str, Path]]:
    """``mailplane init``, then ``mailplane up`` until the block ends: the process, the admin
    token init printed, and the log of up."""
    init = subprocess.run([str(BIN), "init"], env=env, capture_output=True, text=True, timeout=60)
    assert init.returncode == 0, init.stderr
    token = init.stdout.strip().splitlines()[-1]
    log = Path(env["MAILPLANE_STATE_DIR"]) / "up.log"
    with log.open("wb") as out:
        up = subprocess.Popen([str(BIN), "up"], env=env, stdout=out, stderr=out)
    try:
        wait_for_port(int(env["MAILPLANE_API_PORT"]), timeout=30)
        yield up, token, log
    finally:
        up.send_signal(signal.SIGTERM)
        try:
            # A worker finishes the sends (and a job or webhook POST) in flight before it
            # exits: on a loaded machine that can take a while.
            up.wait(90)
        except subprocess.TimeoutExpired:
            up.kill()
            up.wait()
            raise AssertionError(
                "mailplane up did not stop within 90 s of SIGTERM:\n" + log.read_text()[-3000:]
            ) from None


def _mailbox(port: int, token: str, domain: str, password: str) -> tuple[int, dict[str, object]]:
    """A tenant, its owned domain and ``info@`` there: the tenant id and the mailbox."""
    tenant = _api(port, token, "/api/v1/tenants", {"name": f"{domain}-tenant"})
    created = _api(
        port,
        token,
        "/api/v1/mail/domains",
        {"domain": domain, "customer_id": tenant["id"], "owned": True},
    )
    box = _api(
        port,
        token,
        f"/api/v1/mail/domains/{created['id']}/accounts",
        {"local_part": "info", "password": password},
    )
    return int(str(tenant["id"])), box


def test_mail_flows_while_the_api_is_down_and_the_api_comes_back(
    platform_env: dict[str, str],
) -> None:
    api_port = int(platform_env["MAILPLANE_API_PORT"])
    with _platform(platform_env) as (up, token, log):
        _mailbox(api_port, token, "down.test", "password-while-down")
        api_pid = next(
            pid
            for pid in _children_of(up.pid)
            if b"serve" in Path(f"/proc/{pid}/cmdline").read_bytes()
        )
        os.kill(api_pid, signal.SIGKILL)
        _wait_closed(api_port)

        # The API is down: mail is still accepted, delivered, and readable over IMAP.
        _send(int(platform_env["MAILPLANE_SMTP_PORT"]), "a@example.org", "info@down.test", "down")
        with imaplib.IMAP4("127.0.0.1", int(platform_env["MAILPLANE_IMAP_PORT"])) as imap:
            imap.login("info@down.test", "password-while-down")
            imap.select("INBOX")
            deadline = time.monotonic() + 15
            while time.monotonic() < deadline:
                _, found = imap.search(None, "SUBJECT", '"down"')
                if found[0]:
                    break
                time.sleep(0.1)
                imap.noop()
            assert found[0], "the message did not arrive while the API was down"

        # The supervisor restarts the API.
        wait_for_port(api_port, timeout=30)
        assert api_pid not in _children_of(up.pid)
        assert "restart" in log.read_text()

        # And the intake (with its milter), which Postfix hands outbound mail to.
        intake_port = int(platform_env["MAILPLANE_INTAKE_PORT"])
        intake_pid = next(
            pid
            for pid in _children_of(up.pid)
            if b"intake" in Path(f"/proc/{pid}/cmdline").read_bytes()
        )
        os.kill(intake_pid, signal.SIGKILL)
        _wait_closed(intake_port)
        wait_for_port(intake_port, timeout=30)
        assert intake_pid not in _children_of(up.pid)
        assert "intake exited" in log.read_text()


def test_up_purges_deleted_mailboxes_after_the_grace_period(
    platform_env: dict[str, str],
) -> None:
    env = {
        **platform_env,
        "MAILPLANE_MAILBOX_PURGE_GRACE_HOURS": "0",
        "MAILPLANE_MAILBOX_PURGE_INTERVAL_SECONDS": "0.2",
    }
    api_port = int(env["MAILPLANE_API_PORT"])
    mail_root = Path(env["MAILPLANE_STATE_DIR"]) / "mail"
    with _platform(env) as (_up, token, log):
        tenant_id, box = _mailbox(api_port, token, "purge.test", "password-to-purge")
        _send(int(env["MAILPLANE_SMTP_PORT"]), "a@example.org", "info@purge.test", "purge me")
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and not list(mail_root.glob("*/*/Maildir/new/*")):
            time.sleep(0.05)
        (home,) = {path.parents[2] for path in mail_root.glob("*/*/Maildir/new/*")}
        assert home.parent.name == str(tenant_id)

        request = urllib.request.Request(
            f"http://127.0.0.1:{api_port}/api/v1/mail/accounts/{box['id']}",
            headers={"x-service-token": token},
            method="DELETE",
        )
        with urllib.request.urlopen(request, timeout=30) as answer:  # noqa: S310 (loopback)
            assert answer.status == 204

        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and home.exists():
            time.sleep(0.05)
        assert not home.exists(), log.read_text()
