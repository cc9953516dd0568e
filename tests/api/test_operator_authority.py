"""Authority has a direction: what a platform operator decides (a suspension, the tenant's
limits), a tenant admin cannot undo."""

from __future__ import annotations

from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from tests.support.api import Api


def _refused(response: Any, status: int, code: str) -> None:
    assert (response.status_code, response.json()["error"]) == (status, code), response.text


@pytest.mark.parametrize("kind", ["mailbox", "domain"])
def test_a_tenant_cannot_lift_an_operators_suspension(api: Api, kind: str) -> None:
    """Defect fixed: a tenant admin could unsuspend what the operator suspended."""
    tenant = api.tenant()
    domain = api.domain(tenant["id"])
    mailbox = api.mailbox(domain["id"])
    admin = api.tenant_admin(tenant["id"])
    path = (
        f"/api/v1/mail/accounts/{mailbox['id']}"
        if kind == "mailbox"
        else f"/api/v1/mail/domains/{domain['id']}"
    )
    update = "PUT" if kind == "mailbox" else "PATCH"

    suspended = api.ok("POST", f"{path}/suspend")
    assert (suspended["status"], suspended["suspended_by"]) == ("suspended", "operator")
    _refused(admin.post(f"{path}/unsuspend"), 403, "operator_suspension")
    for status in ("active", "disabled"):
        _refused(admin.request(update, path, json={"status": status}), 403, "operator_suspension")
    # Deleting (and creating it again) would undo it just as well.
    _refused(admin.delete(path), 403, "operator_suspension")
    if kind == "mailbox":  # ... and so would deleting the domain it belongs to
        _refused(admin.delete(f"/api/v1/mail/domains/{domain['id']}"), 403, "operator_suspension")
    assert api.ok("GET", path)["status"] == "suspended"

    # The operator lifts it; then the tenant's own suspensions are the tenant's to lift.
    assert api.ok("POST", f"{path}/unsuspend")["suspended_by"] is None
    own = admin.ok("POST", f"{path}/suspend")
    assert (own["status"], own["suspended_by"]) == ("suspended", "tenant")
    assert admin.ok("POST", f"{path}/unsuspend")["status"] == "active"

    # An operator suspending what the tenant suspended takes it over.
    admin.ok("POST", f"{path}/suspend")
    assert api.ok("POST", f"{path}/suspend")["suspended_by"] == "operator"
    _refused(admin.post(f"{path}/unsuspend"), 403, "operator_suspension")


def test_limits_are_the_operators_and_the_tenant_sees_them(api: Api) -> None:
    tenant = api.ok(
        "POST",
        "/api/v1/tenants",
        201,
        json={"name": f"limited-{api.tenant()['id']}", "limits": {"max_mailboxes": 2}},
    )
    assert tenant["limits"] == {
        "max_domains": None,
        "max_mailboxes": 2,
        "max_aliases": None,
        "max_quota_mb_per_mailbox": None,
        "max_total_quota_mb": None,
        "send_rate_per_hour": None,
        "breaker_min_sample": None,
        "breaker_hard_bounce_rate": None,
        "breaker_complaint_rate": None,
    }
    admin = api.tenant_admin(tenant["id"])
    path = f"/api/v1/tenants/{tenant['id']}"
    for body in (
        {"limits": {"max_mailboxes": None}},
        {"limits": {"send_rate_per_hour": 100000}},
        {"limits": {"breaker_hard_bounce_rate": 1.0}},
        {"name": "a name of my choice"},
    ):
        _refused(admin.patch(path, json=body), 403, "platform_only")
    domain = api.domain(tenant["id"])
    api.mailbox(domain["id"], "one", quota_mb=100)
    report = admin.ok("GET", f"{path}/usage")
    assert report["limits"]["max_mailboxes"] == 2
    assert report["usage"] == {
        "domains": 1,
        "mailboxes": 1,
        "aliases": 0,
        "total_quota_mb": 100,
        "unlimited_quota_mailboxes": 0,
    }
    # Only the fields sent change; null lifts a limit.
    updated = api.ok("PATCH", path, json={"limits": {"max_aliases": 5}})["limits"]
    assert (updated["max_mailboxes"], updated["max_aliases"]) == (2, 5)
    assert (
        api.ok("PATCH", path, json={"limits": {"max_mailboxes": None}})["limits"]["max_mailboxes"]
        is None
    )
    other = api.tenant_admin(api.tenant()["id"])
    assert other.get(f"{path}/usage").status_code == 404


