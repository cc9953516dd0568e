"""The circuit breaker's and the complaints' event types are known to webhooks: an
endpoint subscribes to them, and an operator's pause and resume reach it signed."""

from __future__ import annotations

from mailplane.config import Settings
from mailplane.db import Database
from tests.support.api import Api
from tests.webhooks.conftest import dispatcher_running
from tests.webhooks.receiver import Receiver, verified
from tests.webhooks.test_webhooks import webhook


def test_pause_and_resume_reach_a_subscribed_endpoint(
    settings: Settings, database: Database, api: Api, receiver: Receiver
) -> None:
    tenant = api.tenant()
    hook = webhook(
        api, receiver, tenant["id"], "/sending",
        event_types=["sending.paused", "sending.resumed", "message.complained"],
    )  # fmt: skip
    assert hook["event_types"] == ["message.complained", "sending.paused", "sending.resumed"]
    for unknown in ("sending.stopped", "message.reported"):
        refused = api.post(
            "/api/v1/webhooks",
            json={"url": receiver.url("/x"), "customer_id": tenant["id"], "event_types": [unknown]},
        )
        assert (refused.status_code, refused.json()["error"]) == (422, "unknown_event_type")
    path = f"/api/v1/tenants/{tenant['id']}/sending"
    pause = api.ok("POST", f"{path}/pause", 201, json={"scope": "all", "reason": "checking"})
    api.ok("POST", f"{path}/resume")
    with dispatcher_running(settings.model_copy(update={"webhook_poll_seconds": 0.05}), database):
        requests = receiver.wait("/sending", 2)
    events = [verified(hook["secret"], r) for r in requests]
    assert [e["type"] for e in events] == ["sending.paused", "sending.resumed"]
    paused, resumed = (e["data"] for e in events)
    assert (paused["pause_id"], paused["scope"], paused["trigger"]) == (
        pause["id"],
        "all",
        "operator",
    )
    assert paused["detail"] == {"reason": "checking"}
    assert (resumed["pause_id"], resumed["released"]) == (pause["id"], 0)
