"""Domain verification: DNS checks, the state machine, periodic re-checks, endpoints."""
