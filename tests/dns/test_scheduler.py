"""The periodic re-check (claims due domains, spreads the next check), an outage that
changes nothing, the pure state machine, the lexicon adapter's shape, and the CLI."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import select

from mailplane.config import Settings
from mailplane.db import Database
from mailplane.domains.verification import scheduler
from mailplane.domains.verification.state import next_state, verify
from mailplane.models import Domain
from mailplane.protocols.dns.publishers import LexiconPublisher
from mailplane.protocols.dns.records import DnsRecord
from mailplane.protocols.dns.resolver import DnsClient
from tests.dns.helpers import hosted_domain
from tests.support.api import Api
from tests.support.knot import Knot
from tests.support.ports import free_port


def _row(database: Database, domain_id: int) -> Domain:
    with database.session(write=False) as session:
        row = session.get(Domain, domain_id)
        assert row is not None
        return row


def test_periodic_check_takes_due_domains_and_spreads_the_next(
    dns_api: Api, knot: Knot, tenant: dict[str, Any], dns_settings: Settings, database: Database
) -> None:
    good = hosted_domain(dns_api, knot, tenant["id"])
    broken = hosted_domain(dns_api, knot, tenant["id"], publish=False)
    now = datetime.now(UTC) + timedelta(days=30)  # everything is due by then

    checked = scheduler.run_pending(dns_settings, database, now=now)

    assert checked >= 2
    good_row, broken_row = _row(database, good["id"]), _row(database, broken["id"])
    assert good_row.verification_status == "verified"
    assert good_row.last_checked_at == now
    assert broken_row.verification_status == "pending"
    assert broken_row.last_check_report is not None
    assert broken_row.last_check_report["outcome"] == "broken"
    # verified: every 6 h +-20 %; not verified: every 30 min +-20 %
    assert good_row.next_check_at is not None
    assert broken_row.next_check_at is not None
    assert timedelta(hours=4.8) <= good_row.next_check_at - now <= timedelta(hours=7.2)
    assert timedelta(minutes=24) <= broken_row.next_check_at - now <= timedelta(minutes=36)
    # Nothing is due any more at that instant: a second run checks nothing.
    assert scheduler.run_pending(dns_settings, database, now=now) == 0


def test_next_checks_are_spread_by_jitter(dns_settings: Settings) -> None:
    from mailplane.domains.verification.state import next_check_at

    now = datetime(2026, 1, 1, tzinfo=UTC)
    times = {next_check_at(dns_settings, "verified", now) for _ in range(50)}
    assert len(times) > 40
    assert min(times) >= now + timedelta(hours=4.8)
    assert max(times) <= now + timedelta(hours=7.2)


def test_a_dns_outage_changes_nothing(
    dns_api: Api, knot: Knot, tenant: dict[str, Any], dns_settings: Settings, database: Database
) -> None:
    domain = hosted_domain(dns_api, knot, tenant["id"])
    assert dns_api.ok("POST", f"/api/v1/mail/domains/{domain['id']}/verify")["outcome"] == "ok"
    dead = DnsClient(["127.0.0.1"], free_port(), 0.2)
    with database.transaction() as session:
        row = session.get(Domain, domain["id"])
        assert row is not None
        report = verify(
            session, dns_settings, row, datetime.now(UTC) + timedelta(days=10), dns=dead
        )
        assert report.outcome == "inconclusive"
        assert row.verification_status == "verified"
        assert row.failing_since is None
    spf = next(c for c in report.checks if c.check == "spf")
    assert spf.temporary
    assert "not a problem with your records" in spf.hint


def test_state_machine() -> None:
    now = datetime(2026, 1, 1, tzinfo=UTC)
    grace = timedelta(hours=72)
    assert next_state("pending", "ok", None, now, grace).state == "verified"
    assert next_state("pending", "broken", None, now, grace).state == "pending"
    failing = next_state("verified", "broken", None, now, grace)
    assert failing.state == "failing"
    assert failing.failing_since == now
    assert (
        next_state("failing", "broken", now, now + grace - timedelta(seconds=1), grace).state
        == "failing"
    )
    assert next_state("failing", "broken", now, now + grace, grace).state == "sending_disabled"
    assert next_state("failing", "inconclusive", now, now + 2 * grace, grace).state == "failing"
    assert next_state("sending_disabled", "ok", now, now, grace).state == "verified"
    assert next_state("sending_disabled", "ok", now, now, grace).failing_since is None


class _RecordingOperations:
    """Stands in for dns-lexicon's client: no provider can be reached from the tests."""

    def __init__(self, existing: list[dict[str, Any]]) -> None:
        self.existing = existing
        self.calls: list[tuple[str, Any]] = []

    def __call__(self, config: dict[str, Any]) -> _RecordingOperations:
        self.config = config
        return self

    def __enter__(self) -> _RecordingOperations:
        return self

    def __exit__(self, *args: object) -> None:
        return None

    def list_records(self, rtype: str, name: str) -> list[dict[str, Any]]:
        return [r for r in self.existing if r["type"] == rtype and r["name"] == name]

    def delete_record(self, **kwargs: Any) -> bool:
        self.calls.append(("delete", kwargs["content"]))
        return True

    def create_record(self, rtype: str, name: str, content: str) -> bool:
        self.calls.append(("create", (rtype, name, content)))
        return True


