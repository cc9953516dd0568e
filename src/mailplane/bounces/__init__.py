"""Asynchronous bounces: delivery status notifications (RFC 3464) and non-standard
bounces that come back to a VERP return path, matched to their delivery and recorded;
SRS bounces reversed to the original sender; auto-replies recognised and ignored."""
