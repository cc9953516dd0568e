"""Pure renderers for what mail clients fetch: Thunderbird autoconfig, Outlook autodiscover
(POX) and the MTA-STS policy (RFC 8461). Values are XML-escaped; inputs are validated
before they get here."""

from __future__ import annotations

from xml.sax.saxutils import escape

from mailplane.config import Settings


def autoconfig_xml(settings: Settings, domain: str) -> str:
    host = escape(settings.mail_hostname)
    name = escape(domain)

    def server(kind: str, tag: str, port: int, socket: str) -> str:
        return (
            f'    <{tag} type="{kind}">\n'
            f"      <hostname>{host}</hostname>\n"
            f"      <port>{port}</port>\n"
            f"      <socketType>{socket}</socketType>\n"
            "      <authentication>password-cleartext</authentication>\n"
            "      <username>%EMAILADDRESS%</username>\n"
            f"    </{tag}>\n"
        )

    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<clientConfig version="1.1">\n'
        f'  <emailProvider id="{name}">\n'
        f"    <domain>{name}</domain>\n"
        f"    <displayName>{name}</displayName>\n"
        f"    <displayShortName>{name}</displayShortName>\n"
        + server("imap", "incomingServer", settings.public_imap_port, "SSL")
        + server("smtp", "outgoingServer", settings.public_submission_port, "SSL")
        + server("smtp", "outgoingServer", settings.public_submission_starttls_port, "STARTTLS")
        + "  </emailProvider>\n</clientConfig>\n"
    )


AUTODISCOVER_NS = "http://schemas.microsoft.com/exchange/autodiscover/responseschema/2006"
OUTLOOK_NS = "http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a"


def autodiscover_xml(settings: Settings, email: str) -> str:
    host = escape(settings.mail_hostname)
    login = escape(email)

    def protocol(kind: str, port: int) -> str:
        return (
            "      <Protocol>\n"
            f"        <Type>{kind}</Type>\n"
            f"        <Server>{host}</Server>\n"
            f"        <Port>{port}</Port>\n"
            "        <DomainRequired>off</DomainRequired>\n"
            f"        <LoginName>{login}</LoginName>\n"
            "        <SPA>off</SPA>\n"
            "        <SSL>on</SSL>\n"
            "        <AuthRequired>on</AuthRequired>\n"
            "      </Protocol>\n"
        )

    return (
        '<?xml version="1.0" encoding="utf-8"?>\n'
        f'<Autodiscover xmlns="{AUTODISCOVER_NS}">\n'
        f'  <Response xmlns="{OUTLOOK_NS}">\n'
        "    <Account>\n"
        "      <AccountType>email</AccountType>\n"
        "      <Action>settings</Action>\n"
        + protocol("IMAP", settings.public_imap_port)
        + protocol("SMTP", settings.public_submission_port)
        + "    </Account>\n  </Response>\n</Autodiscover>\n"
    )


def mta_sts_policy(settings: Settings) -> str:
    """RFC 8461 section 3.2: key/value lines separated by CRLF."""
    lines = ["version: STSv1", f"mode: {settings.mta_sts_mode}"]
    lines += [f"mx: {mx.rstrip('.')}" for mx in settings.mx_hosts]
    lines.append(f"max_age: {settings.mta_sts_max_age}")
    return "\r\n".join(lines) + "\r\n"
