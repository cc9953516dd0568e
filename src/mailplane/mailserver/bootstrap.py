"""State-directory preparation for the mail plane (directories, TLS, ownership)."""

from __future__ import annotations

from mailplane.config import Settings


def prepare_state(settings: Settings) -> None:
    """Create what Postfix and Dovecot need under the state directory.

    The mail plane fills this in; until then the API runs alone.
    """
    settings.state_dir.mkdir(parents=True, exist_ok=True)
