"""The throttle routes: operators set limits, tenant admins read the ones that concern
their tenant and nothing else; bad input is a 4xx with a code and writes nothing."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from mailplane.db import Database
from mailplane.delivery.candidates import Candidate
from mailplane.models import utcnow
from mailplane.throttling import gcra, rules
from tests.support.api import Api


def _create(api: Api, status: int = 201, **body: Any) -> dict[str, Any]:
    response = api.post("/api/v1/throttles", json=body)
    assert response.status_code == status, response.text
    result: dict[str, Any] = response.json()
    return result


@pytest.fixture
def shared_limits(api: Api) -> Iterator[dict[str, dict[str, Any]]]:
    """A global limit and a default tenant limit, high enough to hold nobody back, and
    removed afterwards (they apply to every test's mail)."""
    made = {
        "global": _create(api, scope="global", rate=10_000_000, per="day"),
        "default": _create(api, scope="tenant", rate=10_000_000, per="hour"),
    }
    try:
        yield made
    finally:
        for limit in made.values():
            api.ok("DELETE", f"/api/v1/throttles/{limit['id']}", 204)


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"scope": "global", "rate": 0, "per": "minute"}, "invalid_request"),
        ({"scope": "global", "rate": 10_000_001, "per": "minute"}, "invalid_request"),
        ({"scope": "global", "rate": 10, "period_seconds": 120}, "invalid_request"),
        ({"scope": "global", "rate": 10, "per": "week"}, "invalid_request"),
        ({"scope": "global", "rate": 10}, "invalid_period"),
        (
            {"scope": "global", "rate": 10, "per": "minute", "period_seconds": 3600},
            "invalid_period",
        ),
        ({"scope": "global", "rate": 10, "per": "minute", "burst": 11}, "invalid_burst"),
        ({"scope": "destination", "rate": 10, "per": "minute"}, "invalid_scope_field"),
        (
            {"scope": "destination", "domains": ["bad domain.test"], "rate": 10, "per": "hour"},
            "invalid_pattern",
        ),
        (
            {"scope": "destination", "mx_hosts": ["*.*.google.com"], "rate": 10, "per": "hour"},
            "invalid_pattern",
        ),
        (
            {"scope": "tenant", "domains": ["x.test"], "rate": 10, "per": "hour"},
            "invalid_scope_field",
        ),
        ({"scope": "global", "tenant_id": 1, "rate": 10, "per": "hour"}, "invalid_scope_field"),
        ({"scope": "route", "rate": 10, "per": "hour"}, "invalid_scope_field"),
        ({"scope": "route", "route_id": 2**31 - 2, "rate": 10, "per": "hour"}, "route_not_found"),
        ({"scope": "tenant", "tenant_id": 2**31 - 2, "rate": 1, "per": "day"}, "tenant_not_found"),
    ],
)
def test_bad_limits_are_refused_with_a_code(api: Api, body: dict[str, Any], code: str) -> None:
    before = api.ok("GET", "/api/v1/throttles", params={"limit": 500})["items"]
    response = api.post("/api/v1/throttles", json=body)
    assert 400 <= response.status_code < 500, response.text
    assert response.json()["error"] == code, response.text
    assert api.ok("GET", "/api/v1/throttles", params={"limit": 500})["items"] == before


def test_defaults_duplicates_and_changes(api: Api, uid: str) -> None:
    tenant = api.tenant()["id"]
    per_minute = _create(api, scope="tenant", tenant_id=tenant, rate=6000, per="minute")
    assert (per_minute["period_seconds"], per_minute["burst"]) == (60, 100)
    per_day = _create(api, scope="tenant", tenant_id=tenant, rate=1000, period_seconds=86400)
    assert per_day["burst"] == 1
    duplicate = _create(api, 409, scope="tenant", tenant_id=tenant, rate=5, per="minute")
    assert duplicate["error"] == "duplicate_throttle"
    zone = f"Gmail-{uid}.TEST."
    destination = _create(
        api, scope="destination", domains=[zone, f"*.{uid}.test"], mx_hosts=[".google.com"],
        per_domain=True, rate=50, per="minute", burst=5,
    )  # fmt: skip
    assert destination["domains"] == [f"gmail-{uid}.test", f"*.{uid}.test"]
    assert destination["usage"] == {
        "used": 0, "limit": 50, "remaining": 50, "period_seconds": 60, "waiting": 0, "keys": [],
    }  # fmt: skip
    changed = api.ok(
        "PATCH", f"/api/v1/throttles/{destination['id']}", json={"rate": 3, "per": "hour"}
    )
    assert (changed["rate"], changed["period_seconds"], changed["burst"]) == (3, 3600, 3)
    response = api.patch(f"/api/v1/throttles/{destination['id']}", json={"burst": 4})
    assert response.json()["error"] == "invalid_burst"
    assert api.ok("GET", f"/api/v1/throttles/{destination['id']}")["burst"] == 3
    response = api.patch(f"/api/v1/throttles/{per_day['id']}", json={"per": "minute"})
    assert response.status_code == 409
    for limit in (per_minute, per_day, destination):
        api.ok("DELETE", f"/api/v1/throttles/{limit['id']}", 204)
    assert api.get(f"/api/v1/throttles/{per_day['id']}").status_code == 404


