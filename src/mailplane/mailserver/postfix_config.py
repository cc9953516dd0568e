"""Postfix 3.7 configuration: main.cf, master.cf and the SQL map files. Pure functions.

Every table Postfix reads is one of the ``mp_*`` views of migration 0002, queried live.
"""

from __future__ import annotations

from ipaddress import IPv4Network, IPv6Network
from pathlib import Path

from mailplane.config import Settings
from mailplane.mailserver.layout import DatabaseTarget, Layout, PostgresTarget, SqliteTarget

# Map name -> query. %s is the whole key, %d its domain part: Postfix suppresses the query
# (no match, no SQL) when the key has no domain, e.g. an unqualified "user".
MAP_QUERIES: dict[str, str] = {
    "domains": "SELECT name FROM mp_virtual_domains WHERE name = '%s'",
    "mailboxes": "SELECT maildir FROM mp_mailboxes WHERE email = '%s'",
    # The domain column lets the database use the alias_domains.name index for the
    # alias-domain rows instead of computing every one of them.
    "aliases": "SELECT destination FROM mp_virtual_aliases WHERE source = '%s' AND domain = '%d'",
    "sender-logins": "SELECT login FROM mp_sender_logins WHERE sender = '%s' AND domain = '%d'",
    "refused-recipients": "SELECT '550 5.2.1 Mailbox disabled, not accepting messages' "
    "FROM mp_refused_recipients WHERE address = '%s' AND domain = '%d'",
    # An address written with a U-label domain (SMTPUTF8, RFC 6531) -> the same address
    # with the stored A-label domain; %u is the local part. Postfix looks keys up as
    # written and never converts IDNs itself (see sender_login_maps).
    "unicode-to-ascii": "SELECT '%u@' || name FROM mp_unicode_domains WHERE unicode_name = '%d'",
}


def _mynetwork(network: IPv4Network | IPv6Network) -> str:
    """Postfix's form: an IPv6 network is written in brackets, ``[2001:db8::]/32``."""
    if network.version == 6:
        return f"[{network.network_address}]/{network.prefixlen}"
    return str(network)


# Postfix 3.7's pgsql client always speaks LATIN1 (3.8 made it the "encoding" setting,
# default UTF8), so the server reads the key's UTF-8 bytes as LATIN1 characters: "ä"
# arrives as "Ã¤". Encoding them back to LATIN1 gives the original bytes, decoded here as
# UTF-8. "encoding = LATIN1" pins that on 3.8 and later; 3.7 ignores the line. Only this
# map sees non-ASCII keys that must match; the others compare ASCII A-label addresses.
_PGSQL_ENCODING = "LATIN1"
PGSQL_QUERIES: dict[str, str] = {
    "unicode-to-ascii": "SELECT '%u@' || name FROM mp_unicode_domains WHERE unicode_name = "
    f"convert_from(convert_to('%d', '{_PGSQL_ENCODING}'), 'UTF8')",
}

# An inline table: no file, no postmap. The braces let the reply contain spaces.
NULL_SENDER_REFUSAL = "inline:{ { <> = 553 5.7.1 A logged-in client may not use the null sender } }"

# Daemons that every instance needs (Debian's stock list, minus local/virtual/pipe
# delivery). chroot is "n" everywhere: a chrooted smtpd could not reach the SQLite file
# or Dovecot's sockets by absolute path (pitfall P15).
_INTERNAL_SERVICES = """\
pickup    unix  n       -       n       60      1       pickup
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
tlsmgr    unix  -       -       n       1000?   1       tlsmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
verify    unix  -       -       n       -       1       verify
flush     unix  n       -       n       1000?   0       flush
proxymap  unix  -       -       n       -       -       proxymap
proxywrite unix -       -       n       -       1       proxymap
smtp      unix  -       -       n       -       -       smtp
relay     unix  -       -       n       -       -       smtp
showq     unix  n       -       n       -       -       showq
error     unix  -       -       n       -       -       error
retry     unix  -       -       n       -       -       error
discard   unix  -       -       n       -       -       discard
lmtp      unix  -       -       n       -       -       lmtp
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
postlog   unix-dgram n  -       n       -       1       postlogd
"""


