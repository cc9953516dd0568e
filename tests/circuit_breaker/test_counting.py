"""What the breaker counts (circuit_breaker/counters.py), as the sending-state route shows
it: a DSN after "delivered" turns the delivery into a hard bounce without counting it
twice; policy refusals are not the list's fault; a batch is counted on its own too."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from mailplane.bounces.receiver import receive
from mailplane.db import Database
from mailplane.delivery.envelope import verp_address
from mailplane.models import ReputationCount
from mailplane.models.statuses import MessageType
from tests.bounces import samples
from tests.delivery.conftest import MX1, EngineSettings
from tests.delivery.support import deliver, mx_zone, queue
from tests.support.api import Api
from tests.support.knot import Knot
from tests.support.mx import RemoteMx


def _window(api: Api, tenant_id: int) -> tuple[int, int]:
    state: dict[str, Any] = api.ok("GET", f"/api/v1/tenants/{tenant_id}/sending")
    return state["hard_bounces"]["sample"], state["hard_bounces"]["count"]


def test_a_dsn_after_delivered_is_one_delivery_and_one_hard_bounce(
    engine_settings: EngineSettings,
    database: Database,
    knot: Knot,
    mx1: RemoteMx,
    api: Api,
    uid: str,
) -> None:
    zone = f"cnt-{uid}.test"
    mx_zone(knot, zone, [(10, "mx1")], {"mx1": MX1})
    tenant = api.tenant()["id"]
    settings = engine_settings()
    recipients = [f"ok-gone{uid}@{zone}", f"ok-blocked{uid}@{zone}", f"perm-x{uid}@{zone}"]
    gone, blocked, refused = queue(
        database, recipients, tenant_id=tenant, type=MessageType.BULK, batch_id=f"b-{uid}"
    )
    rows = deliver(settings, database, [gone, blocked, refused])
    assert [r.status for r in rows] == ["delivered", "delivered", "bounced"]
    assert _window(api, tenant) == (3, 1)

    verp = verp_address(settings, gone)
    dsn = samples.render(samples.POSTFIX_UNKNOWN, rcpt=recipients[0], sender=verp)
    assert receive(settings, database, dsn, [verp]) == "bounced"
    assert _window(api, tenant) == (3, 2)
    # The same report again changes nothing.
    assert receive(settings, database, dsn, [verp]) == "ignored"
    assert _window(api, tenant) == (3, 2)
    # A reputation block (5.7.x) says something about the sender, not about the list.
    verp = verp_address(settings, blocked)
    policy = samples.render(samples.GMAIL_POLICY, rcpt=recipients[1], sender=verp)
    assert receive(settings, database, policy, [verp]) == "bounced"
    assert _window(api, tenant) == (3, 2)

    with database.session(write=False) as session:
        batch = session.execute(
            select(ReputationCount.deliveries, ReputationCount.hard_bounces).where(
                ReputationCount.scope == f"batch:{tenant}:b-{uid}"
            )
        ).all()
    # Summed: the test may cross a minute.
    assert (sum(r[0] for r in batch), sum(r[1] for r in batch)) == (3, 2)
