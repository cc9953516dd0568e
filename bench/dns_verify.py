"""Benchmark: verify many domains against a local Knot server.

Runs, side by side in one process and against the same Knot server and zone:
  * mailplane: ``dns.scheduler.run_pending`` over N domains (claim from the database, every
    check with SPF evaluation, state machine, results written back), at a chosen concurrency;
  * reference: the same DNS questions asked with plain dnspython at the same concurrency,
    with no evaluation and no database: the floor that DNS itself costs.
Prints domains/s for both, their ratio, the time for one domain alone, and one JSON object
as its last line.

    .venv/bin/python bench/dns_verify.py            # 5,000 domains
    .venv/bin/python bench/dns_verify.py --quick    # 500 domains, well under a minute
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import dns.message  # noqa: E402
import dns.query  # noqa: E402
from sqlalchemy import func, select  # noqa: E402
from tests.support.knot import Knot, knot_server, rdata  # noqa: E402

from mailplane import migrations  # noqa: E402
from mailplane.config import Settings  # noqa: E402
from mailplane.db import Database  # noqa: E402
from mailplane.dkim import keys as dkim_keys  # noqa: E402
from mailplane.domains.records import records_for  # noqa: E402
from mailplane.domains.verification import scheduler  # noqa: E402
from mailplane.domains.verification.state import check, snapshot  # noqa: E402
from mailplane.models import DkimKey, Domain, Tenant  # noqa: E402
from mailplane.protocols.dns.resolver import DnsClient  # noqa: E402

ZONE = "bench.test"
PLATFORM = "mailplane.test"
PLATFORM_RECORDS = [
    {"type": "A", "name": f"mail.{PLATFORM}", "value": "192.0.2.10"},
    {"type": "AAAA", "name": f"mail.{PLATFORM}", "value": "2001:db8::10"},
    {
        "type": "TXT",
        "name": f"_spf.{PLATFORM}",
        "value": "v=spf1 ip4:192.0.2.10 ip6:2001:db8::10 -all",
    },
]


def settings_for(state_dir: Path, knot: Knot) -> Settings:
    return Settings(
        env="test",
        state_dir=state_dir,
        secret_key="x" * 48,
        dns_resolvers=["127.0.0.1"],
        dns_port=knot.port,
        mail_hostname=f"mail.{PLATFORM}",
        mx_hosts=[f"mail.{PLATFORM}"],
        sending_ips=["192.0.2.10", "2001:db8::10"],
        spf_include=f"_spf.{PLATFORM}",
    )


def populate(settings: Settings, database: Database, knot: Knot, count: int) -> list[str]:
    """N domains in the database (one shared key: generating 5,000 RSA keys is not the
    point) and their records in one Knot zone, as customers would have published them."""
    pair = dkim_keys.generate("rsa-2048")
    names = [f"d{i:05d}.{ZONE}" for i in range(count)]
    lines = [
        f"$ORIGIN {ZONE}.",
        "$TTL 300",
        f"@ SOA ns.{ZONE}. hostmaster.{ZONE}. 1 3600 600 86400 60",
        f"@ NS ns.{ZONE}.",
        "ns A 127.0.0.1",
    ]
    with database.transaction() as session:
        tenant = Tenant(name="bench")
        session.add(tenant)
        session.flush()
        for name in names:
            domain = Domain(tenant_id=tenant.id, name=name, created_at=datetime.now(UTC))
            session.add(domain)
            session.flush()
            key = DkimKey(
                domain_id=domain.id,
                selector="mp1",
                algorithm="rsa-2048",
                private_key_pem=pair.private_key_pem,
                public_key_b64=pair.public_key_b64,
                status="active",
            )
            session.add(key)
            for record in records_for(domain, [key], settings):
                value = rdata(record.type, record.value, record.priority)
                lines.append(f"{record.name}. 300 IN {record.type} {value}")
    path = knot.root / "zones" / f"{ZONE}.zone"
    path.write_text("\n".join(lines) + "\n")
    shutil.chown(path, "knot", "knot")
    knot.knotc("conf-begin")
    knot.knotc("conf-set", f"zone[{ZONE}]")
    knot.knotc("conf-commit")
    knot.wait_for(names[-1], "MX", timeout=60)
    return names


def reference_questions(name: str) -> list[tuple[str, str]]:
    """The questions one verification asks (SPF: per sending IP, TXT + MX + address)."""
    spf = [(name, "TXT"), (name, "MX"), (f"mail.{PLATFORM}", "A")]
    spf += [(name, "TXT"), (name, "MX"), (f"mail.{PLATFORM}", "AAAA")]
    return [
        (name, "MX"),
        *spf,
        (f"mp1._domainkey.{name}", "TXT"),
        (f"_dmarc.{name}", "TXT"),
        (f"autoconfig.{name}", "CNAME"),
        (f"autodiscover.{name}", "CNAME"),
        (f"_submissions._tcp.{name}", "SRV"),
        (f"_submission._tcp.{name}", "SRV"),
        (f"_imaps._tcp.{name}", "SRV"),
        (f"_imap._tcp.{name}", "SRV"),
    ]


def reference_run(port: int, names: list[str], concurrency: int) -> float:
    def one(name: str) -> None:
        for qname, rtype in reference_questions(name):
            response = dns.query.udp(
                dns.message.make_query(qname, rtype), "127.0.0.1", port=port, timeout=2
            )
            assert response.answer, (qname, rtype)

    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        list(pool.map(one, names))
    return len(names) / (time.perf_counter() - started)


def single_domain_ms(settings: Settings, database: Database, name: str) -> float:
    client = DnsClient.from_settings(settings)
    with database.session(write=False) as session:
        domain = session.scalars(select(Domain).where(Domain.name == name)).one()
        snap = snapshot(session, settings, domain)
    timings = []
    for _ in range(20):
        started = time.perf_counter()
        report = check(client, settings, snap)
        timings.append((time.perf_counter() - started) * 1000)
    assert report.outcome == "ok", report.as_dict()
    return statistics.median(timings)


def mailplane_run(settings: Settings, database: Database, count: int, concurrency: int) -> float:
    now = datetime.now(UTC) + timedelta(days=1)
    started = time.perf_counter()
    checked = scheduler.run_pending(settings, database, now=now, concurrency=concurrency)
    elapsed = time.perf_counter() - started
    with database.session(write=False) as session:
        verified = session.scalar(
            select(func.count()).where(Domain.verification_status == "verified")
        )
    assert checked == count, (checked, count)
    assert verified == count, (verified, count)
    print(f"mailplane run_pending: {checked} domains verified in {elapsed:.1f} s")
    return checked / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="500 domains")
    parser.add_argument("--domains", type=int, default=5000)
    parser.add_argument("--concurrency", type=int, default=8)
    args = parser.parse_args()
    count = 500 if args.quick else args.domains

    state_dir = Path(tempfile.mkdtemp(prefix="mp-bench-dns-"))
    try:
        with knot_server() as knot:
            knot.add_zone(PLATFORM, PLATFORM_RECORDS)
            settings = settings_for(state_dir, knot)
            migrations.upgrade(settings)
            database = Database(settings)
            t0 = time.perf_counter()
            names = populate(settings, database, knot, count)
            setup = time.perf_counter() - t0
            print(f"setup: {count} domains in the database and in Knot: {setup:.1f} s")
            single = single_domain_ms(settings, database, names[0])
            print(f"one domain alone: {single:.2f} ms (median of 20, DNS checks only)")
            reference = reference_run(knot.port, names, args.concurrency)
            print(f"reference (same questions, plain dnspython): {reference:.0f} domains/s")
            ours = mailplane_run(settings, database, count, args.concurrency)
            database.dispose()
    finally:
        shutil.rmtree(state_dir, ignore_errors=True)
    print(f"mailplane: {ours:.0f} domains/s at concurrency {args.concurrency}")
    print(f"ratio mailplane/reference: {ours / reference:.2f}")
    result = {
        "benchmark": "dns_verify",
        "domains": count,
        "concurrency": args.concurrency,
        "domains_per_s": round(ours, 1),
        "single_domain_ms": round(single, 2),
        "reference_domains_per_s": round(reference, 1),
        "ratio": round(ours / reference, 3),
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
