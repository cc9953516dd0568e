"""What kind of refusal a reply is: hard or soft, and why. One function for the engine's
own synchronous replies and for asynchronous bounces (DSNs), so that suppression,
statistics and webhooks see the same words for the same reply.

The enhanced status code (RFC 3463) decides where there is one; the basic code (RFC 5321
section 4.2) otherwise:

- X.1.1 bad mailbox, X.1.2 bad system, X.1.10 null MX (RFC 7505): ``invalid_address``;
  hard when permanent (5.x.x).
- X.2.2 mailbox full (4.2.2, and the 5.2.2 many servers send): ``mailbox_full``, soft.
- X.7.x security or policy (reputation blocks, DMARC, blocklists): ``policy``; hard but
  about the sender, not the address, so never suppressed by itself.
- X.6.x message content or media: ``content``.
- Anything else: ``technical``.
"""

from __future__ import annotations

import re
from typing import Protocol

_ENHANCED = re.compile(r"(?:^|\s)([245])\.(\d{1,3})\.(\d{1,3})\b")
INVALID_ADDRESS_DETAILS = frozenset({(1, 1), (1, 2), (1, 10)})


def enhanced_of(reply: str) -> str | None:
    """The first enhanced status code in a reply text, if any."""
    match = _ENHANCED.search(reply)
    return ".".join(match.groups()) if match else None


def classify(code: int | None, enhanced_code: str | None, reply: str) -> tuple[str, str]:
    """(bounce_type "hard" | "soft", classification) of a refusal."""
    enhanced = enhanced_code or enhanced_of(reply or "")
    if enhanced:
        klass, subject, detail = (int(part) for part in enhanced.split("."))
    else:
        klass = 5 if code is not None and code >= 500 else 4
        subject = detail = -1
    permanent = klass == 5
    if (subject, detail) in INVALID_ADDRESS_DETAILS:
        return ("hard" if permanent else "soft", "invalid_address")
    if (subject, detail) == (2, 2):
        return "soft", "mailbox_full"
    if subject == 7:
        return ("hard" if permanent else "soft", "policy")
    if subject == 6:
        return ("hard" if permanent else "soft", "content")
    return ("hard" if permanent else "soft", "technical")


class Reported(Protocol):
    """What a recorded outcome says about a refusal (``observers.Settled`` is one)."""

    @property
    def code(self) -> int | None: ...
    @property
    def enhanced_code(self) -> str | None: ...
    @property
    def reply(self) -> str: ...
    @property
    def bounce_type(self) -> str | None: ...
    @property
    def classification(self) -> str | None: ...


def kind_of(outcome: Reported) -> tuple[str, str]:
    """(bounce_type, classification): as a bounce report gave them, else from the reply."""
    if outcome.bounce_type and outcome.classification:
        return outcome.bounce_type, outcome.classification
    return classify(outcome.code, outcome.enhanced_code, outcome.reply)
