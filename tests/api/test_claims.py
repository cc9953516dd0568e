"""A name is not a claim: what a tenant may create, and what it gets before proving it.

The platform's names in these tests come from the suite's settings: the host name
``mail.mailplane.test`` (MX too), so ``mailplane.test`` is the platform's own domain.
"""

from __future__ import annotations

import secrets
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import text

from mailplane.config import Settings
from mailplane.db import Database
from tests.support.api import Api

CYRILLIC_A = "\u0430"


@pytest.fixture
def admin(api: Api) -> tuple[Api, int]:
    tenant = api.tenant()
    return api.tenant_admin(tenant["id"]), tenant["id"]


def _create_domain(client: Api, name: str, **extra: Any) -> Any:
    return client.post("/api/v1/mail/domains", json={"domain": name, **extra})


def _create_alias_domain(client: Api, domain_id: int, name: str, **extra: Any) -> Any:
    return client.post(
        f"/api/v1/mail/domains/{domain_id}/alias-domains", json={"name": name, **extra}
    )


def _refused(response: Any, status: int, code: str) -> None:
    assert response.status_code == status, response.text
    assert response.json()["error"] == code, response.text


def test_tenant_domain_is_created_unproven_with_its_ownership_record(
    admin: tuple[Api, int],
) -> None:
    client, _ = admin
    name = f"mine-{secrets.token_hex(4)}.test"
    created = client.ok("POST", "/api/v1/mail/domains", 201, json={"domain": name})

    assert created["owned"] is False
    assert created["ownership_status"] == "pending"
    assert created["ownership_method"] is None
    assert created["can_send"] is False
    record = created["ownership_record"]
    assert record["type"] == "TXT"
    assert record["name"] == f"_mailplane-challenge.{name}"
    token = record["value"].removeprefix("mailplane-ownership=")
    assert len(token) == 32
    assert record in created["dns_records"]
    shown = client.ok("GET", f"/api/v1/mail/domains/{created['id']}/dns")
    assert record in shown["records"]
    again = client.ok("GET", f"/api/v1/mail/domains/{created['id']}")
    assert again["ownership_record"] == record
    assert again["owned"] is False


def test_every_domain_gets_its_own_token(admin: tuple[Api, int]) -> None:
    client, _ = admin
    tokens = {
        _create_domain(client, f"t{i}-{secrets.token_hex(4)}.test").json()["ownership_record"][
            "value"
        ]
        for i in range(3)
    }
    assert len(tokens) == 3


def test_operator_marks_a_domain_owned_and_it_is_audited(api: Api) -> None:
    tenant = api.tenant()
    owned = api.domain(tenant["id"], owned=True)
    assert owned["owned"] is True
    assert owned["ownership_status"] == "owned"
    assert owned["ownership_method"] == "operator"
    assert owned["owned_at"] is not None
    audit = api.ok("GET", "/api/v1/audit", params={"action": "domain.create"})
    entry = next(e for e in audit["items"] if e["object_id"] == owned["id"])
    assert entry["details"]["ownership"] == "operator"

    unproven = api.domain(tenant["id"], owned=None)
    assert unproven["owned"] is False
    explicit = api.domain(tenant["id"], owned=False)
    assert explicit["owned"] is False


def test_tenant_admin_may_not_say_owned(admin: tuple[Api, int], api: Api) -> None:
    client, tenant_id = admin
    for value in (True, False):
        _refused(
            _create_domain(client, f"x{secrets.token_hex(4)}.test", owned=value),
            403,
            "platform_only",
        )
    domain = api.domain(tenant_id)
    response = _create_alias_domain(
        client, domain["id"], f"a{secrets.token_hex(4)}.test", owned=True
    )
    _refused(response, 403, "platform_only")


