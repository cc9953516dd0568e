"""Settings: secrets never shown, addresses typed so that a wrong one fails at start."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from mailplane.config import Settings, settings_problem
from mailplane.mailserver.render import render

SECRETS = {
    "secret_key": "signing-secret-4f1c2b9a7e6d5c3b1a0f9e8d7c6b5a49",
    "database_url": "postgresql+psycopg://mailplane:db-password-93c1@db.example.net/mailplane",
    "rfc2136_key_secret": "dHNpZy1zZWNyZXQtdmFsdWUtZm9yLXRlc3Rz",
    "lexicon_options": {"auth_token": "lexicon-token-77ab"},
}
SECRET_TEXTS = ["signing-secret-4f1c", "db-password-93c1", "dHNpZy1zZWNyZXQt", "lexicon-token-77ab"]


def test_no_secret_in_repr_str_or_a_dump(tmp_path: Path) -> None:
    settings = Settings(state_dir=tmp_path, **SECRETS)  # type: ignore[arg-type]
    for shown in (repr(settings), str(settings), settings.model_dump_json()):
        assert not [s for s in SECRET_TEXTS if s in shown], shown
    assert "db-password-93c1" not in settings.shown_database_url
    assert "db.example.net" in settings.shown_database_url


def test_the_secrets_still_reach_what_needs_them(tmp_path: Path) -> None:
    settings = Settings(state_dir=tmp_path, **SECRETS)  # type: ignore[arg-type]
    assert settings.effective_secret() == SECRETS["secret_key"]
    # Postfix and Dovecot read the database themselves: their map files carry the password.
    files = render(settings, settings.resolved_database_url)
    assert any("db-password-93c1" in text for text in files.values())


def test_host_names_are_refused_where_addresses_belong(tmp_path: Path) -> None:
    with pytest.raises(ValidationError) as refused:
        Settings(state_dir=tmp_path, dns_resolvers=["resolver.example.net"])
    assert "MAILPLANE_DNS_RESOLVERS[0]" in settings_problem(refused.value)
    with pytest.raises(ValidationError):
        Settings(state_dir=tmp_path, sending_ips=["192.0.2"])


def test_ipv6_inject_networks_are_bracketed_for_postfix(tmp_path: Path) -> None:
    settings = Settings(
        state_dir=tmp_path,
        mail_inject_networks=["127.0.0.1/32", "2001:db8::/32"],
    )
    main_cf = next(t for p, t in render(settings, "sqlite:////x.db").items() if p.name == "main.cf")
    assert "mynetworks = 127.0.0.1/32 [2001:db8::]/32" in main_cf