def test_tenant_admins_read_their_limits_only(
    api: Api, database: Database, shared_limits: dict[str, dict[str, Any]], uid: str
) -> None:
    mine, theirs = api.tenant()["id"], api.tenant()["id"]
    own = _create(api, scope="tenant", tenant_id=mine, rate=100, per="minute")
    foreign = _create(api, scope="tenant", tenant_id=theirs, rate=100, per="minute")
    destination = _create(
        api, scope="destination", domains=[f"d-{uid}.test"], rate=100, per="minute"
    )
    admin = api.tenant_admin(mine)

    # Both tenants send one delivery each: the default limit counts per tenant.
    with database.transaction() as session:
        limits = rules.load(session)
        waits = gcra.admit(
            session,
            [
                Candidate(1, mine, f"x-{uid}.test", "transactional", None, 0, None),
                Candidate(2, theirs, f"x-{uid}.test", "transactional", None, 0, None),
            ],
            limits,
            utcnow(),
        )
    assert waits == {}

    seen = {item["id"]: item for item in admin.ok("GET", "/api/v1/throttles")["items"]}
    assert own["id"] in seen
    assert shared_limits["global"]["id"] in seen
    assert shared_limits["default"]["id"] in seen
    assert foreign["id"] not in seen
    assert destination["id"] not in seen
    assert all(item["tenant_id"] in (None, mine) for item in seen.values())
    assert seen[own["id"]]["usage"]["used"] == 1
    assert seen[own["id"]]["usage"]["keys"] == [{"key": str(mine), "used": 1, "remaining": 99}]
    # The default limit does not apply to a tenant with its own per-minute limit, and
    # each tenant sees its own key only: theirs counted one, and it is not shown.
    default = admin.ok("GET", f"/api/v1/throttles/{shared_limits['default']['id']}")["usage"]
    assert default["keys"] == [{"key": str(mine), "used": 1, "remaining": 10_000_000 - 1}]
    operator = api.ok("GET", f"/api/v1/throttles/{shared_limits['default']['id']}")["usage"]
    assert {k["key"] for k in operator["keys"]} >= {str(mine), str(theirs)}

    for path in (f"/api/v1/throttles/{foreign['id']}", f"/api/v1/throttles/{destination['id']}"):
        response = admin.get(path)
        assert response.status_code == 404
        assert response.json()["error"] == "throttle_not_found"
        assert admin.patch(path, json={"rate": 1}).status_code == 404
        assert admin.delete(path).status_code == 404
    response = admin.patch(f"/api/v1/throttles/{own['id']}", json={"rate": 1})
    assert (response.status_code, response.json()["error"]) == (403, "platform_only")
    assert admin.delete(f"/api/v1/throttles/{own['id']}").status_code == 403
    response = admin.post(
        "/api/v1/throttles", json={"scope": "tenant", "tenant_id": mine, "rate": 1, "per": "day"}
    )
    assert response.status_code == 403
    assert api.ok("GET", f"/api/v1/throttles/{own['id']}")["rate"] == 100
    for limit in (own, foreign, destination):
        api.ok("DELETE", f"/api/v1/throttles/{limit['id']}", 204)


def test_a_route_limit_names_an_existing_route(api: Api, uid: str) -> None:
    route = api.ok(
        "POST", "/api/v1/outbound-routes", 201,
        json={"name": f"thr-{uid}", "source_ip": "127.0.0.1", "enabled": False},
    )  # fmt: skip
    try:
        limit = _create(api, scope="route", route_id=route["id"], rate=100, per="hour")
        assert (limit["route_id"], limit["burst"]) == (route["id"], 1)
        duplicate = _create(api, 409, scope="route", route_id=route["id"], rate=5, per="hour")
        assert duplicate["error"] == "duplicate_throttle"
    finally:
        api.ok("DELETE", f"/api/v1/outbound-routes/{route['id']}", 204)
    # The route's limits go with it.
    assert api.get(f"/api/v1/throttles/{limit['id']}").status_code == 404
