"""A DNS record as mailplane publishes and checks it: one value, presentation-ready."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any


@dataclass(frozen=True)
class DnsRecord:
    type: str
    name: str  # fully qualified, no trailing dot
    value: str
    purpose: str
    required: bool = True
    priority: int | None = None
    ttl: int = 3600

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)
