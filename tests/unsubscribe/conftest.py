"""The delivery fixtures (Knot, the aiosmtpd MX hosts, engine settings) and a sender."""

from __future__ import annotations

import pytest

from mailplane.db import Database
from tests.delivery.conftest import engine_settings, knot, mx1, mx_port
from tests.support.api import Api
from tests.support.senders import Sender, make_sender

__all__ = ["engine_settings", "knot", "mx1", "mx_port"]


@pytest.fixture
def sender(api: Api, database: Database) -> Sender:
    return make_sender(api, database)
