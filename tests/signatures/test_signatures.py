"""Signatures as a mailbox user sees them: CRUD, one default, rules, sanitized HTML."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

from tests.support.api import Api
from tests.support.mailbox_users import WebUser, web_user

BASE = "/api/v1/mail/signatures/"


def create(user: WebUser, **body: Any) -> dict[str, Any]:
    payload = {"name": "Standard", "html": "<p>Regards</p>", **body}
    result: dict[str, Any] = user.web.ok("POST", BASE, 201, json=payload)
    return result


def test_crud_of_the_seed_shape(api: Api) -> None:
    user = web_user(api)
    created = user.web.ok(
        "POST",
        BASE,
        201,
        json={
            "name": "Standard",
            "html": "<p>Mit freundlichen Gruessen</p>",
            "is_default": True,
            "rules": [{"match_type": "domain", "match_value": "example.com"}],
        },
    )
    assert created["is_default"] is True
    assert created["rules"] == [{"match_type": "domain", "match_value": "example.com"}]
    assert created["text"] == "Mit freundlichen Gruessen"
    sid = created["id"]
    assert [s["id"] for s in user.web.ok("GET", BASE)] == [sid]
    assert user.web.ok("GET", f"{BASE}{sid}")["name"] == "Standard"

    patched = user.web.ok("PATCH", f"{BASE}{sid}", json={"name": "Formal"})
    assert patched["name"] == "Formal"
    assert patched["html"] == "<p>Mit freundlichen Gruessen</p>"  # untouched
    assert patched["rules"] == created["rules"]

    replaced = user.web.ok(
        "PUT", f"{BASE}{sid}", json={"name": "Short", "html": "<b>Bye</b>", "text": "Bye!"}
    )
    assert (replaced["name"], replaced["html"], replaced["text"]) == ("Short", "<b>Bye</b>", "Bye!")
    assert replaced["is_default"] is False
    assert replaced["rules"] == []

    user.web.ok("DELETE", f"{BASE}{sid}", 204)
    assert user.web.get(f"{BASE}{sid}").status_code == 404
    assert user.web.ok("GET", BASE) == []


def test_html_is_sanitized_when_stored(api: Api) -> None:
    user = web_user(api)
    created = create(
        user,
        html=(
            '<p onclick="steal()">Hi<script>alert(1)</script></p>'
            '<a href="javascript:alert(1)">x</a><img src="https://logo.test/l.png" onerror="x">'
            '<iframe src="https://evil.test"></iframe><span style="color: red; position: fixed">'
            "R</span>"
        ),
    )
    html = created["html"]
    for bad in ("onclick", "script", "alert", "javascript", "onerror", "iframe", "position"):
        assert bad not in html
    assert '<img src="https://logo.test/l.png">' in html
    assert "color:red" in html.replace(" ", "")


def test_one_default_at_most(api: Api) -> None:
    user = web_user(api)
    first = create(user, is_default=True)
    second = create(user, name="Second", is_default=True)
    listed = {s["id"]: s["is_default"] for s in user.web.ok("GET", BASE)}
    assert listed == {first["id"]: False, second["id"]: True}
    user.web.ok("PATCH", f"{BASE}{first['id']}", json={"is_default": True})
    listed = {s["id"]: s["is_default"] for s in user.web.ok("GET", BASE)}
    assert listed == {first["id"]: True, second["id"]: False}


def test_match_precedence_email_then_domain_then_default(api: Api) -> None:
    user = web_user(api)
    default = create(user, name="Default", is_default=True)
    by_domain = create(
        user, name="Domain", rules=[{"match_type": "domain", "match_value": "example.com"}]
    )
    by_email = create(
        user, name="Email", rules=[{"match_type": "email", "match_value": "Boss@Example.com"}]
    )
    umlaut = create(
        user, name="IDN", rules=[{"match_type": "domain", "match_value": "bücher.example"}]
    )

    def match(*to: str) -> dict[str, Any]:
        result: dict[str, Any] = user.web.ok("GET", f"{BASE}match", params={"to": list(to)})
        return result

    assert match("boss@example.com")["signature"]["id"] == by_email["id"]
    assert match("boss@example.com")["matched_by"] == "email"
    assert match("someone@example.com")["signature"]["id"] == by_domain["id"]
    assert match("someone@sub.example.com")["matched_by"] == "domain"
    # An email rule for any recipient beats a domain rule for an earlier one.
    found = match("someone@example.com", "boss@example.com")
    assert (found["signature"]["id"], found["recipient"]) == (by_email["id"], "boss@example.com")
    assert match("x@other.test")["signature"]["id"] == default["id"]
    assert match("x@other.test")["matched_by"] == "default"
    # IDN: the rule was given as a U-label, mail is addressed either way.
    assert match("leser@bücher.example")["signature"]["id"] == umlaut["id"]
    assert match("leser@xn--bcher-kva.example")["signature"]["id"] == umlaut["id"]

    user.web.ok("DELETE", f"{BASE}{default['id']}", 204)
    assert match("x@other.test") == {"signature": None, "matched_by": None, "recipient": None}
    assert user.web.get(f"{BASE}match", params={"to": "not an address"}).status_code == 422
    assert user.web.get(f"{BASE}match").status_code == 422


def test_limits_and_bad_input(api: Api) -> None:
    user = web_user(api)
    too_long = user.web.post(BASE, json={"name": "Long", "html": "x" * 20_001})
    assert too_long.status_code == 422
    bad_rule = user.web.post(
        BASE, json={"name": "R", "rules": [{"match_type": "domain", "match_value": "not a domain"}]}
    )
    assert bad_rule.status_code == 422
    assert bad_rule.json()["error"] == "invalid_domain"
    bad_type = user.web.post(
        BASE, json={"name": "R", "rules": [{"match_type": "regex", "match_value": "x"}]}
    )
    assert bad_type.status_code == 422
    name_with_newline = user.web.post(BASE, json={"name": "a\r\nBcc: x@y.test"})
    assert name_with_newline.status_code == 422
    many_rules = [{"match_type": "email", "match_value": f"u{i}@x.test"} for i in range(51)]
    assert user.web.post(BASE, json={"name": "R", "rules": many_rules}).status_code == 422
    for i in range(50):
        create(user, name=f"S{i}")
    over = user.web.post(BASE, json={"name": "One more"})
    assert over.status_code == 409
    assert over.json()["error"] == "too_many_signatures"


def test_another_tenant_cannot_see_or_change_them(api: Api) -> None:
    alice = web_user(api)
    mallory = web_user(api)
    own = create(alice, is_default=True, rules=[{"match_type": "domain", "match_value": "a.test"}])
    path = f"{BASE}{own['id']}"
    assert mallory.web.get(path).status_code == 404
    assert mallory.web.put(path, json={"name": "Mine"}).status_code == 404
    assert mallory.web.patch(path, json={"is_default": False}).status_code == 404
    assert mallory.web.delete(path).status_code == 404
    assert mallory.web.ok("GET", BASE) == []
    assert mallory.web.ok("GET", f"{BASE}match", params={"to": "x@a.test"})["signature"] is None
    # A mailbox of the same tenant is just as foreign.
    colleague = web_user(api, tenant_id=alice.tenant_id)
    assert colleague.web.get(path).status_code == 404
    # Setting a default elsewhere leaves Alice's default alone.
    create(mallory, is_default=True)
    assert alice.web.ok("GET", path)["is_default"] is True
    assert alice.web.ok("GET", path)["name"] == "Standard"


def test_an_admin_token_is_not_a_mailbox_user(api: Api) -> None:
    assert api.get(BASE).status_code == 401


def test_concurrent_defaults_leave_exactly_one(api: Api) -> None:
    user = web_user(api)
    ids = [create(user, name=f"S{i}")["id"] for i in range(6)]

    def make_default(signature_id: int) -> int:
        path = f"{BASE}{signature_id}"
        return user.web.patch(path, json={"is_default": True}).status_code

    with ThreadPoolExecutor(max_workers=6) as pool:
        codes = list(pool.map(make_default, ids * 3))
    assert set(codes) == {200}
    defaults = [s["id"] for s in user.web.ok("GET", BASE) if s["is_default"]]
    assert len(defaults) == 1