def test_lexicon_adapter_shape() -> None:
    """Only the mapping onto lexicon's operations is tested; no provider is exercised."""
    ops = _RecordingOperations(
        [
            {"id": "1", "type": "TXT", "name": "ex.test", "content": "v=spf1 -all"},
            {"id": "2", "type": "TXT", "name": "ex.test", "content": "site-verification=x"},
            {"id": "3", "type": "MX", "name": "ex.test", "content": "old.example.net"},
        ]
    )
    publisher = LexiconPublisher("cloudflare", "ex.test", {"auth_token": "t"}, 300, operations=ops)
    publisher.publish(
        [
            DnsRecord("TXT", "ex.test", "v=spf1 mx -all", "spf"),
            DnsRecord("MX", "ex.test", "mail.p.test", "mx", priority=10),
        ]
    )
    assert ops.config == {
        "provider_name": "cloudflare",
        "domain": "ex.test",
        "delegated": "ex.test",
        "ttl": 300,
        "cloudflare": {"auth_token": "t"},
    }
    assert ops.calls == [
        ("delete", "v=spf1 -all"),
        ("create", ("TXT", "ex.test", "v=spf1 mx -all")),
        ("delete", "old.example.net"),
        ("create", ("MX", "ex.test", "mail.p.test.")),
    ]
    ops.calls.clear()
    publisher.remove([DnsRecord("TXT", "ex.test", "v=spf1 mx -all", "spf")])
    assert ops.calls == [("delete", "v=spf1 mx -all")]


def test_cli_verify(
    dns_api: Api, knot: Knot, tenant: dict[str, Any], dns_settings: Settings, database: Database
) -> None:
    good = hosted_domain(dns_api, knot, tenant["id"])
    broken = hosted_domain(dns_api, knot, tenant["id"], publish=False)
    env = {
        **os.environ,
        "MAILPLANE_ENV": "test",
        "MAILPLANE_STATE_DIR": str(dns_settings.state_dir),
        "MAILPLANE_SECRET_KEY": dns_settings.effective_secret(),
        "MAILPLANE_DNS_RESOLVERS": json.dumps(["127.0.0.1"]),
        "MAILPLANE_DNS_PORT": str(knot.port),
        "MAILPLANE_MX_HOSTS": json.dumps(dns_settings.mx_hosts),
        "MAILPLANE_MAIL_HOSTNAME": dns_settings.mail_hostname,
        "MAILPLANE_SENDING_IPS": json.dumps(dns_settings.sending_ip_texts),
        "MAILPLANE_SPF_INCLUDE": dns_settings.spf_include or "",
    }
    if dns_settings.database_url:
        env["MAILPLANE_DATABASE_URL"] = dns_settings.database_url.get_secret_value()
    mailplane = str(Path(sys.executable).parent / "mailplane")
    ok = subprocess.run(
        [mailplane, "dns", "verify", good["domain"]], env=env, capture_output=True, text=True
    )
    assert ok.returncode == 0, ok.stderr
    assert ok.stdout.splitlines()[0] == f"{good['domain_ascii']}\tverified\tok"
    bad = subprocess.run(
        [mailplane, "dns", "verify", broken["domain"]], env=env, capture_output=True, text=True
    )
    assert bad.returncode == 1
    assert f"error   MX {broken['domain_ascii']}: Publish MX records" in bad.stdout
    everything = subprocess.run(
        [mailplane, "dns", "verify", "--all"], env=env, capture_output=True, text=True
    )
    assert everything.returncode == 1  # some domains in this database are broken
    assert f"{good['domain_ascii']}\tverified\tok" in everything.stdout.splitlines()
    assert f"{broken['domain_ascii']}\tpending\tbroken" in everything.stdout.splitlines()
    missing = subprocess.run(
        [mailplane, "dns", "verify", "nope.test"], env=env, capture_output=True, text=True
    )
    assert missing.returncode == 1
    assert "not hosted here: nope.test" in missing.stderr
    with database.session(write=False) as session:
        assert (
            session.scalar(select(Domain.verification_status).where(Domain.id == good["id"]))
            == "verified"
        )


