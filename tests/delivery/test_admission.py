"""Admission between claim and send (delivery/admission.py): a paused tenant's bulk mail
waits in the queue as ``paused`` while its transactional mail and other tenants' mail
leave; nothing configured costs nothing."""

from __future__ import annotations

import time

from mailplane.db import Database
from mailplane.models import SendingPause
from mailplane.models.statuses import MessageType
from tests.delivery.conftest import MX1, EngineSettings
from tests.delivery.support import deliveries, mx_zone, queue, wait_until_final, worker_running
from tests.support.api import Api
from tests.support.knot import Knot
from tests.support.mx import RemoteMx


def test_a_paused_tenants_bulk_mail_waits_and_its_transactional_mail_leaves(
    engine_settings: EngineSettings,
    database: Database,
    knot: Knot,
    mx1: RemoteMx,
    api: Api,
    uid: str,
) -> None:
    zone = f"adm-{uid}.test"
    mx_zone(knot, zone, [(10, "mx1")], {"mx1": MX1})
    paused_tenant, other_tenant = api.tenant()["id"], api.tenant()["id"]
    with database.transaction() as session:
        session.add(
            SendingPause(
                tenant_id=paused_tenant, scope="bulk", trigger="operator", created_by="test"
            )
        )
    bulk = queue(database, [f"ok-b{uid}@{zone}"], tenant_id=paused_tenant, type=MessageType.BULK)
    transactional = queue(database, [f"ok-t{uid}@{zone}"], tenant_id=paused_tenant)
    others = queue(database, [f"ok-o{uid}@{zone}"], tenant_id=other_tenant, type=MessageType.BULK)
    with worker_running(engine_settings()):
        wait_until_final(database, transactional + others)
        time.sleep(0.5)
        [held] = deliveries(database, bulk)
    assert held.status == "paused"
    assert held.next_attempt_at is None
    assert held.claimed_by is None
    assert held.held_by is not None
    assert held.held_by.startswith("pause:")
    assert held.attempts == 0
    received = {m.recipient for m in mx1.messages}
    assert f"ok-t{uid}@{zone}" in received
    assert f"ok-o{uid}@{zone}" in received
    assert f"ok-b{uid}@{zone}" not in received
