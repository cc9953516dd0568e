"""Between claim and send: which claimed deliveries may go now, and by which route.

The worker calls ``admit`` after each claim whenever anything is configured (a limit, an
outbound route or a pause: the ``Policy`` it reloads every second), in one transaction:

1. a paused tenant's deliveries (``circuit_breaker/``) become ``paused``: not due, not
   final, until the pause is resumed;
2. each remaining delivery gets its outbound route (``outbound_routes/selection.py``);
3. the throttles (``throttling/``) count the ones that fit and put the others back,
   due again when their limit has room (``held_by`` says which limit);

and the admitted ones stay claimed by this worker and are returned. With nothing
configured this costs nothing: no transaction at all.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import cast

from sqlalchemy import Table, bindparam, case, update
from sqlalchemy.orm import Session

from mailplane.circuit_breaker import pauses
from mailplane.delivery.candidates import Candidate, Wait
from mailplane.delivery.claims import Batch
from mailplane.models.sending import Delivery
from mailplane.models.statuses import DeliveryStatus
from mailplane.outbound_routes import config as route_config
from mailplane.outbound_routes import selection
from mailplane.throttling import gcra, rules

deliveries = cast(Table, Delivery.__table__)


@dataclass(frozen=True)
class Policy:
    limits: tuple[rules.LimitRule, ...] = ()
    routes: Mapping[int, route_config.RouteConfig] = field(default_factory=dict)
    pauses: Mapping[int, pauses.PauseRule] = field(default_factory=dict)

    @property
    def active(self) -> bool:
        return bool(self.limits or self.routes or self.pauses)

    @property
    def needs_mx(self) -> bool:
        """Whether a destination limit groups domains by their MX hosts."""
        return any(limit.mx_hosts for limit in self.limits)


def load_policy(session: Session) -> Policy:
    return Policy(rules.load(session), route_config.load(session), pauses.load(session))


def candidates(batch: Batch, mx_hosts: Mapping[str, tuple[str, ...]]) -> list[Candidate]:
    found = []
    for claimed in batch.claimed:
        message = batch.messages[claimed.message_id]
        found.append(
            Candidate(
                delivery_id=claimed.id,
                tenant_id=message.tenant_id,
                recipient_domain=claimed.recipient_domain,
                message_type=message.type,
                batch_id=message.batch_id,
                attempts=claimed.attempts,
                route_id=claimed.route_id,
                mx_hosts=mx_hosts.get(claimed.recipient_domain, ()),
            )
        )
    return found


def admit(
    session: Session,
    worker_id: str,
    batch: Batch,
    policy: Policy,
    mx_hosts: Mapping[str, tuple[str, ...]],
    now: datetime,
) -> Batch:
    """The part of ``batch`` that may be sent now, each with its route."""
    found = candidates(batch, mx_hosts)
    # The pauses as they are now, not as the worker's policy saw them up to a second ago:
    # a resumed tenant's released mail must not be held again by a stale copy.
    active = pauses.load(session)
    paused: dict[int, pauses.PauseRule] = {}
    going: list[Candidate] = []
    for candidate in found:
        pause = active.get(candidate.tenant_id) if candidate.tenant_id else None
        if pause is not None and pause.applies(candidate.message_type):
            paused[candidate.delivery_id] = pause
        else:
            going.append(candidate)
    if policy.routes:
        chosen = selection.choose(session, going, policy.routes, now)
    else:
        chosen = {c.delivery_id: None for c in going}
    for candidate in going:
        candidate.route_id = chosen.get(candidate.delivery_id)
    waits = gcra.admit(session, going, policy.limits, now) if policy.limits else {}
    _put_back(session, worker_id, paused, waits, now)
    routes_now = {c.delivery_id: c.route_id for c in going if c.delivery_id not in waits}
    _record_routes(session, batch, routes_now)
    return Batch(
        [
            dataclasses.replace(c, route_id=routes_now[c.id])
            for c in batch.claimed
            if c.id in routes_now
        ],
        batch.messages,
        batch.signers,
    )


def _put_back(
    session: Session,
    worker_id: str,
    paused: Mapping[int, pauses.PauseRule],
    waits: Mapping[int, Wait],
    now: datetime,
) -> None:
    mine = (deliveries.c.id == bindparam("b_id")) & (deliveries.c.claimed_by == worker_id)
    if paused:
        session.execute(
            update(deliveries)
            .where(mine)
            .values(
                status=DeliveryStatus.PAUSED.value,
                next_attempt_at=None,
                held_by=bindparam("b_held"),
                claimed_by=None,
                updated_at=now,
            ),
            [{"b_id": i, "b_held": f"pause:{p.id}"} for i, p in paused.items()],
        )
    if waits:
        # Back to what it was before the claim: queued, or deferred after an attempt.
        session.execute(
            update(deliveries)
            .where(mine)
            .values(
                status=case(
                    (deliveries.c.attempts > 0, DeliveryStatus.DEFERRED.value),
                    else_=DeliveryStatus.QUEUED.value,
                ),
                next_attempt_at=bindparam("b_next"),
                held_by=bindparam("b_held"),
                claimed_by=None,
                updated_at=now,
            ),
            [{"b_id": i, "b_next": w.until, "b_held": w.held_by} for i, w in waits.items()],
        )


def _record_routes(session: Session, batch: Batch, routes_now: Mapping[int, int | None]) -> None:
    changed = [
        {"b_id": c.id, "b_route": routes_now[c.id]}
        for c in batch.claimed
        if c.id in routes_now and routes_now[c.id] != c.route_id
    ]
    if changed:
        session.execute(
            update(deliveries)
            .where(deliveries.c.id == bindparam("b_id"))
            .values(route_id=bindparam("b_route")),
            changed,
        )
