"""A mailbox user's signatures: HTML sanitized when stored, one default at most, and rules
that pick one by recipient (an email rule beats a domain rule beats the default)."""
