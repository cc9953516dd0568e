"""The outbound route API: operators only, strict validation, a write-only relay password,
every write audited, and the warm-up progress shown on reads."""

from __future__ import annotations

from typing import Any

import pytest

from tests.outbound_routes.conftest import NEW_IP, MakeRoute
from tests.support.api import Api

PATH = "/api/v1/outbound-routes"


def _refused(response: Any, status: int, code: str) -> None:
    assert (response.status_code, response.json()["error"]) == (status, code), response.text


def test_a_route_shows_its_warm_up_progress(make_route: MakeRoute) -> None:
    route = make_route(
        source_ip=NEW_IP,
        helo_name="Out1.Mailplane.test",
        enabled=False,
        plan={
            "ramp": [{"day": 0, "percent": 5}, {"day": 7, "percent": 15}],
            "types": [{"day": 0, "types": ["transactional"]}],
            "daily_cap": [{"day": 0, "cap": 500}, {"day": 3, "cap": 2000}],
        },
    )
    assert route["helo_name"] == "out1.mailplane.test"
    assert route["warm_up"] == {
        "established": False,
        "age_days": 0,
        "share_percent": 5.0,
        "types_allowed": ["transactional"],
        "daily_cap": 500,
        "today_count": 0,
    }
    plain = make_route(source_ip=NEW_IP, enabled=False)
    assert plain["warm_up"]["established"] is True
    assert plain["warm_up"]["types_allowed"] == ["bulk", "transactional"]
    assert plain["plan_started_at"] is not None


def test_a_plan_started_long_ago_is_established(api: Api, make_route: MakeRoute) -> None:
    route = make_route(
        source_ip=NEW_IP,
        enabled=False,
        plan={"ramp": [{"day": 0, "percent": 5}, {"day": 14, "percent": 100}]},
        plan_started_at="2020-01-01T00:00:00Z",
    )
    assert route["warm_up"]["established"] is True
    assert route["warm_up"]["age_days"] > 2000
    moved = api.ok(
        "PATCH", f"{PATH}/{route['id']}", json={"plan_started_at": None, "accepts_retries": True}
    )
    assert (moved["warm_up"]["established"], moved["warm_up"]["share_percent"]) == (False, 5.0)
    assert moved["accepts_retries"] is True
    assert api.ok("GET", f"{PATH}/{route['id']}")["warm_up"]["age_days"] == 0


