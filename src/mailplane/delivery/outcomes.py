"""What happened to one delivery attempt, classified once where it enters (STYLE habit 3),
and what the delivery becomes because of it.

- 2xx after DATA: delivered.
- 4xx, timeouts, refused or dropped connections, 421 at any point, DNS timeouts: deferred,
  retried with exponential backoff and jitter (or after the "retry in N seconds" the
  server named), until ``delivery_max_age_hours`` after the message was accepted: failed.
- 5xx at RCPT or at DATA: bounced at once.
- No route (NXDOMAIN, null MX) or a sender that may not send: failed at once.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from mailplane.config import Settings
from mailplane.models.statuses import DeliveryStatus


class Kind(StrEnum):
    DELIVERED = "delivered"
    DEFERRED = "deferred"
    BOUNCED = "bounced"
    FAILED = "failed"


_ENHANCED = re.compile(r"^(?:\d{3}[ -])?([245]\.\d{1,3}\.\d{1,3})\b")
# "retry in 30 seconds", "try again in 5 minutes", "try again later in 2 hours".
_HINT = re.compile(
    r"(?:retry|try\s+again)\D{0,20}?(\d{1,6})\s*(s|sec|secs|seconds?|m|min|mins|minutes?|h|hours?)\b",
    re.IGNORECASE,
)
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600}


@dataclass(frozen=True)
class Attempt:
    """One try of one delivery, as it will be stored (a DeliveryAttempt row)."""

    delivery_id: int
    kind: Kind
    code: int | None
    reply: str
    started_at: datetime
    duration_ms: int
    remote_host: str | None = None
    remote_ip: str | None = None

    @property
    def enhanced_code(self) -> str | None:
        match = _ENHANCED.match(self.reply)
        return match.group(1) if match else None


def kind_of_reply(code: int) -> Kind:
    """An SMTP reply code after DATA (or a refusal at MAIL/RCPT/DATA)."""
    if 200 <= code < 300:
        return Kind.DELIVERED
    if code >= 500:
        return Kind.BOUNCED
    return Kind.DEFERRED  # 4xx, and anything a server should not have said


def retry_hint_seconds(reply: str) -> float | None:
    match = _HINT.search(reply)
    if match is None:
        return None
    return float(match.group(1)) * _UNIT_SECONDS[match.group(2)[0].lower()]


@dataclass(frozen=True)
class Resolution:
    """What the delivery row becomes."""

    status: DeliveryStatus
    next_attempt_at: datetime | None
    finished_at: datetime | None
    # A deferral past the maximum age: stored with give_up_reply().
    expired: bool = False


def backoff_seconds(settings: Settings, attempts: int, rng: random.Random) -> float:
    """Exponential from the base up to the cap, with "equal jitter" (half fixed, half
    random) so that deliveries deferred together do not come back together."""
    ceiling = min(
        settings.delivery_retry_max_seconds,
        settings.delivery_retry_base_seconds * 2 ** max(attempts - 1, 0),
    )
    return float(ceiling / 2 + rng.uniform(0, ceiling / 2))


def resolve(
    settings: Settings,
    attempt: Attempt,
    *,
    attempts_before: int,
    created_at: datetime,
    now: datetime,
    rng: random.Random,
) -> Resolution:
    if attempt.kind == Kind.DELIVERED:
        return Resolution(DeliveryStatus.DELIVERED, None, now)
    if attempt.kind == Kind.BOUNCED:
        return Resolution(DeliveryStatus.BOUNCED, None, now)
    if attempt.kind == Kind.FAILED:
        return Resolution(DeliveryStatus.FAILED, None, now)
    give_up_at = created_at + timedelta(hours=settings.delivery_max_age_hours)
    hint = retry_hint_seconds(attempt.reply)
    delay = (
        min(hint, settings.delivery_retry_max_seconds)
        if hint is not None
        else backoff_seconds(settings, attempts_before + 1, rng)
    )
    if now >= give_up_at:
        return Resolution(DeliveryStatus.FAILED, None, now, expired=True)
    # One last try at the deadline rather than none after a long backoff.
    retry_at = min(now + timedelta(seconds=delay), give_up_at)
    return Resolution(DeliveryStatus.DEFERRED, retry_at, None)


def give_up_reply(settings: Settings, last_reply: str) -> str:
    """The reply stored when a deferred delivery runs out of time."""
    return (
        f"4.4.7 message expired after {settings.delivery_max_age_hours:g} hours "
        f"without delivery; last reply: {last_reply}"
    )
