"""After ``mailplane init``, another local user can read nothing in the state directory,
and ``mailplane status`` warns when a secret becomes readable (issue 7, defect 4)."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from mailplane.mailserver import requirements
from tests.cli.test_cli import mailplane
from tests.support.nobody import require_root, what_nobody_reads

DB_PASSWORD = "pg-password-in-the-maps"


@pytest.fixture
def reachable_env(env: dict[str, str]) -> Iterator[dict[str, str]]:
    """A state directory that any user can reach (pytest's tmp_path is root-only, which
    would make the test prove nothing), with the mail plane configured by init."""
    require_root()
    if not requirements.check().ok:
        pytest.skip("the mail plane cannot be configured here")
    parent = Path(tempfile.mkdtemp(prefix="mpf-", dir="/tmp"))
    os.chmod(parent, 0o755)
    values = {**env, "MAILPLANE_STATE_DIR": str(parent / "state")}
    if "MAILPLANE_DATABASE_URL" in values:
        # A password goes into Postfix's map files and Dovecot's SQL file; the test
        # cluster trusts loopback and ignores it.
        values["MAILPLANE_DATABASE_URL"] = values["MAILPLANE_DATABASE_URL"].replace(
            "postgres@", f"postgres:{DB_PASSWORD}@", 1
        )
    yield values
    shutil.rmtree(parent, ignore_errors=True)


def test_nobody_reads_any_file_of_the_state_directory(reachable_env: dict[str, str]) -> None:
    mailplane(reachable_env, "init")
    state = Path(reachable_env["MAILPLANE_STATE_DIR"])
    files = [Path(root) / name for root, _, names in os.walk(state) for name in names]
    secrets = {
        state / "secret_key",
        state / "tls" / "key.pem",
        state / "postfix" / "etc" / "mailboxes.cf",
        state / "dovecot" / "etc" / "dovecot-sql.conf.ext",
    }
    if "MAILPLANE_DATABASE_URL" in reachable_env:
        assert DB_PASSWORD in (state / "postfix" / "etc" / "mailboxes.cf").read_text()
    else:
        secrets.add(state / "db" / "mailplane.sqlite")
    assert secrets <= set(files)
    seen = what_nobody_reads([state, *files])
    assert seen.pop(str(state)) == "denied"  # passed through by the daemons, never listed
    assert {path for path, outcome in seen.items() if outcome != "denied"} == set()


def test_status_warns_about_loose_modes_and_init_repairs_them(
    reachable_env: dict[str, str],
) -> None:
    mailplane(reachable_env, "init")
    state = Path(reachable_env["MAILPLANE_STATE_DIR"])
    clean = mailplane(reachable_env, "status", check=False)
    assert "warn" not in clean.stdout, clean.stdout

    loosened = [state, state / "secret_key", state / "tls" / "key.pem"]
    if "MAILPLANE_DATABASE_URL" not in reachable_env:
        loosened += [state / "db", state / "db" / "mailplane.sqlite"]
    for path in loosened:
        os.chmod(path, 0o755 if path.is_dir() else 0o644)
    (state / "postfix" / "etc" / "mailboxes.cf").chmod(0o644)
    warned = mailplane(reachable_env, "status", check=False)
    warnings = [line for line in warned.stdout.splitlines() if line.startswith("warn")]
    for path in [*loosened, state / "postfix" / "etc" / "mailboxes.cf"]:
        assert any(f" {path} is " in line for line in warnings), (path, warned.stdout)
    # Loose modes are a warning, not an outage: the exit code still says what is down.
    assert warned.returncode == clean.returncode

    mailplane(reachable_env, "init")
    assert "warn" not in mailplane(reachable_env, "status", check=False).stdout
