"""IMAP: an asyncio client (client.py), the response syntax (parsing.py) and mailbox
names in modified UTF-7 (mutf7.py)."""

from mailplane.protocols.imap.client import ImapClient
from mailplane.protocols.imap.errors import ImapCommandError, ImapConnectionError, ImapError
from mailplane.protocols.imap.parsing import Response
from mailplane.protocols.imap.values import Folder, Literal, Selected, quote

__all__ = [
    "Folder",
    "ImapClient",
    "ImapCommandError",
    "ImapConnectionError",
    "ImapError",
    "Literal",
    "Response",
    "Selected",
    "quote",
]
