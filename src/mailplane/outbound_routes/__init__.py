"""Outbound routes (source addresses, relays, HELO names) and their warm-up plans."""
