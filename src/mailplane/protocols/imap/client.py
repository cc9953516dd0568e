"""An asyncio IMAP4rev1 client for the webmail and the mail watchers.

Why our own: the stdlib's imaplib is blocking and refuses lines over 1 MB (a SEARCH of a
large folder broke Modoboa's webmail on exactly that); aioimaplib leaves the response
syntax to its caller. This one reads literals of any size (bounded by ``max_response``),
parses every response into values (parsing.py), speaks LITERAL+ (RFC 7888), UIDPLUS
(RFC 4315), MOVE (RFC 6851), LIST-STATUS (RFC 5819), SPECIAL-USE (RFC 6154), ESEARCH
(RFC 4731) and IDLE (RFC 2177), and classifies failures once: ImapConnectionError (the
connection is gone or timed out: transient, discard it) and ImapCommandError (the server
said NO or BAD: the connection is still good).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import re
import ssl
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from mailplane.protocols.imap.errors import ImapCommandError, ImapConnectionError, ImapError
from mailplane.protocols.imap.mutf7 import MailboxNameError, decode_mailbox
from mailplane.protocols.imap.parsing import ParseError, Response, parse_response
from mailplane.protocols.imap.values import (
    Folder,
    Literal,
    Selected,
    check_sequence_set,
    expand_uids,
    mailbox_argument,
    number,
    quote,
    status_pairs,
    thread_ints,
)

# The largest single response we accept: a message literal up to the platform's size limit
# and then some. A response beyond it is a broken or hostile server.
DEFAULT_MAX_RESPONSE = 256 * 1024 * 1024
_LITERAL_AT_END = re.compile(rb"\{(\d+)\+?\}$")
NUMERIC_FETCH_ITEMS = frozenset({"UID", "RFC822.SIZE"})
SPECIAL_USE = frozenset(
    {"\\All", "\\Archive", "\\Drafts", "\\Flagged", "\\Junk", "\\Sent", "\\Trash"}
)


class ImapClient:
    def __init__(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        *,
        timeout: float,
        max_response: int,
    ) -> None:
        self._reader = reader
        self._writer = writer
        self.timeout = timeout
        self.max_response = max_response
        self._tag = 0
        self._lock = asyncio.Lock()
        self.capabilities: frozenset[str] = frozenset()
        self.selected: Selected | None = None
        self.broken = False
        self._idle_tag: str | None = None
        # Untagged responses that arrived outside a command (during IDLE, or unsolicited).
        self._pending: list[Response] = []

    @property
    def busy(self) -> bool:
        """A command (or IDLE) is in progress."""
        return self._lock.locked()

    # Connection -----------------------------------------------------------------

    @classmethod
    async def connect(
        cls,
        host: str,
        port: int,
        *,
        tls: ssl.SSLContext | None = None,
        timeout: float = 10.0,  # noqa: ASYNC109 (per operation, not for the whole call)
        max_response: int = DEFAULT_MAX_RESPONSE,
    ) -> ImapClient:
        try:
            reader, writer = await asyncio.wait_for(
                asyncio.open_connection(host, port, ssl=tls, limit=max_response), timeout
            )
        except (OSError, TimeoutError) as exc:
            raise ImapConnectionError(f"cannot connect to {host}:{port}: {exc}") from exc
        client = cls(reader, writer, timeout=timeout, max_response=max_response)
        greeting = await client._read_response()
        if greeting.name == "BYE":
            await client.close()
            raise ImapConnectionError(f"the server refused the connection: {greeting.text}")
        if greeting.code_name == "CAPABILITY" and greeting.code:
            client.capabilities = frozenset(greeting.code.upper().split()[1:])
        else:
            await client.refresh_capabilities()
        return client

    async def close(self) -> None:
        self.broken = True
        self._writer.close()
        with contextlib.suppress(OSError, TimeoutError, ssl.SSLError):
            await asyncio.wait_for(self._writer.wait_closed(), 1.0)

    async def logout(self) -> None:
        if not self.broken:
            with contextlib.suppress(ImapError):
                await self.execute("LOGOUT")
        await self.close()

    # Wire -------------------------------------------------------------------------

    async def _read_response(self) -> Response:
        chunks: list[bytes] = []
        total = 0
        try:
            while True:
                line = await asyncio.wait_for(self._reader.readuntil(b"\r\n"), self.timeout)
                total += len(line)
                match = _LITERAL_AT_END.search(line, 0, len(line) - 2)
                if match is None:
                    chunks.append(line[:-2])
                    break
                size = int(match.group(1))
                total += size
                if total > self.max_response:
                    self.broken = True
                    raise ImapConnectionError("the server's response is too large")
                chunks.append(line)
                chunks.append(await asyncio.wait_for(self._reader.readexactly(size), self.timeout))
        except (
            OSError,
            TimeoutError,
            asyncio.IncompleteReadError,
            asyncio.LimitOverrunError,
        ) as exc:
            self.broken = True
            raise ImapConnectionError(f"the IMAP connection failed: {exc!r}") from exc
        try:
            return parse_response(b"".join(chunks))
        except ParseError as exc:
            self.broken = True
            raise ImapConnectionError(f"unparseable IMAP response: {exc}") from exc

    async def _write(self, data: bytes) -> None:
        try:
            self._writer.write(data)
            await asyncio.wait_for(self._writer.drain(), self.timeout)
        except (OSError, TimeoutError) as exc:
            self.broken = True
            raise ImapConnectionError(f"the IMAP connection failed: {exc!r}") from exc

    def _next_tag(self) -> str:
        self._tag += 1
        return f"m{self._tag}"

    async def _send(self, tag: str, name: str, args: Sequence[str | Literal]) -> None:
        line = f"{tag} {name}".encode()
        plus = "LITERAL+" in self.capabilities
        for arg in args:
            if isinstance(arg, Literal):
                marker = f" {{{len(arg.data)}{'+' if plus else ''}}}\r\n".encode()
                await self._write(line + marker)
                if not plus:
                    answer = await self._read_response()
                    if answer.tag != "+":
                        raise ImapCommandError(name, answer)
                line = arg.data
            else:
                line += b" " + arg.encode()
        await self._write(line + b"\r\n")

    async def execute(self, name: str, *args: str | Literal) -> list[Response]:
        """Sends a command; returns the untagged responses that came with it (and any that
        arrived since the last command). NO/BAD raise ImapCommandError."""
        if self.broken:
            raise ImapConnectionError("the connection is closed")
        async with self._lock:
            tag = self._next_tag()
            await self._send(tag, name, args)
            untagged, self._pending = self._pending, []
            while True:
                response = await self._read_response()
                if response.tag == tag:
                    if response.name != "OK":
                        raise ImapCommandError(name.split(" ", 1)[0], response)
                    if response.code_name == "CAPABILITY" and response.code:
                        self.capabilities = frozenset(response.code.upper().split()[1:])
                    untagged.append(response)  # the tagged OK last: its code (APPENDUID...)
                    return untagged
                if response.tag == "+":
                    # A continuation we did not ask for (AUTHENTICATE is handled itself).
                    raise ImapConnectionError(f"unexpected continuation: {response.text}")
                if response.name == "BYE":
                    self.broken = True
                    raise ImapConnectionError(f"the server closed the session: {response.text}")
                untagged.append(response)

    # Authentication -----------------------------------------------------------------

    async def refresh_capabilities(self) -> None:
        for response in await self.execute("CAPABILITY"):
            if response.name == "CAPABILITY":
                self.capabilities = frozenset(str(v).upper() for v in response.data if v)

    async def login(self, user: str, password: str) -> None:
        await self.execute("LOGIN", quote(user), quote(password))
        await self._after_login()

    async def authenticate_xoauth2(self, user: str, token: str) -> None:
        """SASL XOAUTH2 with the initial response (RFC 4959 SASL-IR, which Dovecot has)."""
        blob = f"user={user}\x01auth=Bearer {token}\x01\x01".encode()
        await self._authenticate("XOAUTH2", blob)

    async def _authenticate(self, mechanism: str, blob: bytes) -> None:
        if self.broken:
            raise ImapConnectionError("the connection is closed")
        encoded = base64.b64encode(blob).decode()
        async with self._lock:
            tag = self._next_tag()
            await self._write(f"{tag} AUTHENTICATE {mechanism} {encoded}\r\n".encode())
            while True:
                response = await self._read_response()
                if response.tag == "+":
                    # An error challenge (RFC 7628 section 3.2.2): answer with ^A, then NO.
                    await self._write(b"AQ==\r\n")
                    continue
                if response.tag == tag:
                    if response.name != "OK":
                        raise ImapCommandError("AUTHENTICATE", response)
                    if response.code_name == "CAPABILITY" and response.code:
                        self.capabilities = frozenset(response.code.upper().split()[1:])
                    break
        await self._after_login()

    async def _after_login(self) -> None:
        if "IMAP4REV1" not in self.capabilities or "IDLE" not in self.capabilities:
            await self.refresh_capabilities()

    # Mailboxes ---------------------------------------------------------------------

    async def select(self, name: str, *, readonly: bool = False) -> Selected:
        if (
            self.selected is not None
            and self.selected.name == name
            and self.selected.readonly == readonly
        ):
            # Still selected: a NOOP brings its counts up to date, cheaper than SELECT.
            return await self._refresh_selected()
        self.selected = None
        responses = await self.execute("EXAMINE" if readonly else "SELECT", mailbox_argument(name))
        exists = uidvalidity = uidnext = 0
        for response in responses:
            if response.name == "EXISTS" and response.number is not None:
                exists = response.number
            elif response.code_name == "UIDVALIDITY" and response.code:
                uidvalidity = int(response.code.split()[1])
            elif response.code_name == "UIDNEXT" and response.code:
                uidnext = int(response.code.split()[1])
        self.selected = Selected(name, exists, uidvalidity, uidnext, readonly)
        return self.selected

    async def _refresh_selected(self) -> Selected:
        assert self.selected is not None
        responses = await self.execute("NOOP")
        return self._apply_untagged(responses)

    def _apply_untagged(self, responses: Iterable[Response]) -> Selected:
        assert self.selected is not None
        current = self.selected
        exists = current.exists
        for response in responses:
            if response.name == "EXISTS" and response.number is not None:
                exists = response.number
            elif response.name == "EXPUNGE":
                exists -= 1
        if exists != current.exists:
            current = Selected(
                current.name, exists, current.uidvalidity, current.uidnext, current.readonly
            )
            self.selected = current
        return current

    async def unselect(self) -> None:
        if self.selected is None:
            return
        await self.execute("UNSELECT" if "UNSELECT" in self.capabilities else "CLOSE")
        self.selected = None

    async def status(
        self, name: str, items: Sequence[str] = ("MESSAGES", "UNSEEN", "UIDNEXT", "UIDVALIDITY")
    ) -> dict[str, int]:
        responses = await self.execute("STATUS", mailbox_argument(name), f"({' '.join(items)})")
        for response in responses:
            if response.name == "STATUS" and len(response.data) >= 2:
                return status_pairs(response.data[1])
        raise ImapError("the server sent no STATUS")

    async def list_folders(self) -> list[Folder]:
        """Every folder with its counts: one LIST-STATUS command when the server has it."""
        with_status = "LIST-STATUS" in self.capabilities
        args: list[str | Literal] = ['""', '"*"']
        if with_status:
            args.append("RETURN (SPECIAL-USE STATUS (MESSAGES UNSEEN))")
        responses = await self.execute("LIST", *args)
        statuses: dict[str, dict[str, int]] = {}
        listed: list[tuple[str, str | None, frozenset[str]]] = []
        for response in responses:
            if response.name == "LIST" and len(response.data) >= 3:
                flags, delimiter, raw = response.data[:3]
                raw_name = raw.decode() if isinstance(raw, bytes) else str(raw)
                listed.append((raw_name, delimiter, frozenset(str(f) for f in flags or [])))
            elif response.name == "STATUS" and len(response.data) >= 2:
                raw = response.data[0]
                raw_name = raw.decode() if isinstance(raw, bytes) else str(raw)
                statuses[raw_name] = status_pairs(response.data[1])
        folders = []
        for raw_name, delimiter, flags in listed:
            try:
                name = decode_mailbox(raw_name)
            except MailboxNameError:
                name = raw_name  # shown as the server spells it; still addressable
            counts = statuses.get(raw_name)
            if counts is None and not with_status:
                selectable = not {"\\noselect", "\\nonexistent"} & {f.lower() for f in flags}
                counts = await self.status(name, ("MESSAGES", "UNSEEN")) if selectable else {}
            special = next((f for f in flags if f in SPECIAL_USE), None)
            if special is None and name.upper() == "INBOX":
                special = "\\Inbox"
            folders.append(
                Folder(
                    name=name,
                    delimiter=delimiter,
                    flags=flags,
                    special_use=special,
                    messages=(counts or {}).get("MESSAGES"),
                    unseen=(counts or {}).get("UNSEEN"),
                )
            )
        return folders

    async def create(self, name: str) -> None:
        await self.execute("CREATE", mailbox_argument(name))
        await self.execute("SUBSCRIBE", mailbox_argument(name))

    async def rename(self, old: str, new: str) -> None:
        if self.selected is not None and self.selected.name == old:
            await self.unselect()
        await self.execute("RENAME", mailbox_argument(old), mailbox_argument(new))
        with contextlib.suppress(ImapCommandError):
            await self.execute("UNSUBSCRIBE", mailbox_argument(old))
        await self.execute("SUBSCRIBE", mailbox_argument(new))

    async def delete(self, name: str) -> None:
        if self.selected is not None and self.selected.name == name:
            await self.unselect()
        await self.execute("DELETE", mailbox_argument(name))
        with contextlib.suppress(ImapCommandError):
            await self.execute("UNSUBSCRIBE", mailbox_argument(name))

    # Messages ----------------------------------------------------------------------

    async def fetch(self, ids: str, items: str, *, uid: bool = True) -> list[dict[str, Any]]:
        """One dict per message in the server's order: attribute names upper case (as the
        server names them: BODY.PEEK[X] answers as BODY[X]), "SEQ" its sequence number."""
        check_sequence_set(ids)
        responses = await self.execute("UID FETCH" if uid else "FETCH", ids, items)
        messages = []
        for response in responses:
            if response.name != "FETCH" or not response.data or response.number is None:
                continue
            values = response.data[0]
            item: dict[str, Any] = {"SEQ": response.number}
            for index in range(0, len(values) - 1, 2):
                key = str(values[index]).upper()
                value = values[index + 1]
                item[key] = number(value) if key in NUMERIC_FETCH_ITEMS else value
            messages.append(item)
        if self.selected is not None:
            self._apply_untagged(responses)
        return messages

    async def search(self, *criteria: str | Literal, uid: bool = True) -> list[int]:
        """Message numbers (UIDs by default) matching; criteria as IMAP search keys, with
        strings from users passed through ``quote``. Non-ASCII goes as a UTF-8 literal."""
        args: list[str | Literal] = list(criteria) or ["ALL"]
        if any(isinstance(a, Literal) for a in args):
            args = ["CHARSET", "UTF-8", *args]
        responses = await self.execute("UID SEARCH" if uid else "SEARCH", *args)
        found: list[int] = []
        for response in responses:
            if response.name == "SEARCH":
                found.extend(number(v) for v in response.data)
        return found

    async def thread(self, algorithm: str = "REFERENCES", criteria: str = "ALL") -> list[Any]:
        """RFC 5256 THREAD by UID: nested lists of UIDs (ints), one per thread."""
        responses = await self.execute("UID THREAD", algorithm, "UTF-8", criteria)
        for response in responses:
            if response.name == "THREAD":
                return [thread_ints(node) for node in response.data]
        return []

    async def store(self, uids: str, operation: str, flags: Sequence[str]) -> None:
        if operation not in ("+FLAGS", "-FLAGS", "FLAGS"):
            raise ValueError(operation)
        await self.execute(
            "UID STORE", check_sequence_set(uids), f"{operation}.SILENT", f"({' '.join(flags)})"
        )

    async def move(self, uids: str, target: str) -> dict[int, int]:
        """The new UIDs in the target by old UID (COPYUID, RFC 4315), when the server says."""
        check_sequence_set(uids)
        if "MOVE" in self.capabilities:
            responses = await self.execute("UID MOVE", uids, mailbox_argument(target))
        else:
            responses = await self.execute("UID COPY", uids, mailbox_argument(target))
            await self.store(uids, "+FLAGS", ["\\Deleted"])
            await self.expunge_uids(uids)
        for response in responses:
            if response.code_name == "COPYUID" and response.code:
                parts = response.code.split()
                if len(parts) == 4:
                    return dict(zip(expand_uids(parts[2]), expand_uids(parts[3]), strict=False))
        return {}

    async def expunge_uids(self, uids: str) -> None:
        await self.execute("UID EXPUNGE", check_sequence_set(uids))

    async def append(
        self,
        name: str,
        message: bytes,
        flags: Sequence[str] = (),
        when: datetime | None = None,
    ) -> int | None:
        """The new message's UID (APPENDUID, RFC 4315) when the server says."""
        args: list[str | Literal] = [mailbox_argument(name)]
        if flags:
            args.append(f"({' '.join(flags)})")
        if when is not None:
            args.append('"' + when.strftime("%d-%b-%Y %H:%M:%S %z") + '"')
        args.append(Literal(message))
        responses = await self.execute("APPEND", *args)
        for response in responses:
            if response.code_name == "APPENDUID" and response.code:
                parts = response.code.split()
                if len(parts) == 3 and parts[2].isdigit():
                    return int(parts[2])
        return None

    async def noop(self) -> list[Response]:
        responses = await self.execute("NOOP")
        if self.selected is not None:
            self._apply_untagged(responses)
        return responses

    # IDLE (RFC 2177) --------------------------------------------------------------------

    async def idle_start(self) -> None:
        if self.broken:
            raise ImapConnectionError("the connection is closed")
        await self._lock.acquire()
        try:
            tag = self._next_tag()
            await self._write(f"{tag} IDLE\r\n".encode())
            while True:
                response = await self._read_response()
                if response.tag == "+":
                    break
                if response.tag == tag:
                    raise ImapCommandError("IDLE", response)
                self._pending.append(response)
            self._idle_tag = tag
        except BaseException:
            self._lock.release()
            raise

    async def idle_wait(self, seconds: float) -> list[Response]:
        """Untagged responses while idling: returns at the first one (and whatever came with
        it), or an empty list after ``seconds``."""
        if self._idle_tag is None:
            raise ImapError("not idling")
        saved, self.timeout = self.timeout, seconds
        try:
            first = await self._read_response()
        except ImapConnectionError as exc:
            if isinstance(exc.__cause__, TimeoutError):
                self.broken = False  # a quiet mailbox, not a dead connection
                return []
            raise
        finally:
            self.timeout = saved
        responses = [first]
        # Whatever else is already buffered belongs to the same change.
        # (asyncio has no public peek: its buffer is read, never consumed, here.)
        while b"\r\n" in getattr(self._reader, "_buffer", b""):
            responses.append(await self._read_response())
        if any(r.name == "BYE" for r in responses):
            self.broken = True
            raise ImapConnectionError("the server closed the session")
        return responses

    async def idle_done(self) -> list[Response]:
        tag, self._idle_tag = self._idle_tag, None
        if tag is None:
            return []
        try:
            await self._write(b"DONE\r\n")
            responses: list[Response] = []
            while True:
                response = await self._read_response()
                if response.tag == tag:
                    if response.name != "OK":
                        raise ImapCommandError("IDLE", response)
                    return responses
                responses.append(response)
        finally:
            self._lock.release()
