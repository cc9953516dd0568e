"""The state directory: created once by ``mailplane init`` or ``mailplane up``, with the
signing secret inside it. Shared by the CLI and the supervisor, so it lives here."""

from __future__ import annotations

import os
import secrets

from mailplane.config import Settings
from mailplane.runtime import file_modes


def ensure_state(settings: Settings) -> bool:
    """Create the state directory and the signing secret. True if the secret is new."""
    settings.state_dir.mkdir(parents=True, exist_ok=True)
    # Root runs the mail plane, whose daemons pass through (never list) the state
    # directory; anyone else keeps it to themselves (mailplane.runtime.file_modes).
    os.chmod(settings.state_dir, file_modes.STATE_DIR_MODE if os.geteuid() == 0 else 0o700)
    if settings.secret_key or settings.secret_file.exists():
        return False
    fd = os.open(settings.secret_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(secrets.token_urlsafe(48) + "\n")
    return True
