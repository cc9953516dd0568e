"""The delivery engine's fixtures (Knot with MX records, remote MX hosts, worker settings)
and the command tests' fresh environment, for the queue tools."""

from __future__ import annotations

from tests.cli.conftest import env
from tests.delivery.conftest import engine_settings, knot, mx1, mx_port

__all__ = ["engine_settings", "env", "knot", "mx1", "mx_port"]
