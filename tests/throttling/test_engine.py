"""Throttles enforced by the delivery engine, seen from the remote MX: a limited flow
never goes faster than its budget (plus its burst) in any window, even with two workers
claiming at once; the other flows are not slowed; nothing is lost."""

from __future__ import annotations

import time

from mailplane.db import Database
from tests.delivery.conftest import MX1, EngineSettings
from tests.delivery.support import deliveries, mx_zone, wait_until_final
from tests.support.api import Api
from tests.support.knot import Knot
from tests.support.mx import RemoteMx
from tests.throttling.flows import most_in_any_window, queue_each, received_at, workers_running

RATE_PER_MINUTE = 600  # 10 a second
BURST = 3
WINDOW = 2.0
# Receive times jitter by a delivery's SMTP exchange around the instant it was admitted.
SLACK = 2


def _within_budget(times: list[float], count: int) -> None:
    assert len(times) == count
    per_second = RATE_PER_MINUTE / 60
    assert most_in_any_window(times, WINDOW) <= BURST + per_second * WINDOW + SLACK
    # Over the whole flow: no faster than the rate after the burst.
    assert times[-1] - times[0] >= (count - BURST) / per_second * 0.85


def _all_delivered(database: Database, ids: list[int]) -> None:
    rows = wait_until_final(database, ids, timeout=60)
    assert {r.status for r in rows} == {"delivered"}


def test_a_destination_limit_holds_across_two_workers_and_other_mail_flows(
    engine_settings: EngineSettings, database: Database, knot: Knot, mx1: RemoteMx,
    api: Api, uid: str,
) -> None:  # fmt: skip
    limited, other = f"lim-{uid}.test", f"free-{uid}.test"
    for zone in (limited, other):
        mx_zone(knot, zone, [(10, "mx1")], {"mx1": MX1})
    limit = api.ok(
        "POST", "/api/v1/throttles", 201,
        json={"scope": "destination", "domains": [limited], "rate": RATE_PER_MINUTE,
              "per": "minute", "burst": BURST},
    )  # fmt: skip
    slow = [f"ok-{i}-{uid}@{limited}" for i in range(50)]
    fast = [f"ok-{i}-{uid}@{other}" for i in range(50)]
    ids = queue_each(database, slow) + queue_each(database, fast)
    with workers_running(engine_settings()):
        _all_delivered(database, ids)
    slow_times, fast_times = received_at(mx1, slow), received_at(mx1, fast)
    _within_budget(slow_times, 50)
    assert len(fast_times) == 50
    # The other domain is not held behind the limited one.
    assert fast_times[-1] - fast_times[0] < (slow_times[-1] - slow_times[0]) / 2
    usage = api.ok("GET", f"/api/v1/throttles/{limit['id']}")["usage"]
    # A sliding estimate: when the run crossed a minute boundary, the part before it is
    # weighted by how much of it is still inside the last minute.
    assert 45 <= usage["used"] <= 50
    assert usage["remaining"] == RATE_PER_MINUTE - usage["used"]
    assert usage["waiting"] == 0


def test_a_tenant_limit_holds_while_another_tenants_mail_flows(
    engine_settings: EngineSettings, database: Database, knot: Knot, mx1: RemoteMx,
    api: Api, uid: str,
) -> None:  # fmt: skip
    zone = f"ten-{uid}.test"
    mx_zone(knot, zone, [(10, "mx1")], {"mx1": MX1})
    limited, other = api.tenant()["id"], api.tenant()["id"]
    api.ok(
        "POST", "/api/v1/throttles", 201,
        json={"scope": "tenant", "tenant_id": limited, "rate": RATE_PER_MINUTE,
              "per": "minute", "burst": BURST},
    )  # fmt: skip
    slow = [f"ok-a{i}-{uid}@{zone}" for i in range(40)]
    fast = [f"ok-b{i}-{uid}@{zone}" for i in range(40)]
    ids = queue_each(database, slow, limited) + queue_each(database, fast, other)
    with workers_running(engine_settings()):
        _all_delivered(database, ids)
    slow_times, fast_times = received_at(mx1, slow), received_at(mx1, fast)
    _within_budget(slow_times, 40)
    assert fast_times[-1] - fast_times[0] < (slow_times[-1] - slow_times[0]) / 2


def test_domains_whose_mx_hosts_match_share_one_budget(
    engine_settings: EngineSettings, database: Database, knot: Knot, mx1: RemoteMx,
    api: Api, uid: str,
) -> None:  # fmt: skip
    group = f"mxgroup-{uid}.test"
    knot.add_zone(group, [{"type": "A", "name": f"in1.{group}", "value": MX1}])
    first, second = f"g1-{uid}.test", f"g2-{uid}.test"
    for zone in (first, second):
        knot.add_zone(zone, [{"type": "MX", "name": zone, "value": f"in1.{group}", "priority": 10}])
    api.ok(
        "POST", "/api/v1/throttles", 201,
        json={"scope": "destination", "mx_hosts": [f"*.{group}"], "rate": RATE_PER_MINUTE,
              "per": "minute", "burst": BURST},
    )  # fmt: skip
    recipients = [f"ok-{i}-{uid}@{d}" for i in range(20) for d in (first, second)]
    ids = queue_each(database, recipients)
    with workers_running(engine_settings()):
        _all_delivered(database, ids)
    _within_budget(received_at(mx1, recipients), 40)


def test_waiting_deliveries_show_the_limit_in_the_queue(
    engine_settings: EngineSettings, database: Database, knot: Knot, mx1: RemoteMx,
    api: Api, uid: str,
) -> None:  # fmt: skip
    zone = f"wait-{uid}.test"
    mx_zone(knot, zone, [(10, "mx1")], {"mx1": MX1})
    limit = api.ok(
        "POST", "/api/v1/throttles", 201,
        json={"scope": "destination", "domains": [zone], "rate": 1, "per": "hour"},
    )  # fmt: skip
    assert limit["burst"] == 1  # the default: about one second's worth, at least one
    ids = queue_each(database, [f"ok-{i}-{uid}@{zone}" for i in range(3)])
    with workers_running(engine_settings(), count=1):
        deadline = time.monotonic() + 20
        while not any(r.status == "delivered" for r in deliveries(database, ids)):
            assert time.monotonic() < deadline, "nothing delivered"
            time.sleep(0.05)
        time.sleep(1.0)
    queued = api.ok("GET", "/api/v1/queue", params={"recipient_domain": zone})["items"]
    assert len(queued) == 2
    assert {q["status"] for q in queued} == {"queued"}
    assert {q["held_by"] for q in queued} == {f"limit:{limit['id']}"}
    # Spread out: the second comes back an interval after the first.
    times = sorted(q["next_attempt_at"] for q in queued)
    assert times[0] != times[1]
    usage = api.ok("GET", f"/api/v1/throttles/{limit['id']}")["usage"]
    assert (usage["used"], usage["remaining"], usage["waiting"]) == (1, 0, 2)
    # Deleting the limit lets them go at once.
    api.ok("DELETE", f"/api/v1/throttles/{limit['id']}", 204)
    with workers_running(engine_settings(), count=1):
        rows = wait_until_final(database, ids)
    assert {r.status for r in rows} == {"delivered"}
