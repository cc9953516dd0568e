"""IMAP failures, classified once: the connection (transient: discard it and retry on a
new one) or the server's NO/BAD answer to a command (the connection is still good)."""

from __future__ import annotations

from mailplane.protocols.imap.parsing import Response


class ImapError(Exception):
    pass


class ImapConnectionError(ImapError):
    """The connection failed, timed out or was closed: retry on a new one."""


class ImapCommandError(ImapError):
    """The server answered NO or BAD; ``code`` is its response code (NONEXISTENT, ...)."""

    def __init__(self, command: str, response: Response) -> None:
        super().__init__(f"{command}: {response.name} {response.text}")
        self.status = response.name
        self.code = response.code_name
        self.text = response.text

    @property
    def missing_mailbox(self) -> bool:
        """RFC 5530 NONEXISTENT, or Dovecot 2.3's plain "Mailbox doesn't exist" text."""
        return self.code == "NONEXISTENT" or self.text.startswith("Mailbox doesn't exist")
