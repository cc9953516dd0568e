"""Tenant isolation: a tenant admin of A reaching any object of B gets 404 on every route.

The routes come from the OpenAPI document, so a route added later is walked too.
"""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from mailplane.db import Database
from tests.support.api import Api
from tests.support.routes import Operation, operations
from tests.support.world import World, build_world, valid_body

# Path parameters are named after the object they address; a new name must be added here
# (the walk fails on an unknown one rather than skipping the route).
PARAMETERS = {
    "tenant_id",
    "domain_id",
    "mailbox_id",
    "alias_id",
    "alias_domain_id",
    "admin_id",
    "deleted_mailbox_id",
    "api_key_id",
    "message_id",
    "delivery_id",
    "webhook_id",
    "webhook_delivery_id",
    "suppression_id",
    "throttle_id",
    "route_id",
}
# The platform's own objects (outbound routes): a tenant admin gets 403 platform_only on
# every route there, its own "tenant" has none.
PLATFORM_ONLY_PATHS = ("/api/v1/outbound-routes",)


def _platform_only(op: Operation) -> bool:
    return op.path.startswith(PLATFORM_ONLY_PATHS)


@pytest.fixture(scope="module")
def worlds(api: Api, database: Database) -> tuple[World, World]:
    return build_world(api, database), build_world(api, database)


def _admin_operations(client: TestClient) -> list[Operation]:
    return operations(client.app)  # type: ignore[arg-type]


def _routes_with_ids(client: TestClient) -> list[Operation]:
    return [op for op in _admin_operations(client) if op.path_params]


def test_every_path_parameter_is_known(client: TestClient) -> None:
    for op in _routes_with_ids(client):
        assert set(op.path_params) <= PARAMETERS, f"{op.label}: teach the walk this parameter"


def _call(who: Api, op: Operation, values: dict[str, Any], world: World) -> Any:
    body = valid_body(op, world)
    kwargs = {"json": body} if body is not None else {}
    return who.request(op.method.upper(), op.url(values), **kwargs)


def test_foreign_objects_are_404_on_every_route(
    client: TestClient, api: Api, worlds: tuple[World, World]
) -> None:
    mine, theirs = worlds
    checked = []
    for op in _routes_with_ids(client):
        # Every id from B; then, for nested routes, A's parent with B's child.
        attempts = [theirs.path_values()]
        if len(op.path_params) > 1:
            mixed = mine.path_values()
            mixed[op.path_params[-1]] = theirs.path_values()[op.path_params[-1]]
            attempts.append(mixed)
        for values in attempts:
            response = _call(mine.admin, op, values, mine)
            if _platform_only(op):
                assert response.status_code == 403, (op.label, values, response.text)
                assert response.json()["error"] == "platform_only", (op.label, response.text)
                checked.append(op.label)
                continue
            assert response.status_code == 404, (op.label, values, response.text)
            assert response.json()["error"].endswith("not_found"), (op.label, response.text)
            checked.append(op.label)
    assert len(set(checked)) == len(_routes_with_ids(client))

    # B's objects are untouched: nothing was suspended, changed or deleted.
    b = theirs.path_values()
    assert api.ok("GET", f"/api/v1/tenants/{b['tenant_id']}")["status"] == "active"
    assert api.ok("GET", f"/api/v1/mail/domains/{b['domain_id']}")["status"] == "active"
    mailbox = api.ok("GET", f"/api/v1/mail/accounts/{b['mailbox_id']}")
    assert (mailbox["status"], mailbox["quota_mb"]) == ("active", 1024)
    assert api.ok("GET", f"/api/v1/mail/aliases/{b['alias_id']}")["destinations"] == [
        f"info@{theirs.domain}"
    ]
    alias_domains = api.ok("GET", f"/api/v1/mail/domains/{b['domain_id']}/alias-domains")
    assert [a["id"] for a in alias_domains["items"]] == [b["alias_domain_id"]]
    admins = api.ok("GET", f"/api/v1/tenants/{b['tenant_id']}/admins")
    assert [a["id"] for a in admins["items"]] == [b["admin_id"]]
    key = api.ok("GET", f"/api/v1/mail/api-keys/{b['api_key_id']}")
    assert (key["revoked_at"], key["name"]) == (None, "site")
    message = api.ok("GET", f"/api/v1/messages/{b['message_id']}")
    assert message["statuses"] == {"queued": 1}
    queued = api.ok("GET", f"/api/v1/queue/{b['delivery_id']}")
    assert (queued["status"], queued["message_id"]) == ("queued", b["message_id"])


def test_the_same_routes_work_for_the_owner(
    client: TestClient, worlds: tuple[World, World]
) -> None:
    """The 404s above are about ownership: read routes answer 200 for A's own objects."""
    mine, _ = worlds
    for op in _routes_with_ids(client):
        if op.method == "get" and not _platform_only(op):
            response = mine.admin.get(op.url(mine.path_values()))
            assert response.status_code == 200, (op.label, response.text)


def _all_items(who: Api, path: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"limit": 500}
        if cursor:
            params["cursor"] = cursor
        page = who.ok("GET", path, params=params)
        items += page["items"]
        cursor = page["next_cursor"]
        if not cursor:
            return items


def test_lists_never_show_another_tenants_objects(
    client: TestClient, api: Api, worlds: tuple[World, World]
) -> None:
    mine, theirs = worlds
    list_routes = [
        op.path
        for op in _admin_operations(client)
        if op.method == "get" and not op.path_params and op.path.startswith("/api/")
    ]
    for path in list_routes:
        if path.startswith(PLATFORM_ONLY_PATHS):
            response = mine.admin.get(path)
            assert response.status_code == 403, (path, response.text)
            continue
        response = mine.admin.get(path)
        assert response.status_code == 200, (path, response.text)
        # Not JSON (the suppression export, CSV): tests/suppression checks it.
        if not response.headers["content-type"].startswith("application/json"):
            continue
        body = response.json()
        if "items" not in body:
            continue
        for item in _all_items(mine.admin, path):
            owner = item.get("customer_id", item.get("tenant_id"))
            if path == "/api/v1/throttles" and owner is None:
                continue  # global limits and the default tenant limit concern everyone
            if path == "/api/v1/tenants":
                owner = item["id"]
            assert owner == mine.tenant_id, (path, item)

    # Filters naming B's objects find nothing or 404, never B's rows.
    assert (
        mine.admin.ok("GET", "/api/v1/mail/domains", params={"customer_id": theirs.tenant_id})[
            "items"
        ]
        == []
    )
    assert (
        mine.admin.ok("GET", "/api/v1/audit", params={"customer_id": theirs.tenant_id})["items"]
        == []
    )
    response = mine.admin.get("/api/v1/mail/accounts", params={"domain_id": theirs.domain_id})
    assert response.status_code == 404
    # The platform operator sees both.
    tenants = {t["id"] for t in _all_items(api, "/api/v1/tenants")}
    assert {mine.tenant_id, theirs.tenant_id} <= tenants


def test_a_tenant_admin_cannot_create_in_another_tenant(worlds: tuple[World, World]) -> None:
    mine, theirs = worlds
    response = mine.admin.post(
        "/api/v1/mail/domains", json={"domain": "steal-me.test", "customer_id": theirs.tenant_id}
    )
    assert response.status_code == 404
    assert response.json()["error"] == "tenant_not_found"
    # Without customer_id the domain lands in the admin's own tenant.
    own = mine.admin.ok(
        "POST", "/api/v1/mail/domains", 201, json={"domain": f"own-{mine.tenant_id}.test"}
    )
    assert own["customer_id"] == mine.tenant_id
