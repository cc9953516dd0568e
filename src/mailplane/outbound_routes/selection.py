"""Which route each delivery takes (stub: the one it had, if still enabled, else the
platform's default way out; see the routes part)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime

from sqlalchemy.orm import Session

from mailplane.delivery.candidates import Candidate
from mailplane.outbound_routes.config import RouteConfig


def choose(
    session: Session,
    candidates: Sequence[Candidate],
    routes: Mapping[int, RouteConfig],
    now: datetime,
) -> dict[int, int | None]:
    """Route id (None: the default way out) by delivery id."""
    return {c.delivery_id: c.route_id if c.route_id in routes else None for c in candidates}
