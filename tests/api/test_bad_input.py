"""Bad input on every write route: a 4xx with a machine-readable code and a detail, never
a 500, and nothing written (the audit log, which every accepted change extends, stays
the same length)."""

from __future__ import annotations

import base64
import json
from typing import Any
from uuid import uuid4

import pytest
from fastapi.testclient import TestClient

from tests.support.api import Api
from tests.support.routes import Operation, field_types, operations, string_fields
from tests.support.world import World, build_world, valid_body

# CR/LF (header injection), NUL (PostgreSQL refuses it in text), other C0 controls, DEL,
# a C1 control (NEL) and the Unicode line separator, which str.splitlines() also splits on.
CONTROL_CHARACTERS = ["\r\n", "\n", "\r", "\x00", "\x07", "\x1b", "\x7f", "\x85", "\u2028"]
HUGE_INTEGERS = [2**31, 2**63, 10**30, -(2**63)]


@pytest.fixture(scope="module")
def world(api: Api) -> World:
    return build_world(api)


def _body_routes(client: TestClient) -> list[Operation]:
    return [op for op in operations(client.app) if op.body_schema is not None]  # type: ignore[arg-type]


def _newest_audit_id(api: Api) -> int:
    """Nothing was written if the newest entry is the same before and after."""
    items = api.ok("GET", "/api/v1/audit", params={"limit": 1})["items"]
    return int(items[0]["id"]) if items else 0


def _assert_refused(response: Any, label: str) -> dict[str, Any]:
    assert 400 <= response.status_code < 500, (label, response.status_code, response.text)
    body = response.json()
    for key in ("error", "detail"):
        assert isinstance(body.get(key), str), (label, body)
        assert body[key], (label, body)
    return body  # type: ignore[no-any-return]


def _send(api: Api, op: Operation, world: World, **kwargs: Any) -> Any:
    return api.request(op.method.upper(), op.url(world.path_values()), **kwargs)


def test_valid_bodies_are_valid(client: TestClient, api: Api, world: World) -> None:
    """The walks below mutate these bodies; each must pass validation to start with."""
    for op in _body_routes(client):
        response = _send(api, op, world, json=valid_body(op, world))
        assert response.status_code not in (400, 422), (op.label, response.text)


def test_bad_json_unknown_fields_and_wrong_types(
    client: TestClient, api: Api, world: World
) -> None:
    before = _newest_audit_id(api)
    for op in _body_routes(client):
        body = valid_body(op, world)
        assert body is not None
        bad_json = _send(
            api, op, world, content=b'{"name": ', headers={"content-type": "application/json"}
        )
        assert _assert_refused(bad_json, op.label)["error"] == "invalid_json"
        assert bad_json.status_code == 400

        unknown = _send(api, op, world, json={**body, "is_admin": True})
        assert _assert_refused(unknown, op.label)["error"] == "unknown_field"

        not_an_object = _send(api, op, world, json=[body])
        _assert_refused(not_an_object, op.label)

        for name in op.body_schema["properties"]:  # type: ignore[index]
            types = field_types(op.body_schema, name)  # type: ignore[arg-type]
            wrong: Any = {"a": 1} if "object" not in types else 12
            response = _send(api, op, world, json={**body, name: wrong})
            _assert_refused(response, f"{op.label} {name}={wrong!r}")
    assert _newest_audit_id(api) == before


def test_control_characters_in_every_string_field(
    client: TestClient, api: Api, world: World
) -> None:
    before = _newest_audit_id(api)
    for op in _body_routes(client):
        body = valid_body(op, world)
        assert body is not None
        for name in string_fields(op.body_schema):  # type: ignore[arg-type]
            base = str(body.get(name, "value"))
            types = field_types(op.body_schema, name)  # type: ignore[arg-type]
            for char in CONTROL_CHARACTERS:
                # In the middle (header injection) and at the end (strip() would hide it).
                for value in (base[:2] + char + base[2:], base + char):
                    sent: Any = [value] if "string" not in types else value
                    response = _send(api, op, world, json={**body, name: sent})
                    _assert_refused(response, f"{op.label} {name}={value!r}")
    assert _newest_audit_id(api) == before


