"""The pure render step, by itself: settings + database URL -> files. No servers."""

from __future__ import annotations

from pathlib import Path

import pytest

from mailplane.auth.mail_tokens import dovecot_client_secret
from mailplane.config import Settings
from mailplane.live_events.push_client import push_secret
from mailplane.mailserver.render import render


def _settings(tmp: str = "/tmp/mp-render", **overrides: object) -> Settings:
    values: dict[str, object] = {"env": "production", "state_dir": Path(tmp), **overrides}
    return Settings(**values)  # type: ignore[arg-type]


def _by_name(files: dict[Path, str]) -> dict[str, str]:
    return {path.name: content for path, content in files.items()}


def test_sqlite_render_points_every_map_at_the_views() -> None:
    files = _by_name(render(_settings(), "sqlite:////tmp/mp-render/db/mailplane.sqlite"))
    main = files["main.cf"]
    assert "virtual_mailbox_domains = sqlite:/tmp/mp-render/postfix/etc/domains.cf" in main
    assert "virtual_transport = lmtp:unix:/tmp/mp-render/run/dovecot/lmtp" in main
    assert "dbpath = /tmp/mp-render/db/mailplane.sqlite" in files["aliases.cf"]
    assert "FROM mp_virtual_aliases" in files["aliases.cf"]
    assert "FROM mp_sender_logins" in files["sender-logins.cf"]
    sql = files["dovecot-sql.conf.ext"]
    assert "driver = sqlite" in sql
    assert "FROM mp_dovecot_passdb WHERE username = '%u'" in sql
    assert "'/tmp/mp-render/mail/' || maildir AS home" in sql
    # nothing is written to /etc
    assert not any(str(path).startswith("/etc") for path in render(_settings(), "sqlite:///x.db"))


def test_postgresql_render_uses_pgsql_maps_and_libpq_connect() -> None:
    url = "postgresql+psycopg://mail:s3cret@127.0.0.1:5433/mailplane"
    files = _by_name(render(_settings(), url))
    assert "pgsql:/tmp/mp-render/postfix/etc/mailboxes.cf" in files["main.cf"]
    assert "hosts = inet:127.0.0.1:5433" in files["mailboxes.cf"]
    assert "password = s3cret" in files["mailboxes.cf"]
    assert (
        "connect = host=127.0.0.1 port=5433 dbname=mailplane user=mail password=s3cret"
        in files["dovecot-sql.conf.ext"]
    )


def test_mx_port_never_trusts_mynetworks_and_submission_needs_sasl() -> None:
    files = _by_name(render(_settings(smtp_port=25, submission_port=587), "sqlite:///x.db"))
    main, master = files["main.cf"], files["master.cf"]
    assert "smtpd_relay_restrictions = reject_unauth_destination\n" in main
    assert "permit_mynetworks" not in main
    mx_block = master.split("127.0.0.1:25 inet")[1].split("127.0.0.1:587 inet")[0]
    assert "permit_mynetworks" not in mx_block
    submission = master.split("127.0.0.1:587 inet")[1].split("inet")[0]
    assert "smtpd_sasl_auth_enable=yes" in submission
    assert "reject_sender_login_mismatch" in submission
    assert "smtpd_relay_restrictions=permit_sasl_authenticated,reject" in submission
    assert "allow_percent_hack = no" in main
    assert "swap_bangpath = no" in main


def test_every_outbound_message_goes_to_the_intake_whatever_the_relay() -> None:
    """One outbound path: the relay host is the delivery engine's, never Postfix's."""
    for settings in (_settings(), _settings(relay_host="[192.0.2.1]:2526", mail_dns_enabled=True)):
        files = _by_name(render(settings, "sqlite:///x.db"))
        main, master = files["main.cf"], files["master.cf"]
        assert "default_transport = mailplane-intake:[127.0.0.1]:2590\n" in main
        assert "relayhost" not in main
        assert "retry:" not in main
        # The intake's hop: XFORWARD names the queue id, no TLS on loopback.
        intake = master.split("mailplane-intake unix - - n - - smtp")[1].split("\npickup")[0]
        assert "smtp_send_xforward_command=yes" in intake
        assert "smtp_tls_security_level=none" in intake
        # A dead milter is a 4xx, never an unchecked message; queue ids are long and unique.
        assert "milter_default_action = tempfail\n" in main
        assert "enable_long_queue_ids = yes\n" in main
        assert "{auth_authen}" in main
        # The marker never reaches a local mailbox.
        assert "lmtp_header_checks = regexp:{ { /^X-Mailplane-Submission:/ IGNORE } }" in main


