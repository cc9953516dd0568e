"""mailplane: a self-hosted multi-tenant mail platform."""

__version__ = "0.1.0"