def test_operator_marks_an_existing_name_owned_or_withdraws_it(
    admin: tuple[Api, int], api: Api, database: Database
) -> None:
    """Later, too: a name created unproven (or preexisting) can be settled by the operator,
    and a proof that no longer holds can be withdrawn. Postfix sees it at the next lookup."""
    client, tenant_id = admin
    domain = client.ok("POST", "/api/v1/mail/domains", 201, json={"domain": _name()})
    assert not _routed(database, domain["domain_ascii"])
    _refused(
        client.patch(f"/api/v1/mail/domains/{domain['id']}", json={"owned": True}),
        403,
        "platform_only",
    )

    owned = api.ok("PATCH", f"/api/v1/mail/domains/{domain['id']}", json={"owned": True})
    assert (owned["owned"], owned["ownership_method"]) == (True, "operator")
    assert _routed(database, domain["domain_ascii"])
    _refused(
        client.patch(f"/api/v1/mail/domains/{domain['id']}", json={"owned": False}),
        403,
        "platform_only",
    )

    withdrawn = api.ok("PATCH", f"/api/v1/mail/domains/{domain['id']}", json={"owned": False})
    assert (withdrawn["owned"], withdrawn["ownership_status"]) == (False, "pending")
    assert not _routed(database, domain["domain_ascii"])
    updates = api.ok(
        "GET", "/api/v1/audit", params={"action": "domain.update", "customer_id": tenant_id}
    )["items"]
    assert [e["details"].get("owned") for e in updates[:2]] == [False, True]


def _name() -> str:
    return f"settle-{secrets.token_hex(4)}.test"


def _routed(database: Database, name: str) -> bool:
    """What Postfix's virtual-domain lookup answers for the name."""
    with database.session(write=False) as session:
        query = text("SELECT name FROM mp_virtual_domains WHERE name = :name")
        return session.execute(query, {"name": name}).first() is not None


@pytest.mark.parametrize("value", ["yes", "true", 1, 0, None])
def test_owned_is_a_strict_boolean(api: Api, value: Any) -> None:
    tenant = api.tenant()
    response = api.post(
        "/api/v1/mail/domains",
        json={
            "domain": f"s{secrets.token_hex(4)}.test",
            "customer_id": tenant["id"],
            "owned": value,
        },
    )
    if value is None:  # null is the default: not marked
        assert response.status_code == 201, response.text
        assert response.json()["owned"] is False
    else:
        assert response.status_code == 422, response.text


@pytest.mark.parametrize(
    ("name", "status", "code"),
    [
        ("mail.mailplane.test", 403, "platform_name"),  # the host name itself
        ("mailplane.test", 403, "platform_name"),  # its parent
        ("MailPlane.Test.", 403, "platform_name"),  # any spelling
        ("evil.mailplane.test", 403, "platform_name"),  # under it
        ("x.mail.mailplane.test", 403, "platform_name"),
        ("co.uk", 422, "public_suffix"),
        ("github.io", 422, "public_suffix"),
        ("com", 422, "invalid_domain"),  # one label: not a domain name at all
        ("xn--p1ai", 422, "invalid_domain"),
        ("s3.amazonaws.com", 422, "public_suffix"),
        (f"{CYRILLIC_A}pple.com", 422, "mixed_script_domain"),
        (f"p{CYRILLIC_A}ypal.test", 422, "mixed_script_domain"),
        ("p\u03b1ypal.test", 422, "mixed_script_domain"),  # Greek alpha
        ("\uab7apple.test", 422, "excluded_script_domain"),  # Cherokee, looks like A
    ],
)
def test_names_a_tenant_may_not_claim(
    admin: tuple[Api, int], api: Api, name: str, status: int, code: str
) -> None:
    client, tenant_id = admin
    _refused(_create_domain(client, name), status, code)
    # An alias domain is a name too: the same refusals.
    domain = api.domain(tenant_id)
    _refused(_create_alias_domain(client, domain["id"], name), status, code)


