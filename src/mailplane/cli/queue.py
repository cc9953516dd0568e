"""``mailplane queue``: mailplane's own delivery queue (not Postfix's) for operators:
list and show deliveries, and retry, delete (cancel), hold, release or flush them.
The same service as the admin API's ``/api/v1/queue`` (``delivery/queue_tools.py``)."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime
from typing import Annotated, Any

import typer

from mailplane.auth.principals import SCOPES, Principal
from mailplane.config import get_settings
from mailplane.errors import InvalidInput, MailplaneError

queue_app = typer.Typer(
    help="The delivery queue: list, show, retry, delete, hold, release, flush.",
    no_args_is_help=True,
)

# Who the audit log names for what an operator does on the command line.
CLI = Principal(kind="system", id=None, name="cli", tenant_id=None, scopes=SCOPES)

Status = Annotated[
    list[str] | None,
    typer.Option(
        "--status", help="queued, sending, deferred, held, ... (repeatable; list: the queue)"
    ),
]
Recipient = Annotated[
    str | None, typer.Option(help='An address (exact) or "@domain" (its domain part).')
]
RecipientDomain = Annotated[str | None, typer.Option("--domain", help="Recipient domain.")]
SendingDomain = Annotated[str | None, typer.Option(help="The domain the message was sent from.")]
Tenant = Annotated[int | None, typer.Option("--tenant", help="Tenant (customer) id.")]
Message = Annotated[str | None, typer.Option("--message", help="Message id (from /send).")]
OlderThan = Annotated[str | None, typer.Option(help="Queued longer ago than, e.g. 2h, 3d.")]
NewerThan = Annotated[str | None, typer.Option(help="Queued more recently than, e.g. 30m.")]
AsJson = Annotated[bool, typer.Option("--json", help="JSON instead of a table.")]


def _fail(message: str, code: int = 1) -> None:
    typer.secho(message, fg=typer.colors.RED, err=True)
    raise typer.Exit(code)


def _selection(
    ids: list[int] | None,
    status: list[str] | None,
    recipient: str | None,
    domain: str | None,
    sending_domain: str | None,
    tenant: int | None,
    message: str | None,
    older_than: str | None,
    newer_than: str | None,
) -> Any:
    from mailplane.delivery.queue_tools import Selection, parse_age
    from mailplane.models.statuses import DeliveryStatus

    try:
        statuses = tuple(DeliveryStatus(s.strip().lower()).value for s in status or [])
    except ValueError:
        known = ", ".join(s.value for s in DeliveryStatus)
        raise InvalidInput(f"unknown status; one of {known}", code="invalid_status") from None
    return Selection(
        ids=tuple(ids or ()),
        message_id=message,
        recipient=recipient,
        recipient_domain=domain,
        tenant_id=tenant,
        sending_domain=sending_domain,
        statuses=statuses,
        older_than=parse_age(older_than, "--older-than") if older_than else None,
        newer_than=parse_age(newer_than, "--newer-than") if newer_than else None,
    )


def _run(work: Callable[[Any, datetime], None], *, write: bool) -> None:
    from mailplane.db import Database
    from mailplane.models import utcnow

    database = Database(get_settings())
    try:
        if write:
            with database.transaction() as session:
                work(session, utcnow())
        else:
            with database.session(write=False) as session:
                work(session, utcnow())
    except MailplaneError as exc:
        _fail(f"{exc.code}: {exc.detail}", 2 if isinstance(exc, InvalidInput) else 1)
    finally:
        database.dispose()


def _age(seconds: int) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def _one_line(text: str | None, width: int = 60) -> str:
    return " ".join((text or "").split())[:width] or "-"


@queue_app.command("list")
def list_queue(
    status: Status = None,
    recipient: Recipient = None,
    domain: RecipientDomain = None,
    sending_domain: SendingDomain = None,
    tenant: Tenant = None,
    message: Message = None,
    older_than: OlderThan = None,
    newer_than: NewerThan = None,
    limit: Annotated[int, typer.Option(min=1, max=100000, help="At most this many.")] = 100,
    as_json: AsJson = False,
) -> None:
    """Deliveries still in the queue (or in --status), oldest first: id, message, tenant,
    from, recipient, status, attempts, next attempt, age, last reply."""
    from mailplane.delivery import queue_tools
    from mailplane.delivery.queue_schemas import QueueItem

    def work(session: Any, now: datetime) -> None:
        selection = _selection(
            None, status, recipient, domain, sending_domain, tenant, message, older_than, newer_than
        )
        items: list[QueueItem] = []
        cursor: str | None = None
        while len(items) < limit:
            page = queue_tools.list_queue(
                session, CLI, selection, now, limit=min(500, limit - len(items)), cursor=cursor
            )
            items += [QueueItem.of(row, now) for row in page.items]
            cursor = page.next_cursor
            if cursor is None:
                break
        if as_json:
            typer.echo(json.dumps([i.model_dump(mode="json") for i in items], indent=2))
            return
        typer.echo("ID\tMESSAGE\tTENANT\tFROM\tRECIPIENT\tSTATUS\tATTEMPTS\tNEXT\tAGE\tLAST REPLY")
        for i in items:
            when = f"{i.next_attempt_at:%Y-%m-%d %H:%M:%S}Z" if i.next_attempt_at else "-"
            typer.echo(
                f"{i.id}\t{i.message_id}\t{i.tenant_id if i.tenant_id is not None else '-'}\t"
                f"{i.sender or '<>'}\t{i.recipient}\t{i.status}\t{i.attempts}\t{when}\t"
                f"{_age(i.age_seconds)}\t{_one_line(i.last_reply)}"
            )
        typer.echo(f"{len(items)} deliveries" + (" (more: raise --limit)" if cursor else ""))

    _run(work, write=False)


@queue_app.command("show")
def show(
    delivery_id: Annotated[int, typer.Argument(help="The id `queue list` shows.")],
    as_json: AsJson = False,
) -> None:
    """One delivery, its message and every attempt."""
    from mailplane.delivery import queue_tools
    from mailplane.delivery.queue_schemas import QueueEntry

    def work(session: Any, now: datetime) -> None:
        entry = QueueEntry.shown(queue_tools.show(session, CLI, delivery_id), now)
        if as_json:
            typer.echo(entry.model_dump_json(indent=2))
            return
        fields = entry.model_dump(exclude={"attempt_log"})
        for name, value in fields.items():
            typer.echo(f"{name}: {_one_line(str(value), 500) if value is not None else '-'}")
        typer.echo(f"attempt log ({len(entry.attempt_log)}):")
        for a in entry.attempt_log:
            typer.echo(
                f"  {a.started_at:%Y-%m-%d %H:%M:%S}Z\t{a.outcome}\t{a.code or '-'}\t"
                f"{a.remote_host or '-'}\t{_one_line(a.reply, 200)}"
            )

    _run(work, write=False)


def _act(
    action: str,
    ids: list[int] | None,
    status: list[str] | None,
    recipient: str | None,
    domain: str | None,
    sending_domain: str | None,
    tenant: int | None,
    message: str | None,
    older_than: str | None,
    newer_than: str | None,
    all_matching: bool,
    limit: int,
    as_json: bool,
) -> None:
    from mailplane.delivery import queue_tools

    def work(session: Any, now: datetime) -> None:
        selection = _selection(
            ids, status, recipient, domain, sending_domain, tenant, message, older_than, newer_than
        )
        result = queue_tools.apply(
            session,
            CLI,
            queue_tools.Action(action),
            selection,
            now,
            limit=limit,
            all_matching=all_matching,
        )
        if as_json:
            out = {
                "action": action,
                **result.counts(),
                "changed_ids": result.changed_ids,
                "in_flight_ids": result.in_flight_ids,
            }
            typer.echo(json.dumps(out))
            return
        typer.echo(" ".join(f"{name}={count}" for name, count in result.counts().items()))
        if result.in_flight_ids:
            shown = " ".join(str(i) for i in result.in_flight_ids[:20])
            typer.echo(f"left alone, a worker is sending them now: {shown}")

    _run(work, write=True)


def _action_command(name: str, action: str, help_text: str) -> None:
    @queue_app.command(name, help=help_text)
    def command(
        ids: Annotated[list[int] | None, typer.Argument(help="Delivery ids.")] = None,
        status: Status = None,
        recipient: Recipient = None,
        domain: RecipientDomain = None,
        sending_domain: SendingDomain = None,
        tenant: Tenant = None,
        message: Message = None,
        older_than: OlderThan = None,
        newer_than: NewerThan = None,
        all_matching: Annotated[
            bool, typer.Option("--all-matching", help="Act on everything without a filter.")
        ] = False,
        limit: Annotated[int, typer.Option(min=1, max=10000, help="At most this many.")] = 1000,
        as_json: AsJson = False,
    ) -> None:
        _act(
            action,
            ids,
            status,
            recipient,
            domain,
            sending_domain,
            tenant,
            message,
            older_than,
            newer_than,
            all_matching,
            limit,
            as_json,
        )


_action_command("retry", "retry", "Make queued and deferred deliveries due now.")
_action_command(
    "delete",
    "cancel",
    "Cancel undelivered deliveries (queued, deferred, held): they become `cancelled`, "
    "the rows and their history stay. Ones being sent right now are left alone.",
)
_action_command("hold", "hold", "Hold queued and deferred deliveries: not sent until released.")
_action_command("release", "release", "Release held deliveries: queued and due now.")
_action_command(
    "flush", "flush", "Retry every deferred delivery (that matches the filters, if given) now."
)