def test_counts_are_limited(api: Api) -> None:
    """Defect fixed: a tenant could create unlimited domains, mailboxes and aliases."""
    tenant = api.tenant()
    api.ok(
        "PATCH",
        f"/api/v1/tenants/{tenant['id']}",
        json={"limits": {"max_domains": 2, "max_mailboxes": 1, "max_aliases": 1}},
    )
    admin = api.tenant_admin(tenant["id"])
    domain = admin.ok("POST", "/api/v1/mail/domains", 201, json={"domain": f"a{tenant['id']}.test"})
    admin.ok(
        "POST",
        f"/api/v1/mail/domains/{domain['id']}/alias-domains",
        201,
        json={"name": f"b{tenant['id']}.test"},
    )
    for response in (
        admin.post("/api/v1/mail/domains", json={"domain": f"c{tenant['id']}.test"}),
        admin.post(
            f"/api/v1/mail/domains/{domain['id']}/alias-domains",
            json={"name": f"d{tenant['id']}.test"},
        ),
    ):
        _refused(response, 409, "limit_reached")
        assert response.json()["limit"] == "max_domains"
    accounts = f"/api/v1/mail/domains/{domain['id']}/accounts"
    admin.ok("POST", accounts, 201, json={"local_part": "one", "password": "correct-horse-1"})
    again = admin.post(accounts, json={"local_part": "two", "password": "correct-horse-1"})
    _refused(again, 409, "limit_reached")
    assert (again.json()["limit"], again.json()["max"]) == ("max_mailboxes", 1)
    aliases = f"/api/v1/mail/domains/{domain['id']}/aliases"
    admin.ok("POST", aliases, 201, json={"source": "a", "destination": "x@example.org"})
    _refused(
        admin.post(aliases, json={"source": "b", "destination": "x@example.org"}),
        409,
        "limit_reached",
    )
    # The operator is bound by the limits it set as well; raising them makes room.
    _refused(
        api.post(accounts, json={"local_part": "two", "password": "correct-horse-1"}),
        409,
        "limit_reached",
    )
    api.ok("PATCH", f"/api/v1/tenants/{tenant['id']}", json={"limits": {"max_mailboxes": 2}})
    admin.ok("POST", accounts, 201, json={"local_part": "two", "password": "correct-horse-1"})


def test_quota_is_limited(api: Api) -> None:
    """Defect fixed: unlimited mailboxes with unlimited quota."""
    tenant = api.tenant()
    api.ok(
        "PATCH",
        f"/api/v1/tenants/{tenant['id']}",
        json={"limits": {"max_quota_mb_per_mailbox": 500, "max_total_quota_mb": 800}},
    )
    admin = api.tenant_admin(tenant["id"])
    domain = api.domain(tenant["id"])
    accounts = f"/api/v1/mail/domains/{domain['id']}/accounts"

    def create(local: str, quota: int) -> Any:
        return admin.post(
            accounts, json={"local_part": local, "password": "correct-horse-1", "quota_mb": quota}
        )

    for quota, limit in ((0, "max_quota_mb_per_mailbox"), (501, "max_quota_mb_per_mailbox")):
        response = create("big", quota)
        _refused(response, 409, "limit_reached")
        assert response.json()["limit"] == limit
    first = create("first", 500).json()
    response = create("second", 400)
    _refused(response, 409, "limit_reached")
    assert response.json()["limit"] == "max_total_quota_mb"
    second = create("second", 300).json()
    # Raising a quota past the total is refused; lowering one always works.
    raise_ = admin.put(f"/api/v1/mail/accounts/{second['id']}", json={"quota_mb": 400})
    _refused(raise_, 409, "limit_reached")
    _refused(
        admin.put(f"/api/v1/mail/accounts/{second['id']}", json={"quota_mb": 0}),
        409,
        "limit_reached",
    )
    admin.ok("PUT", f"/api/v1/mail/accounts/{first['id']}", json={"quota_mb": 100})
    admin.ok("PUT", f"/api/v1/mail/accounts/{second['id']}", json={"quota_mb": 400})
    usage = admin.ok("GET", f"/api/v1/tenants/{tenant['id']}/usage")["usage"]
    assert (usage["mailboxes"], usage["total_quota_mb"]) == (2, 500)

    # Without a per-mailbox limit, the total alone still forbids an unlimited mailbox.
    api.ok(
        "PATCH",
        f"/api/v1/tenants/{tenant['id']}",
        json={"limits": {"max_quota_mb_per_mailbox": None}},
    )
    response = create("third", 0)
    _refused(response, 409, "limit_reached")
    assert response.json()["limit"] == "max_total_quota_mb"


def test_parallel_creates_do_not_overrun_a_limit(api: Api) -> None:
    """Counted inside the write transaction with the tenant locked: of 12 parallel creates
    against a limit of 3, exactly 3 succeed and the others get 409, none a 5xx."""
    tenant = api.tenant()
    api.ok("PATCH", f"/api/v1/tenants/{tenant['id']}", json={"limits": {"max_mailboxes": 3}})
    domain = api.domain(tenant["id"])

    def create(i: int) -> int:
        return api.post(
            f"/api/v1/mail/domains/{domain['id']}/accounts",
            json={"local_part": f"user{i}", "password": "correct-horse-1"},
        ).status_code

    with ThreadPoolExecutor(max_workers=12) as pool:
        statuses = Counter(pool.map(create, range(12)))
    assert statuses == {201: 3, 409: 9}
    listed = api.ok("GET", f"/api/v1/mail/domains/{domain['id']}/accounts")["items"]
    assert len(listed) == 3
