"""Throttles: how many deliveries may leave per period, per tenant, globally, per
destination and per outbound route, enforced by the delivery engine (SPEC section H)."""
