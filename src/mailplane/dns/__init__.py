"""DNS: lookups through configurable resolvers, SPF evaluation, verification of customer
domains, the periodic re-check, record publication (RFC 2136, dns-lexicon) and DKIM rotation.
"""
