"""What a bounce means: hard (permanent, RFC 3463 class 5) or soft (class 4), and what
kind, from the enhanced status code first and the remote's text second (many MTAs use
5.0.0 or 5.5.0 for everything, so the words carry the meaning there)."""

from __future__ import annotations

import re
from dataclasses import dataclass

INVALID_ADDRESS = "invalid_address"
MAILBOX_FULL = "mailbox_full"
POLICY = "policy"
CONTENT = "content"
TECHNICAL = "technical"

# Phrases typical MTAs put in their replies; checked when the code says nothing precise.
_TEXT_RULES: tuple[tuple[str, re.Pattern[str]], ...] = (
    (
        MAILBOX_FULL,
        re.compile(r"mailbox (is )?full|over ?quota|quota exceeded|insufficient storage", re.I),
    ),
    (
        INVALID_ADDRESS,
        re.compile(
            r"user unknown|unknown user|no such (user|mailbox|recipient)|does not exist|"
            r"doesn't exist|recipient (address )?rejected|mailbox unavailable|"
            r"address (not found|rejected)|invalid (recipient|mailbox|address)|"
            r"couldn't be found|unrouteable address|not our customer|no mailbox",
            re.I,
        ),
    ),
    (
        CONTENT,
        re.compile(
            r"content|virus|malware|attachment|\bspam (message|detected)|"
            r"(considered|classified|identified|detected) as spam|looks like spam",
            re.I,
        ),
    ),
    (
        POLICY,
        re.compile(
            r"blocked|blacklist|blocklist|denylist|reputation|spf|dmarc|dkim|"
            r"not (authorized|permitted)|access denied|rate limit|too many",
            re.I,
        ),
    ),
)

_ENHANCED = re.compile(r"\b([245])\.(\d{1,3})\.(\d{1,3})\b")


@dataclass(frozen=True)
class Classification:
    bounce_type: str  # "hard" or "soft"
    kind: str


def enhanced_code(text: str) -> str | None:
    """The first RFC 3463 code in a status field or a reply (``5.1.1``)."""
    match = _ENHANCED.search(text)
    return match.group(0) if match else None


def classify(status: str | None, diagnostic: str) -> Classification:
    """``status`` is the DSN's Status field (or a code found in the text); without one a
    bounce counts as hard: it came back, so the message did not arrive."""
    code = enhanced_code(status or "") or enhanced_code(diagnostic)
    soft = code is not None and code.startswith("4")
    bounce_type = "soft" if soft else "hard"
    subject, detail = (code.split(".")[1], code.split(".")[2]) if code else ("0", "0")
    by_text = next((kind for kind, rule in _TEXT_RULES if rule.search(diagnostic)), None)
    if (subject == "2" and detail == "2") or (code and code.startswith("5.2.")):
        kind = MAILBOX_FULL
    elif subject == "1" and code and code.startswith("5."):
        kind = INVALID_ADDRESS
    elif subject == "6":
        kind = CONTENT
    elif subject == "7":
        # 5.7.1 covers both "your IP is blocked" and "this looks like spam".
        kind = CONTENT if by_text == CONTENT else POLICY
    elif by_text is not None and not soft:
        kind = by_text
    elif by_text == MAILBOX_FULL:
        kind = MAILBOX_FULL
    else:
        kind = TECHNICAL
    if kind == MAILBOX_FULL:
        # A full mailbox empties again: soft whatever the class (many servers send 5.2.2),
        # as the engine's own classification says (delivery/classification.py); repeated
        # ones suppress through the soft-bounce limit.
        bounce_type = "soft"
    return Classification(bounce_type, kind)
