"""Dovecot 2.3 configuration: dovecot.conf and the SQL passdb/userdb file. Pure functions."""

from __future__ import annotations

import string
from importlib import resources
from pathlib import Path

from mailplane.auth.mail_tokens import introspection_url
from mailplane.config import Settings
from mailplane.live_events.push_client import push_rendered, push_secret, push_url
from mailplane.mailserver import oauth2_check
from mailplane.mailserver.layout import DatabaseTarget, Layout, PostgresTarget, SqliteTarget
from mailplane.mailserver.postfix_config import quota_reply
from mailplane.names import LOCAL_PART_CHARACTERS


def _sql_literal_path(path: Path) -> str:
    text = str(path)
    if "'" in text or "%" in text:
        # It is pasted into SQL text and Dovecot's %-variables expansion.
        raise ValueError(f"the mail root {text} must not contain quotes or percent signs")
    return text


def username_chars() -> str:
    """Every character of a login: the local parts the API accepts (one definition, in
    names.py), "@", and what A-label domains are made of. Dovecot's default set
    lacks the apostrophe, so o'brien@ could receive mail but never log in. Upper case is
    accepted and lowered by auth_username_format. Quotes are safe in the SQL: Dovecot
    escapes %u for its SQL driver."""
    domain = string.ascii_lowercase + string.digits + ".-"
    # Letters first: Dovecot's config parser would read a leading quote as quoting.
    ordered = string.ascii_letters + string.digits + "@" + LOCAL_PART_CHARACTERS + domain
    return "".join(dict.fromkeys(ordered))


def sql_conf(settings: Settings, target: DatabaseTarget) -> str:
    if isinstance(target, SqliteTarget):
        driver, connect = "sqlite", str(target.path)
    else:
        assert isinstance(target, PostgresTarget)
        driver = "pgsql"
        connect = f"host={target.host} port={target.port} dbname={target.dbname} user={target.user}"
        if target.password:
            connect += f" password={target.password}"
    root = _sql_literal_path(settings.mail_root)
    # "user" is reserved in PostgreSQL, hence the quoted alias; %u is escaped by Dovecot.
    return (
        f"driver = {driver}\n"
        f"connect = {connect}\n"
        f"default_pass_scheme = {settings.password_scheme}\n"
        'password_query = SELECT username AS "user", password FROM mp_dovecot_passdb '
        "WHERE username = '%u'\n"
        f"user_query = SELECT '{root}/' || maildir AS home, quota_rule "
        "FROM mp_dovecot_userdb WHERE username = '%u'\n"
        'iterate_query = SELECT username AS "user" FROM mp_dovecot_userdb\n'
    )


def oauth2_conf(settings: Settings) -> str:
    """RFC 7662 introspection for XOAUTH2/OAUTHBEARER (SPEC section E). The URL carries
    Dovecot's client credentials: the file is 0640 root:dovecot like the SQL one."""
    return (
        "introspection_mode = post\n"
        f"introspection_url = {introspection_url(settings)}\n"
        "force_introspection = yes\n"
        "username_attribute = username\n"
        "active_attribute = active\n"
        "active_value = true\n"
    )


# The checkpassword program for XOAUTH2/OAUTHBEARER on PostgreSQL (0750 root:dovecot).
OAUTH2_CHECK = "mailplane-oauth2-check"


