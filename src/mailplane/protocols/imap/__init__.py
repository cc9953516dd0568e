"""IMAP: an asyncio client (client.py), the response syntax (parsing.py) and mailbox
names in modified UTF-7 (mutf7.py)."""

from mailplane.protocols.imap.client import (
    Folder,
    ImapClient,
    ImapCommandError,
    ImapConnectionError,
    ImapError,
    Literal,
    Selected,
    quote,
)
from mailplane.protocols.imap.parsing import Response

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
