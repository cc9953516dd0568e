"""Side effects as jobs (DNS publication and removal, ...): enqueued in the same
transaction as the change that causes them, run after its commit by the runner inside
``mailplane up`` and each ``mailplane worker``. No request handler calls an outside
server after committing: it enqueues a job."""

from mailplane.jobs.errors import JobError, PermanentJobError, TransientJobError
from mailplane.jobs.queue import JobState, enqueue_job, state_of
from mailplane.jobs.registry import add_handler_module, register
from mailplane.jobs.runner import run_due_jobs, run_forever

__all__ = [
    "JobError",
    "JobState",
    "PermanentJobError",
    "TransientJobError",
    "add_handler_module",
    "enqueue_job",
    "register",
    "run_due_jobs",
    "run_forever",
    "state_of",
]
