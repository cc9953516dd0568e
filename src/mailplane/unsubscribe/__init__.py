"""One-click unsubscribe (RFC 8058) for bulk mail: per-recipient links and their pages."""
