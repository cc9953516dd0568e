"""The push endpoint's client: Dovecot's push_notification Lua driver, authenticated with a
secret derived from the platform secret (like the introspection client, auth/mail_tokens.py)."""

from __future__ import annotations

import hashlib
import hmac

from mailplane.config import Settings

PUSH_PATH = "/api/v1/mail/events/push"


def push_secret(settings: Settings) -> str:
    key = settings.effective_secret().encode()
    return hmac.new(key, b"mailplane dovecot push notifications", hashlib.sha256).hexdigest()


def push_url(settings: Settings) -> str:
    host = settings.api_host
    if host in ("0.0.0.0", "::", ""):  # noqa: S104 (a wildcard listener is reached on loopback)
        host = "127.0.0.1"
    if ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{settings.api_port}{PUSH_PATH}"


def is_push_client(settings: Settings, authorization: str | None) -> bool:
    scheme, _, token = (authorization or "").partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(
        token.strip().encode(), push_secret(settings).encode()
    )


def push_rendered(settings: Settings) -> bool:
    """Whether the Dovecot that mailplane renders reports new mail to the API."""
    return settings.webmail_dovecot_push and settings.webmail_event_source in ("auto", "push")
