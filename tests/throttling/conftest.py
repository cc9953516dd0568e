"""The delivery engine's fixtures (Knot, the aiosmtpd MX hosts, engine settings)."""

from tests.delivery.conftest import engine_settings, knot, mx1, mx_port

__all__ = ["engine_settings", "knot", "mx1", "mx_port"]