def test_huge_values_in_every_field(client: TestClient, api: Api, world: World) -> None:
    before = _newest_audit_id(api)
    for op in _body_routes(client):
        body = valid_body(op, world)
        assert body is not None
        for name in op.body_schema["properties"]:  # type: ignore[index]
            types = field_types(op.body_schema, name)  # type: ignore[arg-type]
            values: list[Any] = []
            if "string" in types or "array" in types:
                values.append("a" * 100_000)
            if "integer" in types:
                values += HUGE_INTEGERS
            if "array" in types:
                values.append([f"user{i}@example.com" for i in range(5000)])
            for value in values:
                response = _send(api, op, world, json={**body, name: value})
                _assert_refused(response, f"{op.label} {name}=<huge {type(value).__name__}>")
    assert _newest_audit_id(api) == before


def test_oversized_body_is_413(api: Api) -> None:
    response = api.post("/api/v1/tenants", json={"name": "x", "notes": "n" * 2_000_000})
    assert response.status_code == 413
    assert response.json()["error"] == "payload_too_large"


def test_huge_ids_in_every_path_and_query(client: TestClient, api: Api, world: World) -> None:
    """Ids past the column's range used to reach the database and answer 500."""
    for op in operations(client.app):  # type: ignore[arg-type]
        body = valid_body(op, world)
        kwargs = {"json": body} if body is not None else {}
        for param in op.path_params:
            for huge in (2**31, 2**63, 10**30, 0, -1):
                values = {**world.path_values(), param: huge}
                response = api.request(op.method.upper(), op.url(values), **kwargs)
                _assert_refused(response, f"{op.label} {param}={huge}")
    for path, param in [
        ("/api/v1/mail/domains", "customer_id"),
        ("/api/v1/mail/accounts", "domain_id"),
        ("/api/v1/audit", "customer_id"),
    ]:
        for huge in HUGE_INTEGERS:
            _assert_refused(api.get(path, params={param: huge}), f"{path}?{param}={huge}")


@pytest.mark.parametrize(
    "cursor",
    [
        "garbage!",
        base64.urlsafe_b64encode(b"id:99999999999999999999").decode(),
        base64.urlsafe_b64encode(b"id:-5").decode(),
        base64.urlsafe_b64encode(b"row:5").decode(),
        base64.urlsafe_b64encode(b"\xff\xfe").decode(),
        "x" * 201,
    ],
)
def test_forged_cursors(api: Api, cursor: str) -> None:
    for path in (
        "/api/v1/tenants",
        "/api/v1/mail/domains",
        "/api/v1/mail/accounts",
        "/api/v1/audit",
    ):
        response = api.get(path, params={"cursor": cursor})
        assert response.status_code == 422, (path, response.text)


def test_rejected_writes_leave_nothing_behind(api: Api, world: World) -> None:
    # One bad destination among good ones: no alias, no destinations.
    response = api.post(
        f"/api/v1/mail/domains/{world.domain_id}/aliases",
        json={"source": "half", "destination": ["ok@example.com", "not an address"]},
    )
    assert _assert_refused(response, "alias")["error"] == "invalid_address"
    aliases = api.ok("GET", f"/api/v1/mail/domains/{world.domain_id}/aliases")["items"]
    assert all(not a["source"].startswith("half@") for a in aliases)

    # A duplicate domain creates no second DKIM key for the first one.
    keys = api.ok("GET", f"/api/v1/mail/domains/{world.domain_id}/dkim")
    response = api.post(
        "/api/v1/mail/domains",
        json={"domain": world.domain.upper(), "customer_id": world.tenant_id},
    )
    assert _assert_refused(response, "domain")["error"] == "domain_exists"
    assert response.status_code == 409
    assert api.ok("GET", f"/api/v1/mail/domains/{world.domain_id}/dkim") == keys

    # A bad quota leaves the password untouched too.
    before = api.ok("GET", f"/api/v1/mail/accounts/{world.mailbox_id}")
    response = api.put(
        f"/api/v1/mail/accounts/{world.mailbox_id}",
        json={"password": "a-new-password", "quota_mb": -1},
    )
    _assert_refused(response, "mailbox")
    assert api.ok("GET", f"/api/v1/mail/accounts/{world.mailbox_id}") == before


