"""The pure render step: settings + database URL -> {absolute path: file content}.

Nothing here touches the disk or the database; :mod:`mailplane.mailserver.bootstrap`
writes the result with the right owners and modes.
"""

from __future__ import annotations

from pathlib import Path

from mailplane.config import Settings
from mailplane.mailserver.dovecot_config import render_dovecot
from mailplane.mailserver.layout import check_socket_paths, database_target, layout
from mailplane.mailserver.postfix_config import render_postfix


def render(settings: Settings, database_url: str) -> dict[Path, str]:
    paths = layout(settings)
    check_socket_paths(paths)
    target = database_target(database_url)
    return {
        **render_postfix(settings, paths, target),
        **render_dovecot(settings, paths, target),
    }
