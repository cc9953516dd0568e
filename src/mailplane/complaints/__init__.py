"""Spam complaints: ARF feedback reports (RFC 5965) received through the managed Postfix."""
