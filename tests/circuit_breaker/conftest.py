"""The delivery engine's fixtures (Knot with MX records, remote MX hosts, worker
settings), for the circuit breaker's tests."""

from __future__ import annotations

from tests.delivery.conftest import engine_settings, knot, mx1, mx_port

__all__ = ["engine_settings", "knot", "mx1", "mx_port"]
