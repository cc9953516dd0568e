"""The client's reading of very long answers, against a scripted server on loopback: the
point is the client's line handling (the stdlib's imaplib refuses lines over 1 MB, which
broke Modoboa's webmail on large folders), so the server is a short script."""

from __future__ import annotations

import asyncio

import pytest

from mailplane.protocols.imap import ImapClient, ImapConnectionError

UIDS = 400_000  # "* SEARCH 1 2 ... 400000": about 2.7 MB on one line


async def _server(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    writer.write(b"* OK [CAPABILITY IMAP4rev1 LITERAL+ IDLE] ready\r\n")
    while line := await reader.readline():
        tag, _, command = line.decode().strip().partition(" ")
        if command.startswith("UID SEARCH"):
            numbers = " ".join(str(n) for n in range(1, UIDS + 1)).encode()
            writer.write(b"* SEARCH " + numbers + b"\r\n")
        elif command.startswith("UID FETCH"):
            body = b"x" * (3 * 1024 * 1024)
            writer.write(b"* 1 FETCH (UID 7 BODY[] {%d}\r\n%s)\r\n" % (len(body), body))
        writer.write(f"{tag} OK done\r\n".encode())
        await writer.drain()
    writer.close()


def test_multi_megabyte_lines_and_literals() -> None:
    async def scenario() -> None:
        server = await asyncio.start_server(_server, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        client = await ImapClient.connect("127.0.0.1", port, timeout=30)
        try:
            found = await client.search("ALL")
            assert len(found) == UIDS
            assert found[-1] == UIDS
            (item,) = await client.fetch("7", "(BODY.PEEK[])")
            assert len(item["BODY[]"]) == 3 * 1024 * 1024
        finally:
            await client.close()
            server.close()
            await server.wait_closed()

    asyncio.run(scenario())


def test_a_response_beyond_the_bound_breaks_the_connection_cleanly() -> None:
    async def scenario() -> None:
        server = await asyncio.start_server(_server, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        client = await ImapClient.connect("127.0.0.1", port, max_response=1024 * 1024)
        try:
            with pytest.raises(ImapConnectionError, match="too large"):
                await client.fetch("7", "(BODY.PEEK[])")
            assert client.broken
        finally:
            await client.close()
            server.close()
            await server.wait_closed()

    asyncio.run(scenario())