def map_file(target: DatabaseTarget, query: str) -> str:
    if isinstance(target, SqliteTarget):
        return f"dbpath = {target.path}\nquery = {query}\n"
    assert isinstance(target, PostgresTarget)
    lines = [
        f"hosts = inet:{target.host}:{target.port}",
        f"user = {target.user}",
        f"dbname = {target.dbname}",
        f"encoding = {_PGSQL_ENCODING}",
    ]
    if target.password:
        lines.append(f"password = {target.password}")
    lines.append(f"query = {query}")
    return "\n".join(lines) + "\n"


def _map_ref(paths: Layout, target: DatabaseTarget, name: str) -> str:
    kind = "sqlite" if isinstance(target, SqliteTarget) else "pgsql"
    return f"{kind}:{paths.postfix_config / (name + '.cf')}"


def sender_login_maps(paths: Layout, target: DatabaseTarget) -> str:
    """Who may send as an envelope sender: mp_sender_logins, looked up as written and,
    for info@bäckerei.test, as info@xn--bckerei-....test. The pipemap feeds the first
    table's answer to the second as its key, so ownership is decided by mp_sender_logins
    alone, and both lookups use indexes with constant keys (SQLite pushes no subquery
    into a UNION ALL view)."""
    logins = _map_ref(paths, target, "sender-logins")
    to_ascii = _map_ref(paths, target, "unicode-to-ascii")
    return f"{logins}, pipemap:{{{to_ascii}, {logins}}}"


def quota_reply(settings: Settings) -> str:
    """What an over-quota recipient gets: 4xx (retry later) or 5xx (RFC 3463 X.2.2)."""
    if settings.quota_exceeded_policy == "refuse":
        return "552 5.2.2 Mailbox is full"
    return "452 4.2.2 Mailbox is full, try again later"


INTAKE_TRANSPORT = "mailplane-intake"
# Removes the submission marker (intake/marker.py) from mail delivered to local mailboxes:
# it is for the intake alone. Postfix 3.7 reads an inline regexp table.
_MARKER_REMOVAL = "regexp:{ { /^X-Mailplane-Submission:/ IGNORE } }"


def _bracketed(address: str) -> str:
    return f"[{address}]"


def outbound_path(settings: Settings) -> list[tuple[str, str]]:
    """One outbound path (SPEC section D): every non-local recipient goes to mailplane's
    SMTP intake, which queues it for the delivery engine; the submission milter checks
    the header From first. If the intake is down Postfix keeps the mail and retries; if
    the milter is down submissions get a 4xx (tempfail), never an unchecked pass."""
    intake = f"{_bracketed(settings.mail_listen_address)}:{settings.intake_port}"
    return [
        ("default_transport", f"{INTAKE_TRANSPORT}:{intake}"),
        ("lmtp_header_checks", _MARKER_REMOVAL),
        # The marker names the queue id, which must be unique for the host's lifetime.
        ("enable_long_queue_ids", "yes"),
        ("milter_protocol", "6"),
        ("milter_default_action", "tempfail"),
        ("milter_mail_macros", "i {auth_type} {auth_authen} {mail_addr}"),
        ("milter_end_of_data_macros", "i {auth_authen}"),
        ("milter_connect_timeout", "10s"),
        ("milter_command_timeout", "30s"),
        ("milter_content_timeout", "60s"),
    ]


BOUNCE_CLASS = "mailplane_bounce_recipients"


