"""Job handlers by kind. A handler is ``(settings, database, payload) -> None``: it does
its outside call and writes its outcome in transactions of its own, and raises
:class:`~mailplane.jobs.errors.TransientJobError` to be retried or
:class:`~mailplane.jobs.errors.PermanentJobError` to give up.

Features register their handlers when their handler module is imported. The runner
imports the modules named in ``HANDLER_MODULES`` by name, the first time it needs a
handler, so that ``jobs/`` depends on no feature and no feature on the runner.
"""

from __future__ import annotations

import importlib
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from mailplane.config import Settings
from mailplane.db import Database

Handler = Callable[[Settings, Database, dict[str, Any]], None]
# Called once when a job has failed for good (a permanent error, or the last attempt),
# with the reason: where a handler reports failures to users (the audit log, ...).
GiveUpHook = Callable[[Settings, Database, dict[str, Any], str], None]

# Modules that call register() at import. Add a feature's module here (or call
# add_handler_module() before the runner starts).
HANDLER_MODULES: list[str] = [
    "mailplane.domains.publication_jobs",
    "mailplane.delivery.dsn_jobs",
]


@dataclass(frozen=True)
class Registration:
    handler: Handler
    on_give_up: GiveUpHook | None = None


_handlers: dict[str, Registration] = {}
_loaded: set[str] = set()
_lock = threading.Lock()


def register(kind: str, handler: Handler, *, on_give_up: GiveUpHook | None = None) -> None:
    """Make ``handler`` run the jobs of ``kind`` (registering a kind again replaces it)."""
    with _lock:
        _handlers[kind] = Registration(handler, on_give_up)


def add_handler_module(module: str) -> None:
    """Have the runner import ``module`` (which registers its handlers) before it runs."""
    with _lock:
        if module not in HANDLER_MODULES:
            HANDLER_MODULES.append(module)


def _load_handler_modules() -> None:
    for module in list(HANDLER_MODULES):
        if module not in _loaded:
            importlib.import_module(module)
            _loaded.add(module)


def registration_for(kind: str) -> Registration | None:
    _load_handler_modules()
    return _handlers.get(kind)
