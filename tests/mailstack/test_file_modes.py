"""Another local user can read none of the platform's secrets while mail flows (issue 7,
defect 4). The database holds password hashes and DKIM private keys; the rendered map
files hold the PostgreSQL password when there is one."""

from __future__ import annotations

import pytest

from mailplane.config import Settings
from mailplane.mailserver.layout import layout
from mailplane.runtime import file_modes
from tests.mailstack.support import MailStack, message
from tests.support.api import Api
from tests.support.nobody import what_nobody_reads

pytestmark = pytest.mark.mailstack

PASSWORD = "correct-horse-1"


def test_nobody_reads_the_secrets_of_a_running_stack(
    api: Api, mailstack: MailStack, settings: Settings
) -> None:
    # Mail flows first: Postfix (as postfix) and Dovecot read the database through the
    # restricted modes, and the SQLite -wal/-shm files exist while they do.
    domain = api.domain(api.tenant()["id"])
    box = api.mailbox(domain["id"], "private", PASSWORD)
    msg = message("someone@outside.test", box["email"])
    mailstack.deliver(msg, box["email"])
    assert mailstack.wait_for(box["email"], PASSWORD, str(msg["Subject"]))

    stack = mailstack.settings
    paths = layout(stack)
    secrets = [
        stack.tls_key_path,
        stack.tls_key_path.parent,
        stack.mail_root,
        paths.postfix_config,
        paths.dovecot_config,
        paths.log_dir,
        *sorted(paths.postfix_config.glob("*.cf")),
        *sorted(paths.dovecot_config.glob("*.ext")),
    ]
    if settings.is_sqlite:
        # The suite's database, which the stack reads (pitfall P10: WAL files included).
        database = settings.sqlite_path
        secrets += [database.parent, *file_modes.sqlite_files(database)]
    seen = what_nobody_reads([stack.state_dir, *secrets])
    # The state directory may be passed through by the daemons, never listed.
    assert seen.pop(str(stack.state_dir)) == "denied"
    assert seen == {str(path): "denied" for path in secrets}
    assert file_modes.loose_modes(stack) == []
