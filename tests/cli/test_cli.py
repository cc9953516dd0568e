"""The ``mailplane`` command, run as a user runs it: a subprocess with a fresh state dir."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, text

from mailplane.api.app import create_app
from mailplane.config import Settings
from tests.support.ports import free_port, wait_for_port


def mailplane(
    env: dict[str, str], *args: str, check: bool = True
) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [sys.executable, "-m", "mailplane.cli.main", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    if check:
        assert result.returncode == 0, (args, result.stdout, result.stderr)
    return result


def _client(env: dict[str, str]) -> TestClient:
    settings = Settings(
        env="test",
        state_dir=Path(env["MAILPLANE_STATE_DIR"]),
        database_url=env.get("MAILPLANE_DATABASE_URL"),
    )
    return TestClient(create_app(settings))


def _tokens(output: str) -> list[str]:
    return [line for line in output.split() if line.startswith("mpst_")]


def test_init_prints_a_token_once_and_is_idempotent(env: dict[str, str]) -> None:
    first = mailplane(env, "init")
    tokens = _tokens(first.stdout)
    assert len(tokens) == 1, first.stdout
    state = Path(env["MAILPLANE_STATE_DIR"])
    secret_file = state / "secret_key"
    assert secret_file.stat().st_mode & 0o777 == 0o600
    signing_secret = secret_file.read_text()
    assert len(signing_secret.strip()) >= 32

    second = mailplane(env, "init")
    assert _tokens(second.stdout) == []
    assert "already initialised" in second.stdout
    assert secret_file.read_text() == signing_secret

    # The token works, with the secret init wrote (env=test refuses a weak one).
    with _client(env) as client:
        me = client.get("/api/v1/auth/me", headers={"x-service-token": tokens[0]})
        assert me.status_code == 200, me.text
        assert me.json()["scopes"] == ["admin", "read"]
        assert me.json()["name"] == "bootstrap"


def test_db_upgrade(env: dict[str, str]) -> None:
    result = mailplane(env, "db", "upgrade")
    assert "database at revision head" in result.stdout
    from alembic.script import ScriptDirectory

    from mailplane.migrations import alembic_config

    settings = Settings(
        state_dir=Path(env["MAILPLANE_STATE_DIR"]), database_url=env.get("MAILPLANE_DATABASE_URL")
    )
    head = ScriptDirectory.from_config(alembic_config(settings)).get_current_head()
    engine = create_engine(
        settings.resolved_database_url.replace("postgresql://", "postgresql+psycopg://")
    )
    with engine.connect() as connection:
        assert connection.execute(text("SELECT version_num FROM alembic_version")).scalar() == head
    engine.dispose()
    # Running it again changes nothing and succeeds.
    mailplane(env, "db", "upgrade")


def test_token_create_list_revoke(env: dict[str, str]) -> None:
    mailplane(env, "init")
    created = mailplane(env, "token", "create", "monitoring", "--scope", "read")
    # stdout carries the secret alone, so that scripts can capture it.
    secret = created.stdout.strip()
    assert secret.startswith("mpst_")
    assert len(_tokens(created.stdout)) == 1
    token_id = created.stderr.split()[1]
    assert "scopes=read" in created.stderr

    listed = mailplane(env, "token", "list").stdout
    row = next(line for line in listed.splitlines() if line.startswith(f"{token_id}\t"))
    assert "monitoring\tread\tactive\tlast used never" in row
    assert secret not in listed

    with _client(env) as client:
        headers = {"x-service-token": secret}
        assert client.get("/api/v1/tenants", headers=headers).status_code == 200
        assert (
            client.post("/api/v1/tenants", headers=headers, json={"name": "x"}).status_code == 403
        )
        row = next(
            line
            for line in mailplane(env, "token", "list").stdout.splitlines()
            if line.startswith(f"{token_id}\t")
        )
        assert "last used never" not in row

        revoked = mailplane(env, "token", "revoke", token_id)
        assert f"token {token_id} 'monitoring' revoked" in revoked.stdout
        response = client.get("/api/v1/tenants", headers=headers)
        assert (response.status_code, response.json()["error"]) == (401, "invalid_token")
    assert "revoked" in mailplane(env, "token", "list").stdout

    unknown = mailplane(env, "token", "revoke", "999999", check=False)
    assert unknown.returncode == 1
    assert "no service token" in unknown.stderr
    bad_scope = mailplane(env, "token", "create", "x", "--scope", "root", check=False)
    assert bad_scope.returncode == 1
    assert "scopes must be among" in bad_scope.stderr


@pytest.mark.parametrize("command", ["serve", "up"])
def test_production_refuses_the_development_secret(env: dict[str, str], command: str) -> None:
    """Outside development, a secret anybody can read in the source never signs tokens."""
    production = {**env, "MAILPLANE_ENV": "production", "MAILPLANE_MAIL_ENABLED": "false"}
    refused = mailplane(production, command, check=False)
    assert refused.returncode != 0
    assert "refusing to start" in refused.stderr
    assert "mailplane init" in refused.stderr

    too_short = mailplane({**production, "MAILPLANE_SECRET_KEY": "short"}, command, check=False)
    assert too_short.returncode != 0
    assert "refusing to start" in too_short.stderr


def test_production_starts_with_the_secret_init_wrote(env: dict[str, str]) -> None:
    mailplane(env, "init")
    port = free_port()
    production = {**env, "MAILPLANE_ENV": "production", "MAILPLANE_API_PORT": str(port)}
    server = subprocess.Popen(
        [sys.executable, "-m", "mailplane.cli.main", "serve"],
        env=production,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_for_port(port, timeout=30)
    finally:
        server.terminate()
        _, stderr = server.communicate(timeout=30)
    assert "refusing to start" not in stderr


@pytest.mark.parametrize("command", ["status", "serve", "up"])
def test_a_host_name_as_resolver_stops_the_start_clearly(env: dict[str, str], command: str) -> None:
    """Not a 500 on the first /verify: the start fails, naming the variable and the value."""
    wrong = {**env, "MAILPLANE_DNS_RESOLVERS": '["resolver.example.net"]'}
    result = mailplane(wrong, command, check=False)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert "invalid setting MAILPLANE_DNS_RESOLVERS[0]" in result.stderr
    assert "'resolver.example.net'" in result.stderr


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("MAILPLANE_SENDING_IPS", '["192.0.2"]'),
        ("MAILPLANE_MAIL_INJECT_NETWORKS", '["10.0.0.1/8"]'),
        ("MAILPLANE_RFC2136_SERVER", "ns1.example.net"),
        ("MAILPLANE_RFC2136_ALLOWED_SERVERS", '["ns2.example.net"]'),
        ("MAILPLANE_DNS_RESOLVERS", "192.0.2.53"),  # not JSON
    ],
)
def test_addresses_that_are_not_addresses_stop_the_start(
    env: dict[str, str], variable: str, value: str
) -> None:
    result = mailplane({**env, variable: value}, "status", check=False)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert "invalid setting" in result.stderr


def test_a_wrong_secret_is_reported_without_its_value(env: dict[str, str]) -> None:
    wrong = {**env, "MAILPLANE_LEXICON_OPTIONS": '{"auth_token": ["s3cr3t-token-value"]}'}
    result = mailplane(wrong, "status", check=False)
    assert result.returncode == 2
    assert "invalid setting MAILPLANE_LEXICON_OPTIONS[auth_token]" in result.stderr
    assert "s3cr3t-token-value" not in result.stderr