def bounce_path(settings: Settings, paths: Layout) -> list[tuple[str, str]]:
    """Mail for the platform's bounce domain (VERP return paths, SRS addresses, the
    mailto unsubscribe addresses of bulk mail and the feedback address for ARF spam
    reports, ``complaints/``) is relayed to mailplane's bounce receiver, never to Dovecot.
    Only these address forms are known recipients
    (relay_recipient_maps, checked by reject_unlisted_recipient);
    on the inbound port the bounce policy service also checks the VERP HMAC and the SRS
    hash at RCPT (``bounce_recipient_check``), and the receiver checks both again."""
    domain = settings.effective_bounce_domain.replace(".", "\\.")
    # "$$" is a literal "$" in main.cf ("$" starts a parameter name).
    receiver = f"{_bracketed(settings.mail_listen_address)}:{settings.bounce_port}"
    feedback = settings.feedback_local_part.replace(".", "\\.")
    recipients = (
        f"regexp:{{ {{/^b\\+[0-9]+-[0-9a-f]+@{domain}$$/ OK}}, "
        f"{{/^srs[01]=[^@]+@{domain}$$/ OK}}, "
        f"{{/^unsubscribe\\+[a-z2-7]+@{domain}$$/ OK}}, {{/^{feedback}@{domain}$$/ OK}} }}"
    )
    return [
        ("relay_domains", settings.effective_bounce_domain),
        ("relay_recipient_maps", recipients),
        ("relay_transport", f"{INTAKE_TRANSPORT}:{receiver}"),
        ("smtpd_restriction_classes", BOUNCE_CLASS),
        # Unreachable service: a 4xx (the remote retries), not the global DUNNO that the
        # quota service wants, which would accept well-formed forgeries.
        (
            BOUNCE_CLASS,
            f"check_policy_service {{ unix:{paths.bounce_policy_socket}, "
            # Braces around an attribute whose value has spaces (Postfix 3.0 syntax).
            "{ default_action = 451 4.3.0 Bounce address check unavailable } }",
        ),
    ]


def bounce_recipient_check(settings: Settings) -> str:
    """Sends recipients of the bounce domain (and only those) to the policy service."""
    return f"check_recipient_access inline:{{ {settings.effective_bounce_domain}={BOUNCE_CLASS} }}"


def submission_milter(paths: Layout) -> str:
    """A Unix socket only Postfix can open (``Layout.intake_run``): over TCP on loopback
    any local user could ask the milter to sign a submission marker for any login."""
    return f"unix:{paths.milter_socket}"


