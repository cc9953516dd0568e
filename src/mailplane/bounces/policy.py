"""A Postfix policy service (Postfix SMTPD_POLICY_README) that refuses, at RCPT time on
the inbound port, bounce-domain addresses whose VERP HMAC does not verify or whose SRS
address does not reverse: the refusal reaches the sending client, and Postfix never
accepts a message it would then have to bounce itself (backscatter).

Postfix asks it only for recipients in the bounce domain (a restriction class,
``mailserver/postfix_config.py``); it runs in ``mailplane intake`` on a Unix socket that
only Postfix can open, needs no database, and answers from the request alone.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from mailplane.bounces.receiver import target_of
from mailplane.config import Settings

log = logging.getLogger(__name__)

# A request is a few hundred bytes; anything far bigger is not Postfix.
_MAX_REQUEST_LINES = 100


def decide(settings: Settings, request: dict[str, str]) -> str:
    recipient = request.get("recipient", "")
    if target_of(settings, recipient) is None:
        return "550 5.1.1 No such bounce address"
    return "DUNNO"


async def serve_connection(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, *, settings: Settings
) -> None:
    """Requests until Postfix hangs up (it keeps the connection for the next one)."""
    try:
        while True:
            request: dict[str, str] = {}
            for _ in range(_MAX_REQUEST_LINES):
                line = await reader.readline()
                if not line:
                    return
                text = line.decode("utf-8", "replace").rstrip("\r\n")
                if not text:
                    break
                name, _, value = text.partition("=")
                request[name] = value
            else:
                return
            writer.write(f"action={decide(settings, request)}\n\n".encode())
            await writer.drain()
    except (ConnectionError, asyncio.IncompleteReadError):
        return
    finally:
        writer.close()
        with contextlib.suppress(ConnectionError):
            await writer.wait_closed()
