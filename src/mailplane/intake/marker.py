"""The submission marker: how the submission milter tells the intake "this message was
submitted by this login" across Postfix's queue.

The milter adds ``X-Mailplane-Submission: login=<login>; queue=<queue id>; sig=<hmac>`` at
end of data. The intake believes it only if the HMAC verifies *and* its queue id is the
one Postfix names in XFORWARD IDENT for the very message it hands over. A marker copied
into other mail (inbound from the internet, or a second submission) carries another
message's queue id, so it never passes; Postfix's long queue ids are unique per host.
"""

from __future__ import annotations

import hashlib
import hmac
import re

HEADER = "X-Mailplane-Submission"
# A derived key: the platform secret itself never meets this use.
_KEY_LABEL = b"mailplane submission marker v1"
_VALUE = re.compile(r"^login=([^;\s]+); queue=([0-9A-Za-z]+); sig=([0-9a-f]{64})$")


def _key(secret: str) -> bytes:
    return hmac.new(secret.encode(), _KEY_LABEL, hashlib.sha256).digest()


def _signature(secret: str, login: str, queue_id: str) -> str:
    message = f"{login}\n{queue_id}".encode()
    return hmac.new(_key(secret), message, hashlib.sha256).hexdigest()


def make_marker(secret: str, login: str, queue_id: str) -> str:
    """The header value. Logins and queue ids with separators or spaces are refused: the
    value must parse back to exactly what was signed."""
    if not re.fullmatch(r"[^;\s]+", login) or not re.fullmatch(r"[0-9A-Za-z]+", queue_id):
        raise ValueError("login or queue id cannot be written into the submission marker")
    return f"login={login}; queue={queue_id}; sig={_signature(secret, login, queue_id)}"


def read_marker(secret: str, value: str, queue_id: str | None) -> str | None:
    """The login a marker names, if it is genuine and belongs to this queue id; else None."""
    if not queue_id:
        return None
    match = _VALUE.match(" ".join(value.split()))  # unfolded, whitespace normalized
    if match is None:
        return None
    login, marked_queue, signature = match.groups()
    expected = _signature(secret, login, marked_queue)
    if not hmac.compare_digest(signature, expected) or marked_queue != queue_id:
        return None
    return login