def test_scripts_that_belong_together_are_accepted(admin: tuple[Api, int]) -> None:
    client, _ = admin
    tag = f"{secrets.randbelow(10**8):08d}"  # digits are Common: they mix with any script
    for name in (
        f"пример-{tag}.test",  # Cyrillic alone
        f"bäckerei-{tag}.test",  # Latin with diacritics
        f"日本語テキスト{tag}.test",  # Han, Katakana and Latin: Japanese
        f"한국{tag}.test",  # Hangul and Latin: Korean
    ):
        response = _create_domain(client, name)
        assert response.status_code == 201, (name, response.text)


def test_operator_may_host_the_platforms_domain_but_not_its_host_names(api: Api) -> None:
    tenant = api.tenant()
    for host in ("mail.mailplane.test", "MAIL.mailplane.test"):
        response = api.post(
            "/api/v1/mail/domains",
            json={"domain": host, "customer_id": tenant["id"], "owned": True},
        )
        _refused(response, 403, "platform_name")
    # A platform at mail.example.com commonly serves example.com itself; only its operator
    # may set that up. The row is removed again: other tests use names under it.
    created = api.domain(tenant["id"], "mailplane.test", owned=True)
    api.ok("DELETE", f"/api/v1/mail/domains/{created['id']}", 204)


def test_names_under_another_tenants_proven_domain_are_refused(
    admin: tuple[Api, int], api: Api
) -> None:
    client, tenant_id = admin
    other = api.tenant()
    proven = api.domain(other["id"], f"theirs-{secrets.token_hex(4)}.test", owned=True)
    theirs = proven["domain_ascii"]
    alias = api.ok(
        "POST",
        f"/api/v1/mail/domains/{proven['id']}/alias-domains",
        201,
        json={"name": f"their-alias-{secrets.token_hex(4)}.test", "owned": True},
    )["name_ascii"]
    mine = api.domain(tenant_id)

    for name in (f"shop.{theirs}", f"a.b.{theirs}", f"shop.{alias}"):
        _refused(_create_domain(client, name), 409, "parent_domain_taken")
        _refused(_create_alias_domain(client, mine["id"], name), 409, "parent_domain_taken")
        # An operator creating it for this tenant is refused too: it is the other's name.
        response = api.post(
            "/api/v1/mail/domains", json={"domain": name, "customer_id": tenant_id, "owned": True}
        )
        _refused(response, 409, "parent_domain_taken")
    # The name itself: unique platform-wide, whoever holds it.
    _refused(_create_domain(client, theirs), 409, "domain_exists")
    _refused(_create_domain(client, alias), 409, "domain_exists")


def test_unproven_foreign_names_block_nothing_and_reveal_nothing(
    admin: tuple[Api, int], api: Api
) -> None:
    client, _ = admin
    other = api.tenant()
    unproven = api.domain(other["id"], f"typed-{secrets.token_hex(4)}.test", owned=None)
    # A subdomain of a name another tenant merely typed in: created, unproven, routes nothing.
    below = client.ok(
        "POST", "/api/v1/mail/domains", 201, json={"domain": f"shop.{unproven['domain_ascii']}"}
    )
    assert below["owned"] is False


def test_the_parent_of_another_tenants_domain_may_come_later(
    admin: tuple[Api, int], api: Api
) -> None:
    client, _ = admin
    other = api.tenant()
    parent = f"later-{secrets.token_hex(4)}.test"
    api.domain(other["id"], f"shop.{parent}", owned=True)
    created = client.ok("POST", "/api/v1/mail/domains", 201, json={"domain": parent})
    assert created["owned"] is False  # and it must prove its own name


def test_subdomains_of_a_proven_domain_are_owned_by_the_same_tenant(
    admin: tuple[Api, int], api: Api
) -> None:
    client, tenant_id = admin
    parent = api.domain(tenant_id, owned=True)["domain_ascii"]
    sub = client.ok("POST", "/api/v1/mail/domains", 201, json={"domain": f"eu.{parent}"})
    assert sub["owned"] is True
    assert sub["ownership_method"] == "parent"
    host = api.domain(tenant_id, owned=True)
    alias = client.ok(
        "POST",
        f"/api/v1/mail/domains/{host['id']}/alias-domains",
        201,
        json={"name": f"alias.{parent}"},
    )
    assert alias["owned"] is True
    assert alias["ownership_method"] == "parent"

    unproven_parent = api.domain(tenant_id, owned=None)["domain_ascii"]
    sub2 = client.ok("POST", "/api/v1/mail/domains", 201, json={"domain": f"eu.{unproven_parent}"})
    assert sub2["owned"] is False


