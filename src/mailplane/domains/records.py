"""The DNS records a customer publishes for a hosted domain, derived from the domain row,
its DKIM keys and the platform settings (never stored: they follow the settings)."""

from __future__ import annotations

from mailplane.config import Settings
from mailplane.dkim import keys as dkim_keys
from mailplane.models import DkimKey, Domain
from mailplane.protocols.dns.records import DnsRecord


def spf_value(settings: Settings) -> str:
    if settings.spf_include:
        return f"v=spf1 mx include:{settings.spf_include} -all"
    mechanisms = " ".join(f"ip{ip.version}:{ip}" for ip in settings.sending_ips)
    return f"v=spf1 mx {mechanisms} -all".replace("  ", " ")


def dmarc_value(domain: str, settings: Settings) -> str:
    rua = settings.dmarc_rua or f"postmaster@{domain}"
    return f"v=DMARC1; p={settings.dmarc_policy}; rua=mailto:{rua}; adkim=r; aspf=r"


# Where a tenant publishes its ownership token (docs/dns.md, "Ownership").
OWNERSHIP_LABEL = "_mailplane-challenge"
OWNERSHIP_PREFIX = "mailplane-ownership="


def ownership_record_name(name: str) -> str:
    return f"{OWNERSHIP_LABEL}.{name}"


def ownership_record(name: str, token: str) -> DnsRecord:
    """Proves the name is the tenant's. MX records pointing at the platform prove it too, so
    this one is optional; it lets a domain receive before its MX records move here."""
    return DnsRecord(
        "TXT",
        ownership_record_name(name),
        f"{OWNERSHIP_PREFIX}{token}",
        "ownership proof (or point the MX records at this platform)",
        required=False,
    )


def records_for(domain: Domain, keys: list[DkimKey], settings: Settings) -> list[DnsRecord]:
    name = domain.name
    host = settings.mail_hostname
    records = [
        DnsRecord("MX", name, mx, "inbound mail", priority=10 * (i + 1))
        for i, mx in enumerate(settings.mx_hosts)
    ]
    records.append(ownership_record(name, domain.ownership_token))
    records.append(DnsRecord("TXT", name, spf_value(settings), "SPF: authorizes the platform"))
    records.append(DnsRecord("TXT", f"_dmarc.{name}", dmarc_value(name, settings), "DMARC policy"))
    for key in keys:
        if key.status in ("active", "pending", "retiring"):
            records.append(
                DnsRecord(
                    "TXT",
                    f"{key.selector}._domainkey.{name}",
                    dkim_keys.txt_value(key.algorithm, key.public_key_b64),
                    f"DKIM public key ({key.algorithm}, {key.status})",
                )
            )
    records += [
        DnsRecord("CNAME", f"autoconfig.{name}", host, "Thunderbird autoconfig", required=False),
        DnsRecord("CNAME", f"autodiscover.{name}", host, "Outlook autodiscover", required=False),
        # RFC 6186 service records; RFC 8314 prefers implicit TLS (submissions, imaps).
        DnsRecord(
            "SRV",
            f"_submissions._tcp.{name}",
            f"0 1 {settings.public_submission_port} {host}",
            "RFC 8314",
            False,
            0,
        ),
        DnsRecord(
            "SRV",
            f"_submission._tcp.{name}",
            f"0 1 {settings.public_submission_starttls_port} {host}",
            "RFC 6186",
            False,
            10,
        ),
        DnsRecord(
            "SRV",
            f"_imaps._tcp.{name}",
            f"0 1 {settings.public_imap_port} {host}",
            "RFC 6186",
            False,
            0,
        ),
        DnsRecord("SRV", f"_imap._tcp.{name}", f"0 1 143 {host}", "RFC 6186", False, 10),
        DnsRecord("SRV", f"_pop3._tcp.{name}", "0 0 0 .", "RFC 6186: POP3 not offered", False, 0),
    ]
    if settings.mta_sts_mode != "none":
        records += [
            DnsRecord(
                "TXT",
                f"_mta-sts.{name}",
                f"v=STSv1; id={int(domain.created_at.timestamp())}",
                "MTA-STS (RFC 8461)",
                required=False,
            ),
            DnsRecord("CNAME", f"mta-sts.{name}", host, "MTA-STS policy host", required=False),
            DnsRecord(
                "TXT",
                f"_smtp._tls.{name}",
                f"v=TLSRPTv1; rua=mailto:tlsrpt@{name}",
                "TLS reporting (RFC 8460)",
                required=False,
            ),
        ]
    return records
