"""``mailplane queue``, run as an operator runs it, on a fresh installation."""

from __future__ import annotations

import json
from pathlib import Path

from mailplane.config import Settings
from mailplane.db import Database
from tests.cli.test_cli import mailplane
from tests.delivery.support import deliveries, queue


def _database(env: dict[str, str]) -> Database:
    return Database(
        Settings(
            env="test",
            state_dir=Path(env["MAILPLANE_STATE_DIR"]),
            database_url=env.get("MAILPLANE_DATABASE_URL"),
        )
    )


def test_list_show_hold_release_delete(env: dict[str, str]) -> None:
    mailplane(env, "init")
    database = _database(env)
    try:
        first, second = queue(database, ["one@far.test", "two@far.test"])
        [other] = queue(database, ["three@elsewhere.test"])

        listed = json.loads(
            mailplane(env, "queue", "list", "--domain", "far.test", "--json").stdout
        )
        assert [(i["id"], i["recipient"], i["status"]) for i in listed] == [
            (first, "one@far.test", "queued"),
            (second, "two@far.test", "queued"),
        ]
        table = mailplane(env, "queue", "list").stdout.splitlines()
        assert table[0].split("\t")[:6] == [
            "ID",
            "MESSAGE",
            "TENANT",
            "FROM",
            "RECIPIENT",
            "STATUS",
        ]
        assert table[-1] == "3 deliveries"

        # A bulk action without a selection is refused; with one it says what it did.
        refused = mailplane(env, "queue", "hold", check=False)
        assert refused.returncode == 2
        assert "selection_required" in refused.stderr
        held = mailplane(env, "queue", "hold", "--recipient", "@far.test").stdout
        assert held.strip() == "matched=2 changed=2 skipped_in_flight=0 skipped_other=0"
        assert [r.status for r in deliveries(database, [first, second, other])] == [
            "held",
            "held",
            "queued",
        ]
        shown = mailplane(env, "queue", "show", str(first)).stdout
        assert "status: held" in shown
        assert "recipient: one@far.test" in shown

        released = json.loads(mailplane(env, "queue", "release", str(first), "--json").stdout)
        assert (released["changed"], released["changed_ids"]) == (1, [first])
        deleted = mailplane(
            env, "queue", "delete", "--status", "held", "--status", "queued", "--domain", "far.test"
        ).stdout
        assert deleted.strip() == "matched=2 changed=2 skipped_in_flight=0 skipped_other=0"
        rows = deliveries(database, [first, second, other])
        assert [r.status for r in rows] == ["cancelled", "cancelled", "queued"]
        # Everything deferred: none here.
        assert mailplane(env, "queue", "flush").stdout.startswith("matched=0 changed=0")

        missing = mailplane(env, "queue", "show", "999999", check=False)
        assert missing.returncode == 1
        assert "delivery_not_found" in missing.stderr
        bad = mailplane(env, "queue", "list", "--older-than", "soon", check=False)
        assert bad.returncode == 2
        assert "invalid_age" in bad.stderr
        audit = mailplane(env, "queue", "list", "--status", "lost", check=False)
        assert audit.returncode == 2
        assert "invalid_status" in audit.stderr
    finally:
        database.dispose()
