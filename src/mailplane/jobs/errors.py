"""How a job handler says that it failed: classified once, where the failure enters
(the handler knows whether its outside server was unreachable or refused)."""

from __future__ import annotations


class JobError(Exception):
    """A handler's failure; ``str(error)`` is kept as the job's ``last_error``."""


class TransientJobError(JobError):
    """Trying again later may work (a server unreachable, a timeout): the job is retried
    with exponential backoff until ``jobs_max_attempts``."""


class PermanentJobError(JobError):
    """Trying again cannot help (a refusal, a missing setting): the job fails at once."""
