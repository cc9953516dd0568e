"""The checks behind domain verification. Pure with respect to the database: they take the
domain's name, its DKIM keys and the records mailplane expects, ask DNS, and return values.

Each check says what was expected, what was found, ok/warning/error and a hint a customer can
act on. Only MX, SPF and DKIM are *decisive* (they decide whether the domain may send);
DMARC, autoconfig, autodiscover and SRV only warn.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from typing import Any, Literal, Protocol

import dkim.util

from mailplane.config import Settings
from mailplane.dkim import keys as dkim_keys
from mailplane.domains.records import OWNERSHIP_PREFIX, ownership_record_name, spf_value
from mailplane.protocols.dns.errors import DnsTransientError
from mailplane.protocols.dns.records import DnsRecord
from mailplane.protocols.dns.resolver import DnsClient
from mailplane.protocols.dns.spf import SpfEvaluator

log = logging.getLogger(__name__)

Status = Literal["ok", "warning", "error"]

# Shared by every verification in the process. Its tasks never wait on each other, so
# callers from other pools (the scheduler's) cannot deadlock on it.
_CHECKS = ThreadPoolExecutor(max_workers=16, thread_name_prefix="dns-check")
Outcome = Literal["ok", "broken", "inconclusive"]


class KeyLike(Protocol):
    @property
    def selector(self) -> str: ...
    @property
    def algorithm(self) -> str: ...
    @property
    def public_key_b64(self) -> str: ...
    @property
    def status(self) -> str: ...


@dataclass
class Check:
    check: str  # mx | spf | dkim | dmarc | autoconfig | autodiscover | srv
    record: str  # e.g. "TXT example.com"
    expected: str
    found: str | None
    status: Status
    hint: str
    decisive: bool = False
    temporary: bool = False  # a DNS failure, not a verdict about the records
    details: dict[str, Any] = field(default_factory=dict)


@dataclass
class Report:
    domain: str
    outcome: Outcome
    checks: list[Check]
    # The pending DKIM selector found correctly published, to be switched to for signing.
    dkim_ready_selector: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "domain": self.domain,
            "outcome": self.outcome,
            "dkim_ready_selector": self.dkim_ready_selector,
            "checks": [asdict(c) for c in self.checks],
        }


def _guard(make: Callable[[], list[Check]], fallback: Check) -> list[Check]:
    """A DNS outage yields an error marked temporary, never a verdict about the records."""
    try:
        return make()
    except DnsTransientError as exc:
        fallback.status = "error"
        fallback.temporary = True
        fallback.hint = (
            f"DNS lookup failed ({exc}); this is not a problem with your records, "
            "mailplane retries later."
        )
        return [fallback]


def check_mx(dns: DnsClient, domain: str, settings: Settings) -> list[Check]:
    expected_hosts = [h.rstrip(".").lower() for h in settings.mx_hosts]
    expected = ", ".join(f"{10 * (i + 1)} {h}" for i, h in enumerate(expected_hosts))
    check = Check("mx", f"MX {domain}", expected, None, "error", "", decisive=True)

    def run() -> list[Check]:
        records = dns.mx(domain)
        check.found = ", ".join(f"{r.preference} {r.exchange or '.'}" for r in records) or None
        ours = [r for r in records if r.exchange in expected_hosts]
        foreign = [r.exchange or "." for r in records if r.exchange not in expected_hosts]
        if not records:
            check.hint = f"Publish MX records for {domain}: {expected}."
        elif not ours:
            check.hint = (
                f"The MX records of {domain} point at {', '.join(foreign)}, not at this "
                f"platform. Replace them with: {expected}."
            )
        elif foreign:
            check.status = "warning"
            check.hint = (
                f"Some mail for {domain} goes to {', '.join(foreign)} instead of this platform; "
                "remove those MX records unless that is intended."
            )
        else:
            check.status, check.hint = "ok", ""
        return [check]

    return _guard(run, check)


def check_ownership(dns: DnsClient, name: str, settings: Settings, token: str) -> Check:
    """Whether DNS shows ``name`` to be the tenant's: its MX records point at the platform,
    or the ownership token is published. Not decisive for sending; state.py records the
    proof on the domain or alias domain, which then becomes a local destination."""
    record = ownership_record_name(name)
    expected = f"{OWNERSHIP_PREFIX}{token}"
    check = Check("ownership", f"TXT {record}", expected, None, "error", "")
    check.details = {"name": name}
    platform = {h.rstrip(".").lower() for h in settings.mx_hosts}

    def run() -> list[Check]:
        exchanges = [r.exchange for r in dns.mx(name)]
        if any(exchange in platform for exchange in exchanges):
            check.found = "MX " + ", ".join(e for e in exchanges if e in platform)
            check.status, check.details["method"] = "ok", "mx"
            return [check]
        values = dns.txt(record)
        check.found = " | ".join(values) or None
        if expected in values:
            check.status, check.details["method"] = "ok", "txt"
            return [check]
        check.hint = (
            f"{name} receives no mail here until it is shown to be yours: publish a TXT record "
            f"at {record}: {expected} (or point its MX records at this platform), then verify."
        )
        if values:
            check.hint += " The TXT record found there holds another value."
        return [check]

    return _guard(run, check)[0]


def check_spf(dns: DnsClient, domain: str, settings: Settings) -> list[Check]:
    expected = spf_value(settings)
    check = Check("spf", f"TXT {domain}", expected, None, "error", "", decisive=True)

    def run() -> list[Check]:
        evaluator = SpfEvaluator(dns)
        sender = f"postmaster@{domain}"
        outcomes = {
            ip: evaluator.check_host(ip, domain, sender, settings.mail_hostname)
            for ip in settings.sending_ip_texts
        }
        check.found = next((o.record for o in outcomes.values() if o.record), None)
        check.details = {
            ip: {"result": o.result, "reason": o.reason, "lookups": o.lookups}
            for ip, o in outcomes.items()
        }
        authorize = (
            f"include:{settings.spf_include}"
            if settings.spf_include
            else " ".join(f"ip{ip.version}:{ip}" for ip in settings.sending_ips)
        )
        for ip, outcome in outcomes.items():
            if outcome.result == "pass":
                continue
            if outcome.result == "temperror":
                raise DnsTransientError(outcome.reason)
            if outcome.result == "none":
                check.hint = f"Publish a TXT record at {domain}: {expected}"
            elif outcome.result == "permerror":
                check.hint = (
                    f"The SPF record of {domain} is invalid: {outcome.reason}. Receivers treat "
                    f"it as a permanent error. Publish a valid record, for example: {expected}"
                )
            else:
                check.hint = (
                    f"The SPF record of {domain} does not authorize this platform's sending "
                    f"address {ip} (result: {outcome.result}). Add '{authorize}' before the "
                    f"final 'all', for example: {expected}"
                )
            return [check]
        check.status, check.hint = "ok", ""
        return [check]

    return _guard(run, check)


def _dkim_tags(value: str) -> dict[str, str]:
    """A tag=value list (RFC 6376 section 3.2), read by dkimpy's parser, the one receivers
    using dkimpy apply: a tag given twice ("p=A; p=B") makes the whole record invalid, so it
    is an error here too, never "whichever came last"."""
    try:
        parsed = dkim.util.parse_tag_value(value.encode())
    except dkim.util.DuplicateTag as exc:
        name = exc.args[0].decode(errors="replace") if exc.args else "?"
        raise ValueError(f"the tag '{name}=' appears more than once") from exc
    except dkim.util.InvalidTagValueList as exc:
        spec = exc.args[0].decode(errors="replace").strip() if exc.args else value
        raise ValueError(f"'{spec}' is not a tag=value pair") from exc
    return {
        name.decode(errors="replace").lower(): "".join(tag.decode(errors="replace").split())
        for name, tag in parsed.items()
    }


def _check_one_key(dns: DnsClient, domain: str, key: KeyLike) -> Check:
    name = f"{key.selector}._domainkey.{domain}"
    expected = dkim_keys.txt_value(key.algorithm, key.public_key_b64)
    check = Check("dkim", f"TXT {name}", expected, None, "error", "")
    check.details = {"selector": key.selector, "key_status": key.status}
    values = dns.txt(name)
    check.found = " | ".join(values) or None
    if not values:
        check.hint = f"Publish a TXT record at {name}: {expected}"
        return check
    if len(values) > 1:
        check.hint = f"{name} has {len(values)} TXT records; keep only this one: {expected}"
        return check
    try:
        tags = _dkim_tags(values[0])
    except ValueError as exc:
        check.hint = f"The DKIM record at {name} is malformed ({exc}). Replace it with: {expected}"
        return check
    wanted_type = "ed25519" if key.algorithm == "ed25519" else "rsa"
    if tags.get("v", "DKIM1") != "DKIM1" or "p" not in tags:
        check.hint = (
            f"The DKIM record at {name} is not a valid DKIM1 key record (RFC 6376 section "
            f"3.6.1). Replace it with: {expected}"
        )
    elif not tags["p"]:
        check.hint = f"The key at {name} is revoked (empty p=). Publish: {expected}"
    elif tags.get("k", "rsa") != wanted_type:
        check.hint = (
            f"The record at {name} declares k={tags.get('k', 'rsa')}, but the key is "
            f"{wanted_type}. Replace it with: {expected}"
        )
    elif tags["p"] != key.public_key_b64:
        check.hint = (
            f"The public key published at {name} is not the key mailplane signs with (an old "
            f"key, or a copy error). Replace the record with: {expected}"
        )
    else:
        check.status, check.hint = "ok", ""
    return check


def _key_checks(dns: DnsClient, domain: str, key: KeyLike) -> list[Check]:
    return [_check_one_key(dns, domain, key)]


def check_dkim(dns: DnsClient, domain: str, keys: list[KeyLike]) -> tuple[list[Check], str | None]:
    """Checks the active key and any pending ones; returns the pending selector that is ready.

    The check of the key that will sign after this verification is the decisive one: the
    newest pending key when it is correctly published, otherwise the active key.
    """
    checked = [k for k in keys if k.status in ("active", "pending")]
    if not checked:
        return [
            Check(
                "dkim",
                f"TXT *._domainkey.{domain}",
                "a DKIM key",
                None,
                "error",
                "This domain has no DKIM key; rotate to create one.",
                decisive=True,
            )
        ], None
    results = []
    for key in checked:
        fallback = Check(
            "dkim",
            f"TXT {key.selector}._domainkey.{domain}",
            dkim_keys.txt_value(key.algorithm, key.public_key_b64),
            None,
            "error",
            "",
            details={"selector": key.selector, "key_status": key.status},
        )
        results.append((key, _guard(functools.partial(_key_checks, dns, domain, key), fallback)[0]))
    ready = [k for k, c in results if k.status == "pending" and c.status == "ok"]
    signer = ready[-1] if ready else next((k for k, _ in results if k.status == "active"), None)
    for key, check in results:
        check.decisive = key is signer
        if not check.decisive and check.status == "error" and not check.temporary:
            check.status = "warning"
            if key.status == "pending":
                check.hint += " Signing switches to this key once it is published."
            else:
                check.hint = "This key is being replaced by a newly published one; nothing to do."
    if signer is None:  # only pending keys, none published yet
        results[-1][1].decisive = True
        results[-1][1].status = "error"
    return [c for _, c in results], ready[-1].selector if ready else None


def check_dmarc(dns: DnsClient, domain: str, expected: str) -> list[Check]:
    name = f"_dmarc.{domain}"
    check = Check("dmarc", f"TXT {name}", expected, None, "warning", "")

    def run() -> list[Check]:
        records = [v for v in dns.txt(name) if v.replace(" ", "").upper().startswith("V=DMARC1")]
        check.found = " | ".join(records) or None
        if not records:
            check.hint = (
                "No DMARC policy: receivers decide alone what to do with forged mail. "
                f"Publish a TXT record at {name}: {expected}"
            )
            return [check]
        if len(records) > 1:
            check.hint = (
                f"{name} has {len(records)} DMARC records, so receivers ignore all of them "
                f"(RFC 7489 section 6.6.3). Keep one: {expected}"
            )
            return [check]
        try:
            tags = _dkim_tags(records[0])
        except ValueError as exc:
            check.hint = f"The DMARC record is malformed ({exc}). Publish: {expected}"
            return [check]
        policy = tags.get("p", "").lower()
        check.details = {"policy": policy or None, "subdomain_policy": tags.get("sp")}
        if policy not in ("none", "quarantine", "reject"):
            check.hint = (
                f"The DMARC record has no valid p= policy (found {policy or 'nothing'!r}). "
                f"Publish: {expected}"
            )
            return [check]
        check.status = "ok"
        if policy == "none":
            check.hint = "DMARC policy is 'none': reports only, forged mail is not rejected."
        return [check]

    return _guard(run, check)


def check_client_records(
    dns: DnsClient, domain: str, settings: Settings, expected: list[DnsRecord]
) -> list[Check]:
    """autoconfig/autodiscover CNAMEs and the RFC 6186/8314 SRV records: warnings only."""
    host = settings.mail_hostname
    checks: list[Check] = []
    for record in expected:
        if record.type == "CNAME" and record.name.split(".", 1)[0] in (
            "autoconfig",
            "autodiscover",
        ):
            kind = record.name.split(".", 1)[0]
            check = Check(kind, f"CNAME {record.name}", host, None, "warning", "")

            def run_cname(check: Check = check, record: DnsRecord = record) -> list[Check]:
                targets = dns.cname(record.name)
                check.found = ", ".join(targets) or None
                if host in targets:
                    check.status = "ok"
                elif targets or dns.any_address(record.name):
                    check.found = check.found or "address records"
                    check.hint = (
                        f"{record.name} does not point at {host}; mail clients will not "
                        "find their settings."
                    )
                else:
                    check.hint = (
                        f"Publish CNAME {record.name} -> {host} so mail clients configure "
                        "themselves."
                    )
                return [check]

            checks += _guard(run_cname, check)
        elif record.type == "SRV" and not record.value.endswith(" ."):
            check = Check("srv", f"SRV {record.name}", record.value, None, "warning", "")

            def run_srv(check: Check = check, record: DnsRecord = record) -> list[Check]:
                found = dns.srv(record.name)
                check.found = (
                    ", ".join(f"{s.priority} {s.weight} {s.port} {s.target}" for s in found) or None
                )
                _, _, port, target = record.value.split()
                if any(s.target == target and s.port == int(port) for s in found):
                    check.status = "ok"
                else:
                    check.hint = (
                        f"Publish SRV {record.name}: {record.value} (RFC 6186) so mail "
                        "clients find the server."
                    )
                return [check]

            checks += _guard(run_srv, check)
    return checks


def _failed_check(domain: str, kind: str, record: str, *, decisive: bool = True) -> list[Check]:
    """A check that raised: a bug of ours, or a record no code path expected. Logged, and
    reported as temporary (the domain's state does not move), for this domain only."""
    log.exception("dns: the %s check of %s failed unexpectedly", kind, domain)
    hint = (
        "mailplane could not check this record (an internal error, logged for the operator); "
        "this is not a verdict about your records, and mailplane retries later."
    )
    return [Check(kind, record, "", None, "error", hint, decisive=decisive, temporary=True)]


def _contained(
    future: Future[list[Check]], domain: str, kind: str, record: str, *, decisive: bool = True
) -> list[Check]:
    try:
        return future.result()
    except Exception:
        return _failed_check(domain, kind, record, decisive=decisive)


def outcome_of(checks: list[Check]) -> Outcome:
    decisive = [c for c in checks if c.decisive]
    if any(c.status == "error" and not c.temporary for c in decisive):
        return "broken"
    if any(c.temporary for c in decisive):
        return "inconclusive"
    return "ok"


def run_checks(
    dns: DnsClient,
    settings: Settings,
    domain: str,
    keys: list[KeyLike],
    expected: list[DnsRecord],
) -> Report:
    dmarc_expected = next(
        (r.value for r in expected if r.name == f"_dmarc.{domain}"), "v=DMARC1; p=quarantine"
    )
    dns = dns.memoized()
    # The checks are independent: ask their questions at the same time (the time for one
    # domain is then about that of its longest chain: SPF's includes).
    mx = _CHECKS.submit(check_mx, dns, domain, settings)
    spf = _CHECKS.submit(check_spf, dns, domain, settings)
    dkim_future = _CHECKS.submit(check_dkim, dns, domain, keys)
    dmarc = _CHECKS.submit(check_dmarc, dns, domain, dmarc_expected)
    client = _CHECKS.submit(check_client_records, dns, domain, settings, expected)
    try:
        dkim_checks, ready = dkim_future.result()
    except Exception:
        dkim_checks, ready = _failed_check(domain, "dkim", f"TXT *._domainkey.{domain}"), None
    checks = (
        _contained(mx, domain, "mx", f"MX {domain}")
        + _contained(spf, domain, "spf", f"TXT {domain}")
        + dkim_checks
        + _contained(dmarc, domain, "dmarc", f"TXT _dmarc.{domain}")
        + _contained(client, domain, "autoconfig", f"CNAME autoconfig.{domain}", decisive=False)
    )
    return Report(
        domain=domain, outcome=outcome_of(checks), checks=checks, dkim_ready_selector=ready
    )