def test_alias_domain_is_created_unproven_with_its_record(admin: tuple[Api, int], api: Api) -> None:
    client, tenant_id = admin
    domain = api.domain(tenant_id)
    name = f"alias-{secrets.token_hex(4)}.test"
    created = client.ok(
        "POST", f"/api/v1/mail/domains/{domain['id']}/alias-domains", 201, json={"name": name}
    )
    assert created["owned"] is False
    assert created["ownership_record"]["name"] == f"_mailplane-challenge.{name}"
    listed = client.ok("GET", f"/api/v1/mail/domains/{domain['id']}/alias-domains")
    assert listed["items"][0]["ownership_record"] == created["ownership_record"]
    by_operator = api.ok(
        "POST",
        f"/api/v1/mail/domains/{domain['id']}/alias-domains",
        201,
        json={"name": f"alias-{secrets.token_hex(4)}.test", "owned": True},
    )
    assert by_operator["ownership_method"] == "operator"


def _age(database: Database, name: str, days: float) -> None:
    """Move a claim's creation into the past (what the clock would do)."""
    with database.transaction() as session:
        for table in ("domains", "alias_domains"):
            session.execute(
                text(f"UPDATE {table} SET created_at = :then WHERE name = :name"),  # noqa: S608
                {"then": datetime.now(UTC) - timedelta(days=days), "name": name},
            )


def test_a_name_never_proven_stops_blocking_other_tenants(
    api: Api, database: Database, settings: Settings
) -> None:
    """A squatter adds a name it cannot prove: the real owner is refused only until the
    claim is stale, then takes the name over; the squatter's mailboxes stay restorable."""
    squatter_id = api.tenant()["id"]
    squatter = api.tenant_admin(squatter_id)
    owner = api.tenant_admin(api.tenant()["id"])
    name = _name()
    held = squatter.ok("POST", "/api/v1/mail/domains", 201, json={"domain": name})
    box = api.mailbox(held["id"], "info")
    _refused(_create_domain(owner, name), 409, "domain_exists")

    _age(database, name, settings.unproven_claim_days + 1)
    taken = owner.ok("POST", "/api/v1/mail/domains", 201, json={"domain": name})
    assert (taken["domain_ascii"], taken["owned"]) == (name, False)  # and must prove it
    assert squatter.get(f"/api/v1/mail/domains/{held['id']}").status_code == 404
    released = squatter.ok("GET", "/api/v1/audit", params={"action": "domain.release"})
    assert [e["object_id"] for e in released["items"]] == [held["id"]]
    kept = api.ok("GET", "/api/v1/mail/deleted-accounts", params={"customer_id": squatter_id})
    assert [k["mailbox_id"] for k in kept["items"]] == [box["id"]]


def test_proven_and_operator_owned_names_are_never_released(
    api: Api, database: Database, settings: Settings
) -> None:
    other = api.tenant_admin(api.tenant()["id"])
    owned = api.domain(api.tenant()["id"], _name(), owned=True)
    alias = _name()
    api.ok("POST", f"/api/v1/mail/domains/{owned['id']}/alias-domains", 201, json={"name": alias})
    for name in (owned["domain_ascii"], alias):
        _age(database, name, settings.unproven_claim_days + 1)
    _refused(_create_domain(other, owned["domain_ascii"]), 409, "domain_exists")
    # The unproven alias domain of the same stale age is released to the claimant.
    taken = other.ok("POST", "/api/v1/mail/domains", 201, json={"domain": alias})
    assert taken["domain_ascii"] == alias
    assert api.ok("GET", f"/api/v1/mail/domains/{owned['id']}/alias-domains")["items"] == []
