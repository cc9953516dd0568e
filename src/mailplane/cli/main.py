"""The ``mailplane`` command: init, db, token, dns, mailboxes, jobs, serve, intake, up, status."""

from __future__ import annotations

import sys
from typing import Annotated

import typer
from pydantic import ValidationError
from pydantic_settings import SettingsError

from mailplane.cli.jobs import jobs_app
from mailplane.cli.mailboxes import mailboxes_app
from mailplane.cli.queue import queue_app
from mailplane.config import get_settings, settings_problem
from mailplane.errors import MailplaneError
from mailplane.runtime import file_modes
from mailplane.runtime.state import ensure_state

app = typer.Typer(help="mailplane: a self-hosted multi-tenant mail platform.", no_args_is_help=True)
db_app = typer.Typer(help="Database schema.", no_args_is_help=True)
token_app = typer.Typer(help="Platform service tokens (x-service-token).", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(token_app, name="token")
dns_app = typer.Typer(help="DNS verification of hosted domains.", no_args_is_help=True)
app.add_typer(dns_app, name="dns")
app.add_typer(mailboxes_app, name="mailboxes")
app.add_typer(jobs_app, name="jobs")
app.add_typer(queue_app, name="queue")


def _fail(message: str, code: int = 1) -> None:
    typer.secho(message, fg=typer.colors.RED, err=True)
    raise typer.Exit(code)


@app.callback()
def _read_settings_first() -> None:
    """Every command reads the settings first: a wrong value (a host name where an address
    belongs, say) is a clear message and exit status 2, never a traceback mid-start."""
    try:
        get_settings()
    except ValidationError as exc:
        _fail(settings_problem(exc), code=2)
    except SettingsError as exc:  # a list or a mapping that is not JSON
        _fail(f"invalid setting: {exc} (lists and mappings are written as JSON)", code=2)


@app.command()
def init(
    token_name: Annotated[str, typer.Option(help="Name of the first admin token.")] = "bootstrap",  # noqa: S107
) -> None:
    """Create the state directory, secrets and database; print a first admin token once."""
    from mailplane import migrations
    from mailplane.auth import service_tokens
    from mailplane.db import Database

    settings = get_settings()
    new_secret = ensure_state(settings)
    migrations.upgrade(settings)
    from mailplane.mailserver import bootstrap

    bootstrap.prepare_state(settings)
    database = Database(settings)
    try:
        with database.transaction() as session:
            if service_tokens.list_all(session):
                typer.echo(f"state directory {settings.state_dir} is ready (already initialised)")
                return
            token, secret = service_tokens.create(session, token_name, ["admin", "read"])
    finally:
        database.dispose()
    typer.echo(f"state directory: {settings.state_dir}")
    if new_secret:
        typer.echo(f"signing secret:  {settings.secret_file} (new)")
    typer.echo(f"database:        {settings.shown_database_url}")
    typer.echo(f"admin token '{token.name}' (shown only now, keep it safe):")
    typer.echo(secret)


@db_app.command("upgrade")
def db_upgrade(revision: Annotated[str, typer.Argument()] = "head") -> None:
    """Apply the migrations (the same ones on SQLite and PostgreSQL)."""
    from mailplane import migrations

    settings = get_settings()
    ensure_state(settings)
    migrations.upgrade(settings, revision)
    typer.echo(f"database at revision {revision}")


@token_app.command("create")
def token_create(
    name: Annotated[str, typer.Argument(help="What the token is for.")],
    scope: Annotated[list[str] | None, typer.Option(help="admin and/or read.")] = None,
) -> None:
    """Create a service token and print it once."""
    from mailplane.auth import service_tokens
    from mailplane.db import Database

    database = Database(get_settings())
    try:
        with database.transaction() as session:
            token, secret = service_tokens.create(session, name, scope or ["admin", "read"])
            typer.echo(f"token {token.id} '{token.name}' scopes={token.scopes}", err=True)
    except MailplaneError as exc:
        _fail(exc.detail)
    finally:
        database.dispose()
    typer.echo(secret)


@token_app.command("list")
def token_list() -> None:
    """List service tokens (never their secrets)."""
    from mailplane.auth import service_tokens
    from mailplane.db import Database

    database = Database(get_settings())
    try:
        with database.transaction() as session:
            for t in service_tokens.list_all(session):
                state = f"revoked {t.revoked_at:%Y-%m-%d %H:%M}" if t.revoked_at else "active"
                used = f"{t.last_used_at:%Y-%m-%d %H:%M}" if t.last_used_at else "never"
                typer.echo(f"{t.id}\t{t.name}\t{t.scopes}\t{state}\tlast used {used}")
    finally:
        database.dispose()


@token_app.command("revoke")
def token_revoke(token_id: Annotated[int, typer.Argument()]) -> None:
    """Revoke a service token; requests carrying it get 401 at once."""
    from mailplane.auth import service_tokens
    from mailplane.db import Database

    database = Database(get_settings())
    try:
        with database.transaction() as session:
            token = service_tokens.revoke(session, token_id)
            typer.echo(f"token {token.id} '{token.name}' revoked")
    except MailplaneError as exc:
        _fail(exc.detail)
    finally:
        database.dispose()


@dns_app.command("verify")
def dns_verify(
    domains: Annotated[list[str] | None, typer.Argument(help="Domains to check.")] = None,
    all_domains: Annotated[bool, typer.Option("--all", help="Check every hosted domain.")] = False,
) -> None:
    """Check domains' DNS now and update their verification state; exit 1 if any is broken."""
    from mailplane.db import Database
    from mailplane.domains.verification.scheduler import verify_now
    from mailplane.names import to_a_label

    if not domains and not all_domains:
        _fail("name one or more domains, or pass --all", 2)
    try:
        names = None if all_domains else [to_a_label(d) for d in domains or []]
    except MailplaneError as exc:
        _fail(exc.detail, 2)
        return
    database = Database(get_settings())
    broken = False
    try:
        results = verify_now(get_settings(), database, names)
    finally:
        database.dispose()
    if names is not None and len(results) < len(names):
        found = {name for name, _, _ in results}
        _fail("not hosted here: " + ", ".join(n for n in names if n not in found))
    for name, state, report in results:
        broken |= report.outcome != "ok"
        typer.echo(f"{name}\t{state}\t{report.outcome}")
        for item in report.checks:
            if item.status != "ok":
                typer.echo(f"  {item.status:7} {item.record}: {item.hint}")
    raise typer.Exit(1 if broken else 0)


@app.command()
def serve(
    host: Annotated[str | None, typer.Option()] = None,
    port: Annotated[int | None, typer.Option()] = None,
) -> None:
    """Run the HTTP API alone."""
    import uvicorn

    from mailplane.api.app import create_app

    settings = get_settings()
    try:
        settings.check_production()
    except RuntimeError as exc:
        _fail(str(exc))
    # uvicorn believes X-Forwarded-For from 127.0.0.1 unless told otherwise, so any local
    # client could pick the address it is throttled by: trust only configured proxies.
    trusted = [str(network) for network in settings.trusted_proxies]
    uvicorn.run(
        create_app(settings),
        host=host or settings.api_host,
        port=port or settings.api_port,
        log_level="info",
        proxy_headers=bool(trusted),
        forwarded_allow_ips=trusted,
    )


@app.command()
def worker() -> None:
    """Run one delivery worker (more processes, more machines on PostgreSQL); SIGTERM
    finishes the sends in flight and commits them before exiting."""
    import logging
    import signal
    import threading

    from mailplane.db import Database
    from mailplane.delivery.worker import run_worker
    from mailplane.jobs import run_forever as run_jobs
    from mailplane.webhooks.dispatcher import run_forever as run_webhooks

    settings = get_settings()
    try:
        settings.check_production()
    except RuntimeError as exc:
        _fail(str(exc))
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    # Each worker also runs due jobs (DNS publication, DSNs that waited for Postfix), so a
    # machine that runs only workers still runs side effects; claims keep them single.
    database = Database(settings)
    jobs = threading.Thread(target=run_jobs, args=(settings, database, stop), name="jobs")
    jobs.start()
    # The webhook dispatcher (events to signed POSTs); `mailplane up` runs it through its
    # workers. Claims keep each webhook delivery single across workers.
    webhooks = threading.Thread(
        target=run_webhooks, args=(settings, database, stop), name="webhooks"
    )
    webhooks.start()
    try:
        run_worker(settings, stop)
    finally:
        stop.set()
        jobs.join(timeout=30)
        webhooks.join(timeout=settings.webhook_timeout_seconds + 5)
        database.dispose()


@app.command()
def intake() -> None:
    """Run the SMTP intake and the submission milter (``mailplane up`` runs them too)."""
    from mailplane.intake.service import run_intake

    settings = get_settings()
    try:
        settings.check_production()
    except RuntimeError as exc:
        _fail(str(exc))
    sys.exit(run_intake(settings))


@app.command()
def up() -> None:
    """Start everything: the API, and Postfix and Dovecot where they are installed."""
    from mailplane.runtime.supervisor import run_platform

    settings = get_settings()
    try:
        settings.check_production()
    except RuntimeError as exc:
        _fail(str(exc))
    sys.exit(run_platform(settings))


@app.command()
def status() -> None:
    """Report each component (API, Postfix, Dovecot) and warn about secrets that other
    local users could read."""
    from mailplane.runtime.supervisor import component_status

    settings = get_settings()
    healthy = True
    for name, ok, message in component_status(settings):
        healthy &= ok
        mark = (
            typer.style("ok  ", fg=typer.colors.GREEN)
            if ok
            else typer.style("DOWN", fg=typer.colors.RED)
        )
        typer.echo(f"{mark} {name:10} {message}")
    # Loose modes are a warning, not an outage: mail still flows, but other local users
    # may read secrets. The exit code keeps meaning "is it up".
    for reason in file_modes.loose_modes(settings):
        typer.echo(f"{typer.style('warn', fg=typer.colors.YELLOW)} file modes  {reason}")
    raise typer.Exit(0 if healthy else 1)


def main() -> None:  # pragma: no cover
    app()


if __name__ == "__main__":  # pragma: no cover
    main()
