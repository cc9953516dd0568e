"""The delivery fixtures (Knot, the aiosmtpd MX hosts, engine settings), shared here."""

from __future__ import annotations

from tests.delivery.conftest import engine_settings, knot, mx1, mx_port

__all__ = ["engine_settings", "knot", "mx1", "mx_port"]
