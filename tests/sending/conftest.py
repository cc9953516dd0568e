from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from mailplane.db import Database
from tests.support.api import Api
from tests.support.senders import Sender, make_sender


@pytest.fixture
def sender(api: Api, database: Database) -> Sender:
    return make_sender(api, database)


@pytest.fixture
def new_sender(api: Api, database: Database) -> Callable[..., Sender]:
    def build(**options: Any) -> Sender:
        return make_sender(api, database, **options)

    return build
