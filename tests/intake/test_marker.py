"""The submission marker: only a genuine marker for this very queue id names a login."""

from __future__ import annotations

import pytest

from mailplane.intake.marker import make_marker, read_marker

SECRET = "a-secret-of-at-least-thirty-two-characters"


def test_a_genuine_marker_names_its_login_for_its_queue_id_only() -> None:
    value = make_marker(SECRET, "me@example.test", "4XyZ0123")
    assert value.startswith("login=me@example.test; queue=4XyZ0123; sig=")
    assert read_marker(SECRET, value, "4XyZ0123") == "me@example.test"
    # Folded by some MTA on the way: still the same marker.
    assert read_marker(SECRET, value.replace("; sig=", ";\r\n sig="), "4XyZ0123")
    # Copied into another message (another queue id), or with no queue id known.
    assert read_marker(SECRET, value, "4OtherId") is None
    assert read_marker(SECRET, value, None) is None


def test_a_changed_or_foreign_marker_names_nobody() -> None:
    value = make_marker(SECRET, "me@example.test", "4XyZ0123")
    assert read_marker("another-secret", value, "4XyZ0123") is None
    forged = value.replace("login=me@", "login=boss@")
    assert read_marker(SECRET, forged, "4XyZ0123") is None
    assert read_marker(SECRET, "login=me@example.test; queue=4XyZ0123", "4XyZ0123") is None


@pytest.mark.parametrize(
    ("login", "queue_id"),
    [("a b@x.test", "4X"), ("a;@x.test", "4X"), ("me@x.test", "4X;"), ("me@x.test", "")],
)
def test_what_cannot_be_written_unambiguously_is_refused(login: str, queue_id: str) -> None:
    with pytest.raises(ValueError, match="marker"):
        make_marker(SECRET, login, queue_id)
