"""The intake as the mail-stack tests run it (a real ``mailplane intake`` process), and
mailplane's queue as they read it: what Postfix handed over for outside recipients."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from pydantic import SecretStr
from sqlalchemy import ColumnElement, select

from mailplane.config import Settings
from mailplane.db import Database
from mailplane.mailserver.layout import layout
from mailplane.mailserver.processes import die_with_parent
from mailplane.models import Delivery, OutboundMessage
from tests.support.ports import wait_for_port

WAIT_SECONDS = 15.0


def settings_environment(settings: Settings) -> dict[str, str]:
    """The MAILPLANE_* variables that give a child process exactly these settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MAILPLANE_")}
    for name in type(settings).model_fields:
        value: Any = getattr(settings, name)
        if value is None:
            continue
        if isinstance(value, SecretStr):
            value = value.get_secret_value()
        if isinstance(value, bool):
            text = "true" if value else "false"
        elif isinstance(value, list | dict):
            text = json.dumps(value, default=str)
        else:
            text = str(value)
        env[f"MAILPLANE_{name.upper()}"] = text
    return env


class IntakeProcess:
    """``mailplane intake`` for the stack's settings; tests stop and start it."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.log = Path(settings.state_dir) / "intake.log"
        self.process: subprocess.Popen[bytes] | None = None
        self._out: IO[bytes] | None = None

    def start(self) -> None:
        self._out = self.log.open("ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "mailplane.cli.main", "intake"],
            env=settings_environment(self.settings),
            stdin=subprocess.DEVNULL,
            stdout=self._out,
            stderr=subprocess.STDOUT,
            # Gone with pytest, even a SIGKILLed one.
            preexec_fn=die_with_parent,
        )
        host = self.settings.mail_listen_address
        wait_for_port(self.settings.intake_port, host, timeout=WAIT_SECONDS)
        wait_for_port(self.settings.bounce_port, host, timeout=WAIT_SECONDS)
        milter = layout(self.settings).milter_socket
        deadline = time.monotonic() + WAIT_SECONDS
        while True:
            with socket.socket(socket.AF_UNIX) as probe:
                try:
                    probe.connect(str(milter))
                    break
                except OSError:
                    if time.monotonic() > deadline:
                        raise
            time.sleep(0.02)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self._out is not None:
            self._out.close()
            self._out = None


@dataclass(frozen=True)
class Queued:
    """One message in mailplane's queue, with its deliveries' recipients."""

    message: OutboundMessage
    rcpt_tos: list[str]

    @property
    def mail_from(self) -> str:
        return self.message.envelope_from

    @property
    def data(self) -> bytes:
        return self.message.raw


class Outbox:
    """mailplane's queue, searched by subject (every test message has its own)."""

    def __init__(self, database: Database) -> None:
        self.database = database

    def find(self, subject: str) -> list[Queued]:
        return self._where(OutboundMessage.subject == subject)

    def with_envelope_from(self, sender: str) -> list[Queued]:
        return self._where(OutboundMessage.envelope_from == sender)

    def _where(self, condition: ColumnElement[bool]) -> list[Queued]:
        session = self.database.session(write=False)
        try:
            messages = session.scalars(
                select(OutboundMessage).where(condition).order_by(OutboundMessage.created_at)
            ).all()
            found = []
            for message in messages:
                recipients = session.scalars(
                    select(Delivery.recipient)
                    .where(Delivery.message_id == message.id)
                    .order_by(Delivery.id)
                ).all()
                session.expunge(message)
                found.append(Queued(message, list(recipients)))
            return found
        finally:
            session.close()

    def wait_for(self, subject: str, timeout: float = WAIT_SECONDS) -> list[Queued]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = self.find(subject)
            if found:
                return found
            time.sleep(0.05)
        raise AssertionError(f"mailplane's queue never received {subject!r}")
