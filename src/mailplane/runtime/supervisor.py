"""``mailplane up``: prepare the state, start every component, stop them all on a signal."""

from __future__ import annotations

import json
import logging
import urllib.error
import urllib.request

import uvicorn

from mailplane import migrations
from mailplane.api.app import create_app
from mailplane.config import Settings
from mailplane.mailserver import bootstrap

log = logging.getLogger(__name__)


def run_platform(settings: Settings) -> int:
    from mailplane.cli.main import ensure_state

    ensure_state(settings)
    migrations.upgrade(settings)
    bootstrap.prepare_state(settings)
    config = uvicorn.Config(
        create_app(settings), host=settings.api_host, port=settings.api_port, log_level="info"
    )
    server = uvicorn.Server(config)
    # uvicorn installs its own SIGINT/SIGTERM handlers and returns when told to stop.
    server.run()
    return 0


def api_status(settings: Settings) -> tuple[str, bool, str]:
    url = f"http://{settings.api_host}:{settings.api_port}/healthz"
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            body = json.loads(response.read())
            return ("api", True, f"{url} {body.get('status')}")
    except (urllib.error.URLError, OSError, ValueError) as exc:
        return ("api", False, f"{url} unreachable: {exc}")


def component_status(settings: Settings) -> list[tuple[str, bool, str]]:
    return [api_status(settings)]
