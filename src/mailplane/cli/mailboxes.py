"""``mailplane mailboxes``: deleted mailboxes whose mail is kept, their restore and purge."""

from __future__ import annotations

from typing import Annotated

import typer
from pydantic import ValidationError

from mailplane.auth.principals import SCOPES, Principal
from mailplane.config import get_settings
from mailplane.errors import MailplaneError

mailboxes_app = typer.Typer(
    help="Deleted mailboxes: list the kept mail, restore it, purge it.", no_args_is_help=True
)

# Who the audit log names for what an operator does on the command line.
CLI = Principal(kind="system", id=None, name="cli", tenant_id=None, scopes=SCOPES)


def _fail(message: str, code: int = 1) -> None:
    typer.secho(message, fg=typer.colors.RED, err=True)
    raise typer.Exit(code)


@mailboxes_app.command("deleted")
def list_deleted(
    email: Annotated[str | None, typer.Option(help="Only this address.")] = None,
) -> None:
    """List deleted mailboxes whose files are still kept (id, address, purge time, path)."""
    from mailplane.db import Database
    from mailplane.mailboxes import deleted

    database = Database(get_settings())
    try:
        with database.transaction() as session:
            cursor: str | None = None
            while True:
                page = deleted.list_deleted(session, CLI, limit=500, cursor=cursor, email=email)
                for kept in page.items:
                    state = "restorable" if kept.purge_started_at is None else "purging"
                    typer.echo(
                        f"{kept.id}\t{kept.email}\ttenant {kept.tenant_id}\t"
                        f"purge after {kept.purge_after:%Y-%m-%d %H:%M}Z\t{state}\t{kept.maildir}"
                    )
                cursor = page.next_cursor
                if cursor is None:
                    break
    finally:
        database.dispose()


@mailboxes_app.command("restore")
def restore(
    deleted_id: Annotated[int, typer.Argument(help="The id shown by `mailboxes deleted`.")],
    domain_id: Annotated[int | None, typer.Option(help="Restore into this domain.")] = None,
    local_part: Annotated[str | None, typer.Option(help="Restore as this local part.")] = None,
) -> None:
    """Re-create the mailbox on its kept mail (same tenant; old address unless told)."""
    from mailplane.db import Database
    from mailplane.mailboxes import deleted
    from mailplane.mailboxes.schemas import DeletedMailboxRestore

    settings = get_settings()
    database = Database(settings)
    try:
        body = DeletedMailboxRestore(domain_id=domain_id, local_part=local_part)
        with database.transaction() as session:
            mailbox = deleted.restore(session, CLI, settings, deleted_id, body)
            typer.echo(f"restored as mailbox {mailbox.id} {mailbox.email}")
    except MailplaneError as exc:
        _fail(f"{exc.code}: {exc.detail}")
    except ValidationError as exc:
        _fail(str(exc), 2)
    finally:
        database.dispose()


@mailboxes_app.command("purge")
def purge(
    ids: Annotated[
        list[int] | None,
        typer.Option("--id", help="Purge this deleted mailbox now, even within its grace."),
    ] = None,
) -> None:
    """Remove the files of deleted mailboxes whose grace period is over (what `up` does)."""
    from mailplane.db import Database
    from mailplane.mailboxes import purge as purging

    settings = get_settings()
    database = Database(settings)
    try:
        counts = purging.purge_due(settings, database, ids=ids or None, principal=CLI)
    finally:
        database.dispose()
    typer.echo(" ".join(f"{outcome}={count}" for outcome, count in counts.items()))
    if counts["refused"] or counts["failed"]:
        raise typer.Exit(1)