def dovecot_conf(settings: Settings, paths: Layout, checkpassword: bool = False) -> str:
    is_test = settings.env == "test"
    addr = settings.mail_listen_address
    mechanisms = "plain login xoauth2 oauthbearer"
    parts = [
        "# Rendered by mailplane; edits are overwritten.",
        "instance_name = mailplane",
        f"base_dir = {paths.dovecot_run}",
        f"state_dir = {paths.dovecot_state}",
        f"log_path = {paths.dovecot_log}",
        f"info_log_path = {paths.dovecot_log}",
        f"debug_log_path = {paths.dovecot_log}",
        "auth_verbose = yes",
        "protocols = imap lmtp",
        f"listen = {addr}",
        f"hostname = {settings.mail_hostname}",
        f"postmaster_address = postmaster@{settings.mail_hostname}",
        "default_internal_user = dovecot",
        "default_login_user = dovenull",
        # vmail is a system user (uid < 1000); Dovecot refuses uids below this.
        "first_valid_uid = 1",
        f"mail_uid = {settings.vmail_user}",
        f"mail_gid = {settings.vmail_user}",
        "mail_location = maildir:~/Maildir",
        "mail_plugins = $mail_plugins quota",
        f"mail_fsync = {'optimized' if settings.mail_fsync else 'never'}",
        "ssl = yes",
        f"ssl_cert = <{settings.tls_cert_path}",
        f"ssl_key = <{settings.tls_key_path}",
        "ssl_min_protocol = TLSv1.2",
        # Plaintext AUTH only over TLS, except from loopback (Dovecot counts rip == lip).
        "disable_plaintext_auth = yes",
        f"auth_mechanisms = {mechanisms}",
        f"auth_username_chars = {username_chars()}",
        "auth_username_format = %Lu",
        # Loopback is the platform itself (webmail, tests): no per-IP penalty for IMAP.
        "login_trusted_networks = 127.0.0.0/8",
        f"auth_failure_delay = {'0' if is_test else '2s'}",
        "recipient_delimiter = +",
        "lda_mailbox_autocreate = yes",
        # Over quota: a temporary LMTP failure keeps the mail in Postfix's queue (defer);
        # otherwise a permanent one, which Postfix returns to the sender (never lost).
        f"quota_full_tempfail = {'yes' if settings.quota_exceeded_policy == 'defer' else 'no'}",
        "lmtp_rcpt_check_quota = yes",
        "",
        "service imap-login {",
        "  inet_listener imap {",
        f"    address = {addr}",
        f"    port = {settings.imap_port}",
        "  }",
        "  inet_listener imaps {",
        f"    address = {addr}",
        f"    port = {settings.imaps_port}",
        "    ssl = yes",
        "  }",
        "}",
        "service pop3-login {",
        "  inet_listener pop3 {\n    port = 0\n  }",
        "  inet_listener pop3s {\n    port = 0\n  }",
        "}",
        "service lmtp {",
        "  unix_listener lmtp {\n    mode = 0660\n    user = postfix\n    group = postfix\n  }",
        "}",
        "service auth {",
        "  unix_listener auth-postfix {",
        "    mode = 0660\n    user = postfix\n    group = postfix",
        "  }",
        f"  unix_listener auth-userdb {{\n    mode = 0600\n    user = {settings.vmail_user}\n  }}",
        "}",
        # Reads the SQLite file; its directory and WAL files belong to group postfix (P10).
        "service auth-worker {\n  extra_groups = postfix\n}",
        "service quota-status {",
        "  executable = quota-status -p postfix",
        "  client_limit = 1",
        "  unix_listener quota-status {",
        "    mode = 0660\n    user = postfix\n    group = postfix",
        "  }",
        "}",
        "service stats {\n  unix_listener stats-writer {\n    mode = 0666\n  }\n}",
    ]
    if is_test:
        # Pitfall P2: without this every failed SASL login from 127.0.0.1 delays all later
        # ones by up to 15 s. Production keeps the penalty.
        parts.append("service anvil {\n  unix_listener anvil-auth-penalty {\n    mode = 0\n  }\n}")
    sql_args = paths.dovecot_config / "dovecot-sql.conf.ext"
    oauth2_args = paths.dovecot_config / "dovecot-oauth2.conf.ext"
    if checkpassword:
        # PostgreSQL: the oauth2 passdb would crash Dovecot's auth (see oauth2_check.py).
        oauth2_passdb = (
            "passdb {\n  driver = checkpassword\n  mechanisms = xoauth2 oauthbearer\n"
            f"  args = {paths.dovecot_config / OAUTH2_CHECK}\n}}"
        )
    else:
        oauth2_passdb = (
            "passdb {\n  driver = oauth2\n  mechanisms = xoauth2 oauthbearer\n"
            f"  args = {oauth2_args}\n}}"
        )
    parts += [
        f"passdb {{\n  driver = sql\n  mechanisms = plain login\n  args = {sql_args}\n}}",
        oauth2_passdb,
        f"userdb {{\n  driver = sql\n  args = {sql_args}\n}}",
        "protocol imap {\n  mail_plugins = $mail_plugins imap_quota\n}",
        *push_conf(settings, paths),
        "plugin {",
        "  quota = count:User quota",
        "  quota_vsizes = yes",
        "  quota_status_success = DUNNO",
        "  quota_status_nouser = DUNNO",
        f'  quota_status_overquota = "{quota_reply(settings)}"',
        "}",
        "namespace inbox {",
        "  inbox = yes",
        "  separator = /",
        "  mailbox Drafts {\n    special_use = \\Drafts\n    auto = subscribe\n  }",
        "  mailbox Sent {\n    special_use = \\Sent\n    auto = subscribe\n  }",
        "  mailbox Trash {\n    special_use = \\Trash\n    auto = subscribe\n  }",
        "  mailbox Junk {\n    special_use = \\Junk\n    auto = subscribe\n  }",
        "  mailbox Archive {\n    special_use = \\Archive\n    auto = subscribe\n  }",
        "}",
    ]
    return "\n".join(parts) + "\n"


PUSH_SCRIPT = "mailplane-push.lua"


def push_conf(settings: Settings, paths: Layout) -> list[str]:
    """New mail reported to the API as it is delivered (live events, source "push").

    Dovecot 2.3's OX driver only reports users who set a METADATA entry themselves and
    only for the INBOX; the Lua driver reports every folder, with the folder's counts, for
    every user. The secret sits in dovecot.conf (0640 root:dovecot), not in the script.
    """
    if not push_rendered(settings):
        return []
    script = paths.dovecot_config / PUSH_SCRIPT
    return [
        "protocol lmtp {",
        "  mail_plugins = $mail_plugins notify push_notification mail_lua push_notification_lua",
        "}",
        "plugin {",
        f"  push_notification_driver = lua:file={script}",
        f"  mailplane_push_url = {push_url(settings)}",
        f"  mailplane_push_secret = {push_secret(settings)}",
        "}",
    ]


def push_script() -> str:
    return (resources.files("mailplane.mailserver") / "templates" / "dovecot_push.lua").read_text()


def render_dovecot(settings: Settings, paths: Layout, target: DatabaseTarget) -> dict[Path, str]:
    checkpassword = isinstance(target, PostgresTarget)
    oauth2_args = paths.dovecot_config / "dovecot-oauth2.conf.ext"
    files = {
        paths.dovecot_conf: dovecot_conf(settings, paths, checkpassword),
        paths.dovecot_config / "dovecot-sql.conf.ext": sql_conf(settings, target),
        oauth2_args: oauth2_conf(settings),
    }
    if push_rendered(settings):
        files[paths.dovecot_config / PUSH_SCRIPT] = push_script()
    if checkpassword:
        files[paths.dovecot_config / OAUTH2_CHECK] = oauth2_check.program(str(oauth2_args))
    return files
