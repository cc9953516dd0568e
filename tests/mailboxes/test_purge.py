"""The purge removes exactly a deleted mailbox's directory: never above the mail root,
never through a symbolic link, never files a live mailbox or a restore still needs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import update

from mailplane.config import Settings
from mailplane.db import Database
from mailplane.mailboxes.purge import claim, purge_due, remove_storage
from mailplane.models import DeletedMailbox, utcnow
from tests.support.api import Api


@pytest.fixture
def tree(tmp_path: Path) -> tuple[Path, Path]:
    """A mail root with one tenant directory, and a directory outside it."""
    root, outside = tmp_path / "mail", tmp_path / "outside"
    (root / "7").mkdir(parents=True)
    outside.mkdir()
    (outside / "precious").write_text("not the purge's")
    return root, outside


def _maildir(root: Path, relative: str) -> Path:
    path = root / relative / "Maildir" / "cur"
    path.mkdir(parents=True)
    (path / "1.mail").write_text("Subject: hi\n\nhello\n")
    return root / relative


def test_removes_the_mailbox_directory_and_nothing_else(tree: tuple[Path, Path]) -> None:
    root, _ = tree
    gone = _maildir(root, "7/aaaa")
    kept = _maildir(root, "7/bbbb")

    assert remove_storage(root, "7/aaaa/").outcome == "removed"

    assert not gone.exists()
    assert (kept / "Maildir" / "cur" / "1.mail").exists()
    assert remove_storage(root, "7/aaaa/").outcome == "absent"
    assert remove_storage(root, "8/cccc/").outcome == "absent"


@pytest.mark.parametrize("maildir", ["", "/", ".", "7/..", "../outside", "/etc/", "7//x", "7/./x"])
def test_paths_that_could_leave_the_mail_root_are_refused(
    tree: tuple[Path, Path], maildir: str
) -> None:
    root, outside = tree
    assert remove_storage(root, maildir).outcome == "refused"
    assert (outside / "precious").exists()
    assert (root / "7").is_dir()


def test_symbolic_links_are_never_followed(tree: tuple[Path, Path]) -> None:
    root, outside = tree
    (outside / "box").mkdir()
    (outside / "box" / "mail").write_text("x")
    # The mailbox directory itself a link, a parent a link, a link inside the mailbox.
    (root / "7" / "link").symlink_to(outside / "box")
    (root / "9").symlink_to(outside)
    inner = _maildir(root, "7/dddd")
    (inner / "escape").symlink_to(outside)

    assert remove_storage(root, "7/link/").outcome == "refused"
    assert remove_storage(root, "9/box/").outcome == "refused"
    assert remove_storage(root, "7/dddd/").outcome == "removed"

    assert (outside / "box" / "mail").exists()
    assert (outside / "precious").exists()
    assert (root / "7" / "link").is_symlink()
    assert not inner.exists()


def _deleted(api: Api, settings: Settings) -> tuple[dict[str, Any], Path]:
    domain = api.domain(api.tenant()["id"])
    box = api.mailbox(domain["id"], "info")
    api.ok("DELETE", f"/api/v1/mail/accounts/{box['id']}", 204)
    params = {"email": box["email"]}
    (kept,) = api.ok("GET", "/api/v1/mail/deleted-accounts", params=params)["items"]
    files = _maildir(settings.mail_root, kept["maildir"])
    return kept, files


def test_a_claimed_row_is_no_longer_restorable(
    api: Api, settings: Settings, database: Database
) -> None:
    kept, files = _deleted(api, settings)

    assert [c.id for c in claim(settings, database, utcnow(), ids=[kept["id"]])] == [kept["id"]]

    path = f"/api/v1/mail/deleted-accounts/{kept['id']}"
    assert api.ok("GET", path)["restorable"] is False
    answer = api.post(f"{path}/restore", json={})
    assert (answer.status_code, answer.json()["error"]) == (409, "purge_in_progress")
    assert files.is_dir()


def test_a_refused_path_keeps_its_row_for_an_operator(
    api: Api, settings: Settings, database: Database
) -> None:
    kept, files = _deleted(api, settings)
    with database.transaction() as session:
        session.execute(
            update(DeletedMailbox)
            .where(DeletedMailbox.id == kept["id"])
            .values(maildir="../" + kept["maildir"])
        )

    counts = purge_due(settings, database, ids=[kept["id"]])

    assert counts["refused"] == 1
    assert files.is_dir()
    assert api.ok("GET", f"/api/v1/mail/deleted-accounts/{kept['id']}")["restorable"] is False
