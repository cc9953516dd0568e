"""Publishing a domain's records: ``manual`` (the customer does it), ``rfc2136`` (dynamic
update signed with TSIG, RFC 2136 and RFC 8945) or ``lexicon`` (hosted DNS providers).

Records mailplane owns are replaced whole (MX, DMARC, DKIM, CNAMEs, SRV); at the apex
only the ``v=spf1`` TXT record is replaced, so that other TXT records there (site
verification tokens and the like) survive.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal, Protocol

import dns.exception
import dns.message
import dns.name
import dns.query
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import dns.rdtypes.ANY.TXT
import dns.tsig
import dns.tsigkeyring
import dns.update

from mailplane.config import Settings
from mailplane.protocols.dns.errors import DnsPermanentError, DnsTransientError
from mailplane.protocols.dns.records import DnsRecord

MODES = ("manual", "rfc2136", "lexicon")


class PublicationError(DnsPermanentError):
    """The DNS server or provider refused the change, or it is not configured."""


class PublicationUnreachable(PublicationError, DnsTransientError):
    """The DNS server or provider could not be reached; publishing again may work."""


@dataclass(frozen=True)
class Publication:
    mode: str
    status: str  # manual | published | removed | failed
    detail: str
    records: int = 0
    # A failure that may pass (the server unreachable): worth trying again later.
    transient: bool = False

    def as_dict(self) -> dict[str, Any]:
        return {
            "mode": self.mode,
            "status": self.status,
            "detail": self.detail,
            "records": self.records,
        }


class Publisher(Protocol):
    def publish(self, records: list[DnsRecord]) -> None: ...
    def remove(self, records: list[DnsRecord]) -> None: ...


def rdata_text(record: DnsRecord) -> str:
    """The record's value in zone-file presentation form."""
    if record.type == "TXT":
        chunks = [record.value[i : i + 255] for i in range(0, len(record.value), 255)]
        escaped = (c.replace("\\", "\\\\").replace('"', '\\"') for c in chunks)
        return " ".join(f'"{c}"' for c in escaped)
    if record.type == "MX":
        return f"{record.priority or 10} {record.value.rstrip('.')}."
    if record.type == "CNAME":
        return record.value.rstrip(".") + "."
    if record.type == "SRV":
        *numbers, target = record.value.split()
        return " ".join([*numbers, target if target == "." else target.rstrip(".") + "."])
    return record.value


def _is_spf(record: DnsRecord) -> bool:
    return record.type == "TXT" and record.value.lower().startswith("v=spf1")


def _groups(records: list[DnsRecord]) -> dict[tuple[str, str], list[DnsRecord]]:
    groups: dict[tuple[str, str], list[DnsRecord]] = {}
    for record in records:
        groups.setdefault((record.name, record.type), []).append(record)
    return groups


@dataclass(frozen=True)
class Rfc2136Config:
    server: str
    port: int
    zone: str
    key_name: str | None
    key_algorithm: str
    key_secret: str | None
    ttl: int
    timeout: float = 5.0