@pytest.mark.parametrize(
    "local_part",
    [
        "",
        " ",
        "a b",
        "a@b",
        "a+b",
        "a%b",
        "a!b",
        "a/b",
        ".a",
        "a.",
        "a..b",
        '"a"',
        "ä",
        "a" * 65,
        "-a",
        "a=b",
    ],
)
def test_invalid_local_parts(api: Api, world: World, local_part: str) -> None:
    response = api.post(
        f"/api/v1/mail/domains/{world.domain_id}/accounts",
        json={"local_part": local_part, "password": "long-enough-1"},
    )
    _assert_refused(response, local_part)


@pytest.mark.parametrize(
    "domain",
    [
        "",
        "localhost",
        "a..b",
        "-a.test",
        "a_b.test",
        "1.2.3.4",
        "xn--zz.test",
        "😀.test",
        "a" * 64 + ".test",
        ("a" * 60 + ".") * 5 + "test",
        "exa mple.test",
        "@example.test",
    ],
)
def test_invalid_domains(api: Api, world: World, domain: str) -> None:
    response = api.post(
        "/api/v1/mail/domains", json={"domain": domain, "customer_id": world.tenant_id}
    )
    _assert_refused(response, domain)


@pytest.mark.parametrize(
    "destination",
    [
        "",
        "plain",
        "a@",
        "@b.test",
        "a@b@c.test",
        '"a b"@c.test',
        "a%b@c.test",
        "a@[1.2.3.4]",
        "Name <a@b.test>",
        "a@b.test\r\nBcc: victim@evil.test",
    ],
)
def test_invalid_destinations(api: Api, world: World, destination: str) -> None:
    response = api.post(
        f"/api/v1/mail/domains/{world.domain_id}/aliases",
        json={"source": "dest-check", "destination": destination},
    )
    _assert_refused(response, destination)


def test_error_body_shape_for_unknown_routes_and_methods(api: Api) -> None:
    assert api.get("/api/v1/nothing-here").json()["error"] == "not_found"
    response = api.request("PATCH", "/api/v1/mail/accounts")
    assert response.status_code == 405
    assert response.json()["error"] == "method_not_allowed"
    assert json.loads(api.get("/api/v1/tenants/abc").text)["error"] == "invalid_request"


def test_numbers_and_booleans_must_have_their_json_type(
    client: TestClient, api: Api, world: World
) -> None:
    """Defect fixed: `"customer_id": true` created a domain for tenant 1 and "yes" was a
    boolean. A number is a JSON number and a boolean a JSON boolean, in every body."""
    before = _newest_audit_id(api)
    checked = 0
    for op in _body_routes(client):
        body = valid_body(op, world)
        assert body is not None
        for name in op.body_schema["properties"]:  # type: ignore[index]
            types = field_types(op.body_schema, name)  # type: ignore[arg-type]
            wrong: list[Any] = []
            if "integer" in types:
                wrong += [True, False, "1", "7", 1.5]
            if "boolean" in types:
                wrong += ["yes", "true", 1, 0, "on"]
            for value in wrong:
                response = _send(api, op, world, json={**body, name: value})
                body_out = _assert_refused(response, f"{op.label} {name}={value!r}")
                assert response.status_code == 422, (op.label, name, value)
                assert body_out["error"] == "invalid_request", body_out
                checked += 1
    assert checked > 20  # customer_id, quota_mb, keep_copy, active, tenant_id, limits ...
    assert _newest_audit_id(api) == before


def test_customer_id_true_is_not_tenant_one(api: Api) -> None:
    domain = f"strict-{uuid4().hex[:8]}.test"
    for customer_id in (True, "1"):
        response = api.post(
            "/api/v1/mail/domains", json={"domain": domain, "customer_id": customer_id}
        )
        assert response.status_code == 422, response.text
    # Nothing was created: the name is still free for its real owner.
    assert api.domain(api.tenant()["id"], domain)["domain"] == domain
