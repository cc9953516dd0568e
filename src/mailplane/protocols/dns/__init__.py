"""DNS as a protocol: lookups through configurable resolvers, SPF evaluation (RFC 7208)
and record publication (RFC 2136 dynamic updates, dns-lexicon). Failures are one pair,
``DnsTransientError`` and ``DnsPermanentError`` (``errors.py``)."""
