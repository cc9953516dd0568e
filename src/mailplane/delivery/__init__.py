"""The delivery engine: workers that claim due deliveries, sign, route and send them, and
record each outcome (docs/sending.md)."""
