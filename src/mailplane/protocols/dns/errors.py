"""The one pair of DNS failures every caller handles: transient (ask again later) and
permanent (asking again gives the same answer). Protocol code raises only these two, or
subclasses of them, so verification, publication and SPF classify an outage the same way.
"""

from __future__ import annotations


class DnsError(Exception):
    """A DNS question or update failed."""


class DnsTransientError(DnsError):
    """Not answered now (timeout, SERVFAIL, unreachable server); the answer may exist."""


class DnsPermanentError(DnsError):
    """Refused or unusable in a way that retrying does not change (bad configuration,
    a record that cannot be interpreted, a server that refuses the update)."""