def test_the_milter_checks_submissions_only() -> None:
    settings = _settings(smtp_port=25)
    master = _by_name(render(settings, "sqlite:///x.db"))["master.cf"]
    blocks = master.split("\n127.0.0.1:")
    submission = [b for b in blocks if b.startswith(("2587 ", "2465 "))]
    others = [b for b in blocks if not b.startswith(("2587 ", "2465 "))]
    assert len(submission) == 2
    # A Unix socket in a directory only root and Postfix may enter: no local user can ask
    # the milter to vouch for a login.
    socket = settings.state_dir / "run" / "mailplane" / "milter"
    assert all(f"smtpd_milters=unix:{socket}" in b for b in submission)
    assert not any("smtpd_milters" in b for b in others)


def test_dns_and_quota_settings() -> None:
    no_dns = _by_name(render(_settings(), "sqlite:///x.db"))
    assert "smtp_dns_support_level = disabled" in no_dns["main.cf"]
    assert "quota_full_tempfail = yes" in no_dns["dovecot.conf"]
    assert '"452 4.2.2' in no_dns["dovecot.conf"]
    dns = _by_name(
        render(_settings(mail_dns_enabled=True, quota_exceeded_policy="refuse"), "sqlite:///x")
    )
    assert "smtp_dns_support_level" not in dns["main.cf"]
    assert "quota_full_tempfail = no" in dns["dovecot.conf"]
    assert '"552 5.2.2' in dns["dovecot.conf"]


def test_production_keeps_the_auth_penalty_tests_do_not() -> None:
    production = _by_name(render(_settings(), "sqlite:///x.db"))["dovecot.conf"]
    assert "anvil-auth-penalty" not in production
    assert "auth_failure_delay = 2s" in production
    test = _by_name(render(_settings(env="test"), "sqlite:///x.db"))["dovecot.conf"]
    assert "anvil-auth-penalty" in test


def test_oauth2_passdb_introspects_at_the_api_with_client_credentials() -> None:
    settings = _settings()
    files = _by_name(render(settings, "sqlite:///x.db"))
    assert "driver = oauth2" in files["dovecot.conf"]
    assert "auth_mechanisms = plain login xoauth2 oauthbearer" in files["dovecot.conf"]
    secret = dovecot_client_secret(settings)
    assert (
        f"introspection_url = http://dovecot:{secret}@127.0.0.1:{settings.api_port}"
        "/api/v1/auth/token/introspect" in files["dovecot-oauth2.conf.ext"]
    )
    other = _by_name(
        render(_settings(oauth2_introspection_url="http://c:s@10.0.0.1:8080/i"), "sqlite:///x.db")
    )
    assert "introspection_url = http://c:s@10.0.0.1:8080/i" in other["dovecot-oauth2.conf.ext"]


def test_too_long_state_dir_is_refused_before_sockets_fail() -> None:
    with pytest.raises(ValueError, match="107 bytes"):
        render(_settings("/tmp/" + "x" * 100), "sqlite:///x.db")


def test_in_memory_sqlite_and_odd_credentials_are_refused() -> None:
    with pytest.raises(ValueError, match="SQLite file"):
        render(_settings(), "sqlite://")
    with pytest.raises(ValueError, match="quotes"):
        render(_settings(), "postgresql://mail:it's@127.0.0.1/db")


def test_no_address_oracle_and_no_null_sender_after_login() -> None:
    files = _by_name(render(_settings(submission_port=587), "sqlite:///x.db"))
    main, master = files["main.cf"], files["master.cf"]
    assert "disable_vrfy_command = yes\n" in main
    assert "smtpd_etrn_restrictions = reject\n" in main
    assert "submission_null_sender = check_sender_access inline:{ { <> = 553" in main
    submission = master.split("127.0.0.1:587 inet")[1].split("inet")[0]
    assert "$submission_null_sender,reject_sender_login_mismatch" in submission


def test_dovecot_accepts_every_login_character_the_api_accepts() -> None:
    from mailplane.names import LOCAL_PART_CHARACTERS

    conf = _by_name(render(_settings(), "sqlite:///x.db"))["dovecot.conf"]
    line = next(x for x in conf.splitlines() if x.startswith("auth_username_chars = "))
    chars = line.removeprefix("auth_username_chars = ")
    assert set(LOCAL_PART_CHARACTERS + "@") <= set(chars)
    assert chars[0].isalpha()  # a leading quote would be read as quoting


