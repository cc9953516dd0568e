"""Aliases: several destinations, forwarding with or without a copy, catch-alls."""

from __future__ import annotations

from typing import Any

import pytest

from tests.support.api import Api


@pytest.fixture
def domain(api: Api) -> dict[str, Any]:
    return api.domain(api.tenant()["id"])


def test_several_destinations_as_list_or_comma_string(api: Api, domain: dict[str, Any]) -> None:
    name = domain["domain_ascii"]
    listed = api.alias(domain["id"], "team", ["A@Example.com", "b@example.com", "a@example.com"])
    assert listed["source"] == f"team@{name}"
    assert listed["destinations"] == ["a@example.com", "b@example.com"]  # normalised, deduplicated
    assert listed["destination"] == "a@example.com, b@example.com"
    comma = api.alias(domain["id"], "office", " c@example.com ,d@bücher.test, ")
    assert comma["destinations"] == ["c@example.com", "d@xn--bcher-kva.test"]
    # Defect fixed: the comma form was capped at 320 characters (about ten addresses).
    many = [f"member{i:03d}@example.com" for i in range(100)]
    big = api.alias(domain["id"], "everyone", ",".join(many))
    assert big["destinations"] == many
    too_many = api.post(
        f"/api/v1/mail/domains/{domain['id']}/aliases",
        json={"source": "toomany", "destination": [*many, "x@example.com"]},
    )
    assert too_many.status_code == 422
    assert api.ok("GET", f"/api/v1/mail/aliases/{listed['id']}") == listed


def test_forwarding_with_and_without_a_copy(api: Api, domain: dict[str, Any]) -> None:
    name = domain["domain_ascii"]
    api.mailbox(domain["id"], "info")
    forward = api.alias(domain["id"], f"info@{name}", "outside@example.com", keep_copy=True)
    assert forward["keep_copy"] is True
    assert forward["source"] == f"info@{name}"
    api.mailbox(domain["id"], "jobs")
    plain = api.alias(domain["id"], "jobs", "hr@example.com")
    assert plain["keep_copy"] is False
    switched = api.ok("PUT", f"/api/v1/mail/aliases/{plain['id']}", json={"keep_copy": True})
    assert switched["keep_copy"] is True
    assert switched["destinations"] == ["hr@example.com"]
    # Pointing at itself is a loop; keep_copy is the way to keep a local copy.
    loop = api.post(
        f"/api/v1/mail/domains/{domain['id']}/aliases",
        json={"source": "self", "destination": f"self@{name}"},
    )
    assert (loop.status_code, loop.json()["error"]) == (422, "alias_loop")


@pytest.mark.parametrize("source", ["@", "*"])
def test_catch_all(api: Api, domain: dict[str, Any], source: str) -> None:
    name = domain["domain_ascii"]
    catch_all = api.alias(domain["id"], source, "catch@example.com")
    assert catch_all["source"] == f"@{name}"
    assert catch_all["is_catch_all"] is True
    again = api.post(
        f"/api/v1/mail/domains/{domain['id']}/aliases",
        json={"source": f"@{name}", "destination": "other@example.com"},
    )
    assert (again.status_code, again.json()["error"]) == (409, "alias_exists")


def test_update_list_and_delete(api: Api, domain: dict[str, Any]) -> None:
    created = api.alias(domain["id"], "sales", "a@example.com")
    path = f"/api/v1/mail/aliases/{created['id']}"
    updated = api.ok("PUT", path, json={"destination": ["b@example.com", "c@example.com"]})
    assert updated["destinations"] == ["b@example.com", "c@example.com"]
    assert api.ok("PUT", path, json={"active": False})["active"] is False
    assert api.ok("PUT", path, json={})["destinations"] == ["b@example.com", "c@example.com"]
    empty = api.put(path, json={"destination": " , "})
    assert (empty.status_code, empty.json()["error"]) == (422, "destination_required")
    assert api.ok("GET", path)["destinations"] == ["b@example.com", "c@example.com"]
    second = api.alias(domain["id"], "support", "s@example.com")
    page = api.ok("GET", f"/api/v1/mail/domains/{domain['id']}/aliases", params={"limit": 1})
    assert [a["id"] for a in page["items"]] == [created["id"]]
    rest = api.ok(
        "GET",
        f"/api/v1/mail/domains/{domain['id']}/aliases",
        params={"cursor": page["next_cursor"]},
    )
    assert [a["id"] for a in rest["items"]] == [second["id"]]
    api.ok("DELETE", path, 204)
    assert api.get(path).status_code == 404
    duplicate = api.post(
        f"/api/v1/mail/domains/{domain['id']}/aliases",
        json={"source": "SUPPORT", "destination": "x@example.com"},
    )
    assert (duplicate.status_code, duplicate.json()["error"]) == (409, "alias_exists")


def test_source_must_be_at_the_domain(api: Api, domain: dict[str, Any]) -> None:
    other = api.domain(api.tenant()["id"])
    for source in (f"x@{other['domain_ascii']}", f"@{other['domain_ascii']}", "x@example.com"):
        response = api.post(
            f"/api/v1/mail/domains/{domain['id']}/aliases",
            json={"source": source, "destination": "a@example.com"},
        )
        assert (response.status_code, response.json()["error"]) == (422, "source_outside_domain")


def test_alias_domain_and_aliases_coexist(api: Api, domain: dict[str, Any]) -> None:
    """An alias domain maps every local part; its own aliases are refused (one domain, one list)."""
    alias_domain = api.ok(
        "POST",
        f"/api/v1/mail/domains/{domain['id']}/alias-domains",
        201,
        json={"name": f"alt-{domain['id']}.test"},
    )
    response = api.post(
        f"/api/v1/mail/domains/{domain['id']}/aliases",
        json={"source": f"x@{alias_domain['name_ascii']}", "destination": "a@example.com"},
    )
    assert response.status_code == 422
