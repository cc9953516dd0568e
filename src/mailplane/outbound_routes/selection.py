"""Which outbound route each delivery takes, by the routes' warm-up plans.

- A delivery that has a route still enabled keeps it: a retry stays where it was deferred
  (a receiver that greylisted or throttled one address expects the same one back), and a
  delivery claimed again after a crash is not counted twice.
- Otherwise each warming route owns a slice of [0, 1) as wide as its ramp share; a
  delivery goes there when its point ``u`` falls in the slice, the plan allows its message
  type now, and the route's daily cap has room. ``u`` is a Weyl sequence of the delivery
  id (the fractional part of id times the golden ratio): consecutive ids spread evenly over
  [0, 1), so 15 % of 2,000 deliveries is 15 % within a few deliveries, not binomial
  noise, and the choice is the same on every worker.
- A retry never moves onto a warming route unless that route ``accepts_retries``: a
  deferral is often the receiver's doubt about the sender, the worst moment to meet it
  from an address it does not know yet.
- Everything else (not chosen, a type the plan does not allow yet, over the cap) goes to
  the established routes, spread evenly by delivery id; with none, to the platform's
  default way out (None: ``relay_host`` or direct MX from the machine's own address).

Each route's deliveries are counted per UTC day (``RouteDayCount``) with an upsert in the
admission transaction: the row lock (PostgreSQL) or the write lock (SQLite) makes the cap
hold across workers.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime

from sqlalchemy import update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from mailplane.delivery.candidates import Candidate
from mailplane.models import RouteDayCount
from mailplane.outbound_routes import plans
from mailplane.outbound_routes.config import RouteConfig

# 2**64 / golden ratio, odd: id * this mod 2**64 is frac(id * 0.618...) in exact integers.
_WEYL = 0x9E3779B97F4A7C15
_MASK = 2**64 - 1
_SCALE = 1.0 / 2**64


def point(delivery_id: int) -> float:
    """Where a delivery falls in [0, 1): evenly spread for consecutive ids."""
    return ((delivery_id * _WEYL) & _MASK) * _SCALE


def day_key(now: datetime) -> str:
    return now.date().isoformat()


def add_count(session: Session, route_id: int, day: str, count: int) -> int:
    """Add ``count`` to the route's day; the new total (atomic across workers)."""
    module = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    statement = module.insert(RouteDayCount).values(route_id=route_id, day=day, count=count)
    statement = statement.on_conflict_do_update(
        index_elements=[RouteDayCount.route_id, RouteDayCount.day],
        set_={"count": RouteDayCount.count + statement.excluded.count},
    ).returning(RouteDayCount.count)
    return int(session.execute(statement).scalar_one())


def _take(session: Session, route_id: int, day: str, wanted: int, cap: int | None) -> int:
    """How many of ``wanted`` the route may take today; those are counted."""
    total = add_count(session, route_id, day, wanted)
    if cap is None or total <= cap:
        return wanted
    taken = max(0, min(wanted, cap - (total - wanted)))
    session.execute(
        update(RouteDayCount)
        .where(RouteDayCount.route_id == route_id, RouteDayCount.day == day)
        .values(count=RouteDayCount.count - (wanted - taken))
    )
    return taken


def choose(
    session: Session,
    candidates: Sequence[Candidate],
    routes: Mapping[int, RouteConfig],
    now: datetime,
) -> dict[int, int | None]:
    """Route id (None: the default way out) by delivery id."""
    states = {
        route_id: plans.state_of(route.plan, route.plan_started_at, now)
        for route_id, route in routes.items()
    }
    established = sorted(r for r, s in states.items() if s.established)
    # (route, start of its slice, end of its slice), in id order.
    slices: list[tuple[int, float, float]] = []
    start = 0.0
    for route_id in sorted(r for r, s in states.items() if not s.established):
        end = min(1.0, start + states[route_id].percent / 100.0)
        if end > start:
            slices.append((route_id, start, end))
        start = end

    def fallback(candidate: Candidate) -> int | None:
        if not established:
            return None
        return established[candidate.delivery_id % len(established)]

    chosen: dict[int, int | None] = {}
    wanted: dict[int, list[Candidate]] = {}  # by warming route
    counts: dict[int, int] = {}  # by established route
    for candidate in candidates:
        if candidate.route_id is not None and candidate.route_id in routes:
            chosen[candidate.delivery_id] = candidate.route_id
            continue
        pick = None
        if slices:
            u = point(candidate.delivery_id)
            for route_id, low, high in slices:
                if low <= u < high:
                    if candidate.message_type in states[route_id].types and (
                        candidate.attempts == 0 or routes[route_id].accepts_retries
                    ):
                        pick = route_id
                    break
        if pick is not None:
            wanted.setdefault(pick, []).append(candidate)
            continue
        target = chosen[candidate.delivery_id] = fallback(candidate)
        if target is not None:
            counts[target] = counts.get(target, 0) + 1

    # Locks in one order on every worker (warming routes, then established ones, each by
    # id), so that two admissions never wait for each other in a circle.
    day = day_key(now)
    for route_id in sorted(wanted):
        group = wanted[route_id]
        taken = _take(session, route_id, day, len(group), states[route_id].cap)
        for candidate in group[:taken]:
            chosen[candidate.delivery_id] = route_id
        # Over the cap: the rest overflow to the established routes.
        for candidate in group[taken:]:
            target = chosen[candidate.delivery_id] = fallback(candidate)
            if target is not None:
                counts[target] = counts.get(target, 0) + 1
    for route_id in sorted(counts):
        add_count(session, route_id, day, counts[route_id])
    return chosen
