"""Sending statistics per tenant and domain, by hour and day."""