def main_cf(settings: Settings, paths: Layout, target: DatabaseTarget) -> str:
    host = settings.mail_hostname
    is_test = settings.env == "test"
    quota_policy = f"check_policy_service unix:{paths.quota_status_socket}"
    refused = f"check_recipient_access {_map_ref(paths, target, 'refused-recipients')}"
    values: list[tuple[str, str]] = [
        ("compatibility_level", "3.6"),
        ("queue_directory", str(paths.postfix_queue)),
        ("data_directory", str(paths.postfix_data)),
        ("mail_owner", "postfix"),
        ("setgid_group", "postdrop"),
        ("maillog_file", str(paths.postfix_log)),
        # Any other log path is fatal for every Postfix command (pitfall P6).
        ("maillog_file_prefixes", f"{paths.log_dir}, /dev/stdout"),
        ("syslog_name", "mailplane"),
        ("myhostname", host),
        ("mydomain", host.split(".", 1)[1] if "." in host else host),
        ("myorigin", "$myhostname"),
        ("mydestination", ""),
        ("local_recipient_maps", ""),
        ("local_transport", "error:5.1.1 local delivery disabled"),
        ("alias_maps", ""),
        ("alias_database", ""),
        ("inet_interfaces", settings.mail_listen_address),
        ("inet_protocols", "ipv6" if ":" in settings.mail_listen_address else "ipv4"),
        ("mynetworks", " ".join(_mynetwork(n) for n in settings.mail_inject_networks)),
        ("smtpd_banner", "$myhostname ESMTP"),
        ("biff", "no"),
        ("append_dot_mydomain", "no"),
        ("smtputf8_enable", "yes"),
        # Old relay tricks: user%other@ours and other!user@ours stay literal local parts,
        # which the mailbox views do not know, so they are refused like any unknown user.
        ("allow_percent_hack", "no"),
        ("swap_bangpath", "no"),
        ("allow_untrusted_routing", "no"),
        ("message_size_limit", str(settings.message_size_limit_mb * 1024 * 1024)),
        ("recipient_delimiter", "+"),
        # Virtual hosting, live from the views (no postmap, no reload).
        ("virtual_mailbox_domains", _map_ref(paths, target, "domains")),
        ("virtual_mailbox_maps", _map_ref(paths, target, "mailboxes")),
        ("virtual_alias_maps", _map_ref(paths, target, "aliases")),
        ("virtual_transport", f"lmtp:unix:{paths.lmtp_socket}"),
        ("smtpd_sender_login_maps", sender_login_maps(paths, target)),
        # SASL through Dovecot's auth socket; enabled only on the submission services.
        ("smtpd_sasl_type", "dovecot"),
        ("smtpd_sasl_path", str(paths.auth_socket)),
        ("smtpd_sasl_auth_enable", "no"),
        ("smtpd_sasl_security_options", "noanonymous"),
        ("smtpd_sasl_tls_security_options", "noanonymous"),
        ("smtpd_tls_security_level", "may"),
        ("smtpd_tls_cert_file", str(settings.tls_cert_path)),
        ("smtpd_tls_key_file", str(settings.tls_key_path)),
        ("smtpd_tls_protocols", ">=TLSv1.2"),
        ("smtpd_tls_mandatory_protocols", ">=TLSv1.2"),
        ("smtp_tls_security_level", "may"),
        # Inbound (MX) policy: never relay, only existing recipients (no permit_mynetworks
        # here: every test client is 127.0.0.1, pitfall P14), quota checked at RCPT time
        # through Dovecot's quota-status service so a full mailbox is never a bounce.
        ("smtpd_helo_required", "yes"),
        # VRFY would tell anyone which addresses exist (the same answer for all is the
        # only safe one), and ETRN lets outsiders trigger queue runs: neither is needed.
        ("disable_vrfy_command", "yes"),
        ("smtpd_etrn_restrictions", "reject"),
        ("smtpd_relay_restrictions", "reject_unauth_destination"),
        (
            "smtpd_recipient_restrictions",
            f"reject_non_fqdn_recipient, {refused}, {bounce_recipient_check(settings)}, "
            f"reject_unlisted_recipient, {quota_policy}",
        ),
        ("smtpd_sender_restrictions", "reject_non_fqdn_sender"),
        # Used by the submission services (master.cf); the null sender's lookup key is
        # smtpd_null_access_lookup_key, "<>".
        ("submission_null_sender", f"check_sender_access {NULL_SENDER_REFUSAL}"),
        ("smtpd_policy_service_default_action", "DUNNO"),
        ("default_process_limit", "100"),
    ]
    if not settings.mail_dns_enabled:
        # No DNS traffic at all (pitfall P13).
        values += [
            ("smtpd_peername_lookup", "no"),
            ("smtp_dns_support_level", "disabled"),
            ("lmtp_dns_support_level", "disabled"),
        ]
    values += outbound_path(settings)
    values += bounce_path(settings, paths)
    if is_test:
        # A failing map lookup throttles the service for 60 s by default (pitfall P10);
        # deferred mail is retried quickly so tests can watch it arrive.
        values += [
            ("service_throttle_time", "2s"),
            ("queue_run_delay", "2s"),
            ("minimal_backoff_time", "2s"),
            ("maximal_backoff_time", "4s"),
        ]
    return "# Rendered by mailplane; edits are overwritten.\n" + "".join(
        f"{key} = {value}\n" for key, value in values
    )