class Rfc2136Publisher:
    def __init__(self, config: Rfc2136Config) -> None:
        self.config = config
        self.zone = dns.name.from_text(config.zone)
        self.keyring: dict[dns.name.Name, dns.tsig.Key] | None = None
        if config.key_name and config.key_secret:
            self.keyring = dns.tsigkeyring.from_text(
                {config.key_name: (config.key_algorithm, config.key_secret)}
            )

    def _update(self) -> dns.update.UpdateMessage:
        return dns.update.UpdateMessage(
            self.zone,
            keyring=self.keyring,
            keyname=(
                dns.name.from_text(self.config.key_name)
                if self.keyring and self.config.key_name
                else None
            ),
            keyalgorithm=self.config.key_algorithm,
        )

    def _relative(self, name: str) -> dns.name.Name:
        absolute = dns.name.from_text(name)
        if not absolute.is_subdomain(self.zone):
            raise PublicationError(f"{name} is outside the zone {self.config.zone}")
        return absolute.relativize(self.zone)

    def _send(self, message: dns.message.Message) -> dns.message.Message:
        try:
            response = dns.query.tcp(
                message, self.config.server, port=self.config.port, timeout=self.config.timeout
            )
        except dns.tsig.PeerError as exc:
            raise PublicationError(f"the DNS server rejected the TSIG signature: {exc}") from exc
        except (OSError, dns.exception.DNSException) as exc:
            raise PublicationUnreachable(
                f"DNS server {self.config.server}:{self.config.port} unreachable: {exc}"
            ) from exc
        rcode = response.rcode()
        if rcode != dns.rcode.NOERROR:
            meaning = {
                dns.rcode.NOTAUTH: "the TSIG key was not accepted (check name, algorithm, secret)",
                dns.rcode.REFUSED: "the server refuses updates for this zone (check its ACL)",
                dns.rcode.NOTZONE: f"the server is not authoritative for {self.config.zone}",
            }.get(rcode, "the update failed")
            raise PublicationError(f"{dns.rcode.to_text(rcode)}: {meaning}")
        return response

    def _current_spf(self, name: str) -> list[str]:
        query = dns.message.make_query(name, "TXT")
        response = self._send(query)
        values = []
        for rrset in response.answer:
            if rrset.rdtype == dns.rdatatype.TXT:
                for rdata in rrset:
                    assert isinstance(rdata, dns.rdtypes.ANY.TXT.TXT)
                    text = b"".join(rdata.strings).decode("utf-8", errors="replace")
                    if text.lower().startswith("v=spf1"):
                        values.append(rdata.to_text())
        return values

    def publish(self, records: list[DnsRecord]) -> None:
        update = self._update()
        for (name, rtype), group in _groups(records).items():
            relative = self._relative(name)
            if any(_is_spf(r) for r in group):
                for old in self._current_spf(name):
                    update.delete(relative, rtype, old)
            else:
                update.delete(relative, rtype)
            for record in group:
                update.add(relative, self.config.ttl, rtype, rdata_text(record))
        self._send(update)

    def remove(self, records: list[DnsRecord]) -> None:
        """Delete exactly the records mailplane published (RFC 2136 section 2.5.4): a
        record the customer changed since, or added beside ours, stays."""
        update = self._update()
        for record in records:
            update.delete(self._relative(record.name), record.type, rdata_text(record))
        self._send(update)


OperationsFactory = Callable[[dict[str, Any]], Any]


def _lexicon_operations(config: dict[str, Any]) -> Any:
    """Open dns-lexicon's client (the optional ``lexicon`` extra) for one zone."""
    try:
        from lexicon.client import Client
        from lexicon.config import ConfigResolver
    except ImportError as exc:
        raise PublicationError(
            "dns-lexicon is not installed: pip install 'mailplane[lexicon]'"
        ) from exc
    return Client(ConfigResolver().with_dict(config))  # type: ignore[no-untyped-call]


