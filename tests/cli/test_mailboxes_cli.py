"""``mailplane mailboxes deleted|restore|purge``, run as an operator runs them."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

from mailplane.api.app import create_app
from mailplane.config import Settings
from tests.cli import test_cli
from tests.support.api import Api

# The fresh state directory (and PostgreSQL database) every CLI test gets is the `env`
# fixture of tests/cli/conftest.py.
mailplane = test_cli.mailplane


@contextmanager
def _api(env: dict[str, str], token: str, **settings: Any) -> Iterator[Api]:
    app = create_app(
        Settings(
            env="test",
            state_dir=Path(env["MAILPLANE_STATE_DIR"]),
            database_url=env.get("MAILPLANE_DATABASE_URL"),
            argon2_memory_kib=1024,
            argon2_time_cost=1,
            **settings,
        )
    )
    with TestClient(app) as client:  # closing it disposes of the app's database engine
        yield Api(client, {"x-service-token": token})


def _deleted_mailbox(api: Api, domain_id: int, local_part: str) -> tuple[dict[str, Any], Path]:
    """A deleted mailbox with a message in its (kept) Maildir; returns the box and its files."""
    box = api.mailbox(domain_id, local_part)
    (kept,) = _delete(api, box)
    files = Path(api.client.app.state.settings.mail_root) / kept["maildir"]
    (files / "Maildir" / "cur").mkdir(parents=True)
    (files / "Maildir" / "cur" / "1.mail").write_text("Subject: kept\n\nkept\n")
    return kept, files


def _delete(api: Api, box: dict[str, Any]) -> list[dict[str, Any]]:
    api.ok("DELETE", f"/api/v1/mail/accounts/{box['id']}", 204)
    params = {"email": box["email"]}
    items: list[dict[str, Any]] = api.ok("GET", "/api/v1/mail/deleted-accounts", params=params)[
        "items"
    ]
    return items


def test_list_restore_and_purge(env: dict[str, str]) -> None:
    (token,) = test_cli._tokens(mailplane(env, "init").stdout)
    with _api(env, token) as api, _api(env, token, mailbox_purge_grace_hours=0) as quick:
        domain = api.domain(api.tenant()["id"])
        kept, files = _deleted_mailbox(api, domain["id"], "info")

        listed = mailplane(env, "mailboxes", "deleted").stdout
        assert f"{kept['id']}\t{kept['email']}\t" in listed
        assert "restorable" in listed
        # Within the grace period the purge leaves the files alone.
        assert "removed=0" in mailplane(env, "mailboxes", "purge").stdout
        assert files.is_dir()

        restored = mailplane(env, "mailboxes", "restore", str(kept["id"])).stdout
        assert "restored as mailbox" in restored
        assert kept["email"] in restored
        again = mailplane(env, "mailboxes", "restore", str(kept["id"]), check=False)
        assert again.returncode == 1
        assert "not_found" in again.stderr

        # An operator may purge one now, grace or not.
        box = api.ok("GET", "/api/v1/mail/accounts")["items"][0]
        (kept_again,) = _delete(api, box)
        assert (
            "removed=1"
            in mailplane(env, "mailboxes", "purge", "--id", str(kept_again["id"])).stdout
        )
        assert not files.exists()

        # With no grace, the next purge run takes everything deleted so far.
        other, other_files = _deleted_mailbox(quick, domain["id"], "sales")
        assert "removed=1" in mailplane(env, "mailboxes", "purge").stdout
        assert not other_files.exists()
        assert str(other["id"]) not in mailplane(env, "mailboxes", "deleted").stdout