def test_unicode_senders_are_looked_up_in_their_ascii_form() -> None:
    files = _by_name(render(_settings(), "sqlite:////tmp/mp-render/db/mailplane.sqlite"))
    etc = "/tmp/mp-render/postfix/etc"
    assert (
        f"smtpd_sender_login_maps = sqlite:{etc}/sender-logins.cf, "
        f"pipemap:{{sqlite:{etc}/unicode-to-ascii.cf, sqlite:{etc}/sender-logins.cf}}\n"
    ) in files["main.cf"]
    assert "FROM mp_unicode_domains WHERE unicode_name = '%d'" in files["unicode-to-ascii.cf"]
    # Postfix 3.7's pgsql client speaks LATIN1: the key's bytes are turned back into UTF-8.
    pg = _by_name(render(_settings(), "postgresql://mail@127.0.0.1/mailplane"))
    assert "encoding = LATIN1\n" in pg["unicode-to-ascii.cf"]
    assert "convert_from(convert_to('%d', 'LATIN1'), 'UTF8')" in pg["unicode-to-ascii.cf"]


def test_the_bounce_domain_goes_to_the_bounce_receiver_for_verp_and_srs_only() -> None:
    settings = _settings(mail_hostname="mx.platform.test", bounce_domain="Bounces.Platform.Test.")
    main = _by_name(render(settings, "sqlite:///x.db"))["main.cf"]
    assert "relay_domains = bounces.platform.test\n" in main
    assert "relay_transport = mailplane-intake:[127.0.0.1]:2591\n" in main
    # Only the two address forms and the feedback address are recipients there: anything
    # else is "unknown".
    assert (
        "relay_recipient_maps = regexp:{ {/^b\\+[0-9]+-[0-9a-f]+@bounces\\.platform\\.test$$/ OK}, "
        "{/^srs[01]=[^@]+@bounces\\.platform\\.test$$/ OK}, "
        "{/^unsubscribe\\+[a-z2-7]+@bounces\\.platform\\.test$$/ OK}, "
        "{/^fbl@bounces\\.platform\\.test$$/ OK} }\n"
    ) in main
    # On the inbound port, the bounce domain's recipients (only those) meet the policy
    # service that checks the VERP HMAC, before anything else may accept them.
    socket = settings.state_dir / "run" / "mailplane" / "bounce-policy"
    assert (
        f"mailplane_bounce_recipients = check_policy_service {{ unix:{socket}, "
        "{ default_action = 451 4.3.0 Bounce address check unavailable } }\n"
    ) in main
    inbound = main.split("smtpd_recipient_restrictions = ")[1].split("\n")[0]
    check = "check_recipient_access inline:{ bounces.platform.test=mailplane_bounce_recipients }"
    assert inbound.index(check) < inbound.index("reject_unlisted_recipient")


def test_dovecot_reports_new_mail_to_the_api_by_default() -> None:
    """Live events, source push: the Lua driver for LMTP deliveries, its URL and secret in
    dovecot.conf (0640), never in the script; off when the operator picks another source."""
    settings = _settings(api_port=8123)
    files = _by_name(render(settings, "sqlite:///x.db"))
    conf = files["dovecot.conf"]
    assert "mail_plugins = $mail_plugins notify push_notification mail_lua" in conf
    script = "/tmp/mp-render/dovecot/etc/mailplane-push.lua"
    assert f"push_notification_driver = lua:file={script}" in conf
    assert "mailplane_push_url = http://127.0.0.1:8123/api/v1/mail/events/push" in conf
    assert f"mailplane_push_secret = {push_secret(settings)}" in conf
    lua = files["mailplane-push.lua"]
    assert "dovecot_lua_notify_end_txn" in lua
    assert push_secret(settings) not in lua
    assert push_secret(settings) != dovecot_client_secret(settings)
    for source in ("idle", "poll"):
        quiet = _by_name(render(_settings(webmail_event_source=source), "sqlite:///x.db"))
        assert "push_notification" not in quiet["dovecot.conf"]
        assert "mailplane-push.lua" not in quiet
    off = _by_name(render(_settings(webmail_dovecot_push=False), "sqlite:///x.db"))
    assert "push_notification" not in off["dovecot.conf"]