class LexiconPublisher:
    """Through dns-lexicon's provider-neutral operations (list, create, delete records).

    Lexicon speaks relative or absolute names and raw (unquoted) record contents.
    """

    def __init__(
        self,
        provider: str,
        zone: str,
        options: dict[str, Any],
        ttl: int,
        operations: OperationsFactory = _lexicon_operations,
    ) -> None:
        self.config: dict[str, Any] = {
            "provider_name": provider,
            "domain": zone,
            "delegated": zone,
            "ttl": ttl,
            provider: dict(options),
        }
        self.operations = operations

    @staticmethod
    def _content(record: DnsRecord) -> str:
        return rdata_text(record).split(" ", 1)[1] if record.type == "MX" else record.value

    def publish(self, records: list[DnsRecord]) -> None:
        try:
            with self.operations(self.config) as ops:
                for (name, rtype), group in _groups(records).items():
                    spf_only = any(_is_spf(r) for r in group)
                    for existing in ops.list_records(rtype=rtype, name=name):
                        content = str(existing.get("content", "")).strip('"')
                        if spf_only and not content.lower().startswith("v=spf1"):
                            continue  # another TXT record at the apex: not ours to touch
                        ops.delete_record(
                            identifier=existing.get("id"),
                            rtype=rtype,
                            name=name,
                            content=existing.get("content"),
                        )
                    for record in group:
                        ops.create_record(rtype=rtype, name=name, content=self._content(record))
        except PublicationError:
            raise
        except Exception as exc:
            raise PublicationError(f"dns-lexicon ({self.config['provider_name']}): {exc}") from exc

    def remove(self, records: list[DnsRecord]) -> None:
        try:
            with self.operations(self.config) as ops:
                for record in records:
                    ops.delete_record(
                        rtype=record.type, name=record.name, content=self._content(record)
                    )
        except Exception as exc:
            raise PublicationError(f"dns-lexicon ({self.config['provider_name']}): {exc}") from exc


def publisher_for(
    settings: Settings, mode: str, domain: str, values: dict[str, Any]
) -> Publisher | None:
    """The publisher for a domain, or None for manual. Per-domain values win over settings."""
    if mode == "rfc2136":
        server = values.get("server") or (
            str(settings.rfc2136_server) if settings.rfc2136_server else None
        )
        if not server:
            raise PublicationError("no RFC 2136 server configured (MAILPLANE_RFC2136_SERVER)")
        return Rfc2136Publisher(
            Rfc2136Config(
                server=server,
                port=int(values.get("port") or settings.rfc2136_port),
                zone=values.get("zone") or domain,
                key_name=values.get("key_name") or settings.rfc2136_key_name,
                key_algorithm=values.get("key_algorithm") or settings.rfc2136_key_algorithm,
                key_secret=values.get("key_secret")
                or (
                    settings.rfc2136_key_secret.get_secret_value()
                    if settings.rfc2136_key_secret
                    else None
                ),
                ttl=settings.dns_record_ttl,
                timeout=settings.dns_timeout_seconds,
            )
        )
    if mode == "lexicon":
        provider = values.get("provider") or settings.lexicon_provider
        if not provider:
            raise PublicationError(
                "no dns-lexicon provider configured (MAILPLANE_LEXICON_PROVIDER)"
            )
        configured = {k: v.get_secret_value() for k, v in settings.lexicon_options.items()}
        options = {**configured, **(values.get("options") or {})}
        return LexiconPublisher(
            provider, values.get("zone") or domain, options, settings.dns_record_ttl
        )
    return None


def _apply(
    settings: Settings,
    mode: str,
    domain: str,
    values: dict[str, Any],
    records: list[DnsRecord],
    operation: Literal["publish", "remove"],
) -> Publication:
    """Run one publisher operation, never raising: the outcome is a value the caller
    reports and audits."""
    if mode == "manual" or (operation == "remove" and not records):
        return Publication(mode, "manual", f"{operation} the records yourself", len(records))
    try:
        publisher = publisher_for(settings, mode, domain, values)
        assert publisher is not None
        getattr(publisher, operation)(records)
    except (PublicationError, ValueError, dns.exception.DNSException) as exc:
        # ValueError, DNSException: a setting dnspython cannot use (a bad TSIG secret, ...).
        transient = isinstance(exc, DnsTransientError)
        return Publication(mode, "failed", str(exc) or type(exc).__name__, 0, transient)
    done = "published" if operation == "publish" else "removed"
    return Publication(mode, done, f"{len(records)} records {done}", len(records))


def publish(
    settings: Settings, mode: str, domain: str, values: dict[str, Any], records: list[DnsRecord]
) -> Publication:
    return _apply(settings, mode, domain, values, records, "publish")


def remove(
    settings: Settings, mode: str, domain: str, values: dict[str, Any], records: list[DnsRecord]
) -> Publication:
    return _apply(settings, mode, domain, values, records, "remove")