def test_the_relay_password_is_write_only(api: Api, make_route: MakeRoute) -> None:
    secret = "relay-secret-7c1f"
    route = make_route(
        relay_host="Relay.Example.NET",
        relay_port=587,
        relay_username="user",
        relay_password=secret,
        enabled=False,
    )
    assert route["relay_password_set"] is True
    assert route["relay_host"] == "relay.example.net"
    assert "relay_password" not in route
    listed = api.ok("GET", PATH, params={"limit": 500})
    audit = api.ok("GET", "/api/v1/audit", params={"limit": 20})
    for answer in (route, listed, audit, api.ok("GET", f"{PATH}/{route['id']}")):
        assert secret not in str(answer)
    entry = next(e for e in audit["items"] if e["object_id"] == route["id"])
    assert entry["action"] == "outbound_route.create"
    assert entry["details"]["relay_password_set"] is True
    cleared = api.ok("PATCH", f"{PATH}/{route['id']}", json={"relay_password": None})
    assert cleared["relay_password_set"] is False


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"source_ip": "192.0.2.1"}, 422, "source_ip_not_local"),
        ({"source_ip": "2001:db8::1"}, 422, "source_ip_not_local"),
        ({"source_ip": "1.2.3"}, 422, "invalid_source_ip"),
        ({}, 422, "route_needs_a_way_out"),
        ({"source_ip": NEW_IP, "helo_name": "not a name"}, 422, "invalid_request"),
        ({"source_ip": NEW_IP, "helo_name": "-bad-.example"}, 422, "invalid_request"),
        ({"source_ip": NEW_IP, "relay_port": 25}, 422, "relay_host_required"),
        ({"relay_host": "a..b"}, 422, "invalid_relay_host"),
        ({"relay_host": "relay.test", "relay_password": "x"}, 422, "relay_username_required"),
        ({"relay_host": "relay.test", "relay_tls": "maybe"}, 422, "invalid_request"),
        (
            {"source_ip": NEW_IP, "plan": {"ramp": [{"day": 0, "percent": 101}]}},
            422,
            "invalid_request",
        ),
        (
            {"source_ip": NEW_IP, "plan": {"ramp": [{"day": 3, "percent": 10}]}},
            422,
            "invalid_plan",
        ),
        (
            {
                "source_ip": NEW_IP,
                "plan": {"ramp": [{"day": 0, "percent": 10}, {"day": 0, "percent": 20}]},
            },
            422,
            "invalid_plan",
        ),
        (
            {"source_ip": NEW_IP, "plan": {"types": [{"day": 0, "types": ["newsletter"]}]}},
            422,
            "invalid_request",
        ),
        (
            {"source_ip": NEW_IP, "plan": {"daily_cap": [{"day": 0, "cap": -1}]}},
            422,
            "invalid_request",
        ),
    ],
)
def test_bad_routes_are_refused_and_nothing_is_stored(
    api: Api, uid: str, body: dict[str, Any], status: int, code: str
) -> None:
    name = f"bad-{uid}"
    _refused(api.post(PATH, json={"name": name, **body}), status, code)
    names = [r["name"] for r in api.ok("GET", PATH, params={"limit": 500})["items"]]
    assert name not in names


def test_names_are_unique_and_patches_are_validated(api: Api, make_route: MakeRoute) -> None:
    first = make_route(source_ip=NEW_IP, enabled=False)
    second = make_route(source_ip=NEW_IP, enabled=False)
    _refused(api.post(PATH, json={"name": first["name"], "source_ip": NEW_IP}), 409, "route_exists")
    url = f"{PATH}/{second['id']}"
    _refused(api.patch(url, json={"name": first["name"]}), 409, "route_exists")
    _refused(api.patch(url, json={"source_ip": None}), 422, "route_needs_a_way_out")
    _refused(api.patch(url, json={"source_ip": "192.0.2.7"}), 422, "source_ip_not_local")
    _refused(api.patch(url, json={"enabled": None}), 422, "invalid_input")
    assert api.ok("GET", url)["source_ip"] == NEW_IP


def test_tenant_admins_may_not_see_or_change_routes(api: Api, make_route: MakeRoute) -> None:
    route = make_route(source_ip=NEW_IP, enabled=False)
    admin = api.tenant_admin(api.tenant()["id"])
    url = f"{PATH}/{route['id']}"
    _refused(admin.get(PATH), 403, "platform_only")
    _refused(admin.post(PATH, json={"name": "mine", "source_ip": NEW_IP}), 403, "platform_only")
    _refused(admin.get(url), 403, "platform_only")
    _refused(admin.patch(url, json={"enabled": True}), 403, "platform_only")
    _refused(admin.delete(url), 403, "platform_only")
    assert api.ok("GET", url)["enabled"] is False


def test_every_write_is_audited(api: Api, uid: str) -> None:
    route = api.ok(
        "POST", PATH, 201, json={"name": f"aud-{uid}", "source_ip": NEW_IP, "enabled": False}
    )
    api.ok("PATCH", f"{PATH}/{route['id']}", json={"helo_name": "out.mailplane.test"})
    api.ok("DELETE", f"{PATH}/{route['id']}", 204)
    entries = api.ok("GET", "/api/v1/audit", params={"limit": 10})["items"]
    mine = [e["action"] for e in entries if e["object_id"] == route["id"]][::-1]
    assert mine[-3:] == ["outbound_route.create", "outbound_route.update", "outbound_route.delete"]
    _refused(api.get(f"{PATH}/{route['id']}"), 404, "outbound_route_not_found")
