"""What leaves: signed by the From domain's active key (verified by dkimpy against the
key Knot serves), never signed by anyone else, and with the right envelope sender for
each source."""

from __future__ import annotations

from datetime import UTC, datetime

import dkim
import pytest
from sqlalchemy import select

from mailplane.db import Database
from mailplane.dkim import keys
from mailplane.dkim.keys import Algorithm
from mailplane.models import AliasDomain, DkimKey, Domain, Tenant
from mailplane.models.statuses import MessageSource
from tests.delivery.conftest import MX1, EngineSettings
from tests.delivery.support import deliver, knot_txt, mx_zone, queue
from tests.support.knot import Knot
from tests.support.mx import RemoteMx


def sending_domain(
    database: Database, knot: Knot, name: str, algorithm: Algorithm, verification: str
) -> None:
    """A hosted domain with an active key, its TXT record published by Knot."""
    pair = keys.generate(algorithm)
    with database.transaction() as session:
        tenant = Tenant(name=f"tenant {name}")
        session.add(tenant)
        session.flush()
        domain = Domain(
            tenant_id=tenant.id,
            name=name,
            owned_at=datetime.now(UTC),
            ownership_method="operator",
            verification_status=verification,
        )
        session.add(domain)
        session.flush()
        session.add(
            DkimKey(
                domain_id=domain.id,
                selector="mp1",
                algorithm=algorithm,
                private_key_pem=pair.private_key_pem,
                public_key_b64=pair.public_key_b64,
                status="active",
            )
        )
    mx_zone(knot, name, [(10, "mx")], {"mx": MX1})
    knot.update(
        name,
        replace=[
            (
                f"mp1._domainkey.{name}",
                "TXT",
                [
                    " ".join(
                        f'"{c}"'
                        for c in keys.split_txt(keys.txt_value(algorithm, pair.public_key_b64))
                    )
                ],
            )
        ],
    )
    knot.wait_for(f"mp1._domainkey.{name}", "TXT")


@pytest.mark.parametrize("algorithm", ["rsa-2048", "ed25519"])
def test_signed_by_the_from_domain_and_verified_by_dkimpy(
    engine_settings: EngineSettings,
    database: Database,
    knot: Knot,
    mx1: RemoteMx,
    uid: str,
    algorithm: Algorithm,
) -> None:
    name = f"signs-{algorithm}-{uid}.test"
    sending_domain(database, knot, name, algorithm, "verified")
    ids = queue(database, [f"ok-{uid}@{name}"], sender=f"news@{name}", sign_domain=name)
    [row] = deliver(engine_settings(), database, ids)
    assert row.status == "delivered"
    [received] = mx1.to(f"ok-{uid}@{name}")
    assert received.data.startswith(b"DKIM-Signature: v=1; a=")
    assert f"d={name}; s=mp1;".encode() in received.data
    assert dkim.verify(received.data, dnsfunc=knot_txt(knot))


def test_a_domain_that_may_not_send_any_more_is_failed_not_sent_unsigned(
    engine_settings: EngineSettings, database: Database, knot: Knot, mx1: RemoteMx, uid: str
) -> None:
    name = f"disabled-{uid}.test"
    sending_domain(database, knot, name, "ed25519", "sending_disabled")
    ids = queue(database, [f"ok-{uid}@{name}"], sender=f"news@{name}", sign_domain=name)
    [row] = deliver(engine_settings(), database, ids)
    assert row.status == "failed"
    assert f"sending domain {name} may not send now" in (row.last_reply or "")
    assert mx1.to(f"ok-{uid}@{name}") == []


def test_forwards_keep_their_srs_sender_and_dsns_the_null_sender_unsigned(
    engine_settings: EngineSettings, database: Database, knot: Knot, mx1: RemoteMx, uid: str
) -> None:
    zone = f"fwd-{uid}.test"
    mx_zone(knot, zone, [(10, "mx")], {"mx": MX1})
    srs = "SRS0=abcd=XY=origin.test=someone@bounces.mailplane.test"
    forwarded = queue(
        database,
        [f"ok-fwd-{uid}@{zone}"],
        source=MessageSource.FORWARD,
        envelope_from=srs,
        sign_domain=None,
    )
    notice = queue(database, [f"ok-dsn-{uid}@{zone}"], source=MessageSource.DSN, envelope_from="")
    rows = deliver(engine_settings(), database, forwarded + notice)
    assert [r.status for r in rows] == ["delivered", "delivered"]
    [fwd] = mx1.to(f"ok-fwd-{uid}@{zone}")
    [dsn] = mx1.to(f"ok-dsn-{uid}@{zone}")
    assert fwd.mail_from == srs
    assert dsn.mail_from == "<>"
    assert b"DKIM-Signature" not in fwd.data + dsn.data


def test_an_alias_domain_sender_is_told_to_write_from_the_domain_itself(
    engine_settings: EngineSettings, database: Database, knot: Knot, mx1: RemoteMx, uid: str
) -> None:
    """An alias domain has no key of its own, and its target's key would not be aligned
    with the From: the delivery fails with a reason the writer can act on."""
    name = f"target-{uid}.test"
    alias = f"alias-{uid}.test"
    sending_domain(database, knot, name, "ed25519", "verified")
    with database.transaction() as session:
        domain = session.scalars(select(Domain).where(Domain.name == name)).one()
        session.add(
            AliasDomain(
                tenant_id=domain.tenant_id,
                domain_id=domain.id,
                name=alias,
                owned_at=datetime.now(UTC),
                ownership_method="operator",
            )
        )
    ids = queue(database, [f"ok-{uid}@{name}"], sender=f"news@{alias}", sign_domain=alias)
    [row] = deliver(engine_settings(), database, ids)
    assert row.status == "failed"
    assert f"{alias} is an alias domain" in (row.last_reply or "")
    assert f"write from an address at {name}" in (row.last_reply or "")
    assert mx1.to(f"ok-{uid}@{name}") == []