# Postfix's SMTP client towards the intake: loopback, so no TLS; XFORWARD tells the
# intake the queue id (IDENT) that the submission marker must match.
_INTAKE_CLIENT = (
    "-o syslog_name=mailplane/intake",
    "-o smtp_send_xforward_command=yes",
    "-o smtp_tls_security_level=none",
    "-o smtp_connect_timeout=5s",
    "-o smtp_helo_timeout=30s",
    # The intake answers after its database commit: allow for a slow disk.
    "-o smtp_data_done_timeout=120s",
    "-o smtp_header_checks=",
)


def master_cf(settings: Settings, paths: Layout, target: DatabaseTarget) -> str:
    refused = "check_recipient_access," + _map_ref(paths, target, "refused-recipients")
    addr = settings.mail_listen_address
    if ":" in addr:
        addr = f"[{addr}]"
    submission = [
        "-o smtpd_sasl_auth_enable=yes",
        "-o smtpd_tls_auth_only=yes",
        "-o smtpd_client_restrictions=permit_sasl_authenticated,reject",
        # The sender must be owned by the login (mp_sender_logins), RFC 6409 section 6.1.
        # reject_sender_login_mismatch lets the null sender through, and a logged-in user
        # has no business sending bounces: $submission_null_sender refuses it first.
        "-o smtpd_sender_restrictions=reject_non_fqdn_sender,"
        "$submission_null_sender,reject_sender_login_mismatch",
        "-o smtpd_relay_restrictions=permit_sasl_authenticated,reject",
        f"-o smtpd_recipient_restrictions=reject_non_fqdn_recipient,{refused},"
        "permit_sasl_authenticated,reject",
        # The header From must be the login's too (intake/senders.py).
        f"-o smtpd_milters={submission_milter(paths)}",
    ]
    services = [
        (f"{addr}:{settings.smtp_port}", ["-o syslog_name=mailplane/smtp"]),
        (
            f"{addr}:{settings.submission_port}",
            [
                "-o syslog_name=mailplane/submission",
                "-o smtpd_tls_security_level=encrypt",
                *submission,
            ],
        ),
        (
            f"{addr}:{settings.submissions_port}",
            ["-o syslog_name=mailplane/submissions", "-o smtpd_tls_wrappermode=yes", *submission],
        ),
        (
            # The platform's own sending path: trusted networks only, nothing else.
            f"{addr}:{settings.inject_port}",
            [
                "-o syslog_name=mailplane/inject",
                "-o smtpd_client_restrictions=permit_mynetworks,reject",
                "-o smtpd_relay_restrictions=permit_mynetworks,reject",
                f"-o smtpd_recipient_restrictions=reject_non_fqdn_recipient,{refused}",
                "-o smtpd_sender_restrictions=",
            ],
        ),
    ]
    lines = [
        "# Rendered by mailplane; edits are overwritten.",
        "# service type  private unpriv  chroot  wakeup  maxproc command + args",
    ]
    for endpoint, options in services:
        lines.append(f"{endpoint} inet n - n - - smtpd")
        lines.extend(f"  {option}" for option in options)
    lines.append(f"{INTAKE_TRANSPORT} unix - - n - - smtp")
    lines.extend(f"  {option}" for option in _INTAKE_CLIENT)
    return "\n".join(lines) + "\n" + _INTERNAL_SERVICES


def render_postfix(settings: Settings, paths: Layout, target: DatabaseTarget) -> dict[Path, str]:
    files = {
        paths.main_cf: main_cf(settings, paths, target),
        paths.postfix_config / "master.cf": master_cf(settings, paths, target),
    }
    for name, query in MAP_QUERIES.items():
        if isinstance(target, PostgresTarget):
            query = PGSQL_QUERIES.get(name, query)
        files[paths.postfix_config / f"{name}.cf"] = map_file(target, query)
    return files
