"""``mailplane jobs``: the side-effect jobs (DNS publication, ...) for operators: what is
still to run or has failed, and running the due ones now."""

from __future__ import annotations

from typing import Annotated

import typer

from mailplane.config import get_settings

jobs_app = typer.Typer(
    help="Side-effect jobs (DNS publication and removal): list them, run the due ones.",
    no_args_is_help=True,
)


@jobs_app.command("list")
def list_jobs(
    limit: Annotated[int, typer.Option(min=1, max=10000, help="At most this many.")] = 100,
) -> None:
    """Jobs still to run (queued, running, retrying) and jobs that failed, newest first:
    id, kind, subject, state, attempts, next run, last error. Payloads are not shown."""
    from mailplane.db import Database
    from mailplane.jobs.queue import state_of, unfinished_and_failed

    database = Database(get_settings())
    try:
        with database.session(write=False) as session:
            for job in unfinished_and_failed(session, limit):
                when = f"{job.run_at:%Y-%m-%d %H:%M:%S}Z" if job.run_at else "-"
                error = (job.last_error or "").replace("\n", " ")[:200]
                typer.echo(
                    f"{job.id}\t{job.kind}\t{job.subject or '-'}\t{state_of(job)}\t"
                    f"attempts {job.attempts}\tnext {when}\t{error}"
                )
    finally:
        database.dispose()


@jobs_app.command("run-due")
def run_due(
    limit: Annotated[int, typer.Option(min=1, max=100000, help="Run at most this many.")] = 1000,
) -> None:
    """Run every job that is due now (also what `mailplane up` does every
    MAILPLANE_JOBS_POLL_SECONDS); prints how many ran."""
    from mailplane.db import Database
    from mailplane.jobs.runner import new_runner_id, run_due_jobs

    settings = get_settings()
    database = Database(settings)
    runner = new_runner_id()
    ran = 0
    try:
        while ran < limit:
            batch = run_due_jobs(
                settings, database, limit=min(settings.jobs_batch_size, limit - ran), runner=runner
            )
            if not batch:
                break
            ran += batch
    finally:
        database.dispose()
    typer.echo(f"ran {ran} jobs")