def test_run_forever_stops_when_told(dns_settings: Settings, database: Database) -> None:
    import threading

    stop = threading.Event()
    worker = threading.Thread(
        target=scheduler.run_forever, args=(dns_settings, database, stop, 0.05), daemon=True
    )
    worker.start()
    stop.set()
    worker.join(timeout=30)
    assert not worker.is_alive()


def _publish_with_spf(knot: Knot, domain: dict[str, Any], spf: str) -> None:
    knot.add_zone(
        domain["domain_ascii"],
        [
            {**r, "value": spf} if r["value"].startswith("v=spf1") else r
            for r in domain["dns_records"]
        ],
    )


def test_one_tenants_bad_spf_record_never_stops_the_batch(
    dns_api: Api, knot: Knot, tenant: dict[str, Any], dns_settings: Settings, database: Database
) -> None:
    goods = [hosted_domain(dns_api, knot, tenant["id"]) for _ in range(3)]
    bad = dns_api.domain(tenant["id"])
    # "//32" on ip4 once raised inside the SPF evaluator and took the whole batch with it.
    _publish_with_spf(knot, bad, "v=spf1 ip4:192.0.2.10//32 include:_spf.mailplane.test -all")
    now = datetime.now(UTC) + timedelta(days=60)

    scheduler.run_pending(dns_settings, database, now=now)

    assert [_row(database, g["id"]).verification_status for g in goods] == ["verified"] * 3
    report = _row(database, bad["id"]).last_check_report
    assert report is not None
    spf = next(c for c in report["checks"] if c["check"] == "spf")
    assert spf["status"] == "error"
    assert "invalid CIDR length //32" in spf["hint"]


class _FailingFor(DnsClient):
    """Knot's answers, except that asking about one zone raises what no code path expects:
    a stand-in for a bug hit by one tenant's records."""

    def __init__(self, port: int, zone: str) -> None:
        super().__init__(["127.0.0.1"], port, 2.0)
        self.zone = zone

    def _exchange(self, query: Any) -> list[object]:
        if query.question[0].name.to_text().rstrip(".").endswith(self.zone):
            raise RuntimeError("unexpected failure")
        return super()._exchange(query)


def test_an_unexpected_error_is_contained_to_its_domain(
    dns_api: Api, knot: Knot, tenant: dict[str, Any], dns_settings: Settings, database: Database
) -> None:
    goods = [hosted_domain(dns_api, knot, tenant["id"]) for _ in range(2)]
    failing = hosted_domain(dns_api, knot, tenant["id"])
    now = datetime.now(UTC) + timedelta(days=90)

    dns = _FailingFor(knot.port, failing["domain_ascii"])
    scheduler.run_pending(dns_settings, database, now=now, dns=dns)

    assert [_row(database, g["id"]).verification_status for g in goods] == ["verified"] * 2
    row = _row(database, failing["id"])
    assert row.verification_status == "pending"  # inconclusive: the state does not move
    assert row.last_check_report is not None
    assert row.last_check_report["outcome"] == "inconclusive"
    decisive = [c for c in row.last_check_report["checks"] if c["decisive"]]
    assert decisive
    assert all(c["temporary"] for c in decisive if c["status"] == "error")
    assert "internal error" in " ".join(c["hint"] for c in decisive)
