"""Property-based run over the OpenAPI document: whatever a client sends, no 5xx.

One test per operation and generation mode (positive: what the schema allows; negative:
what it forbids), bounded in examples so that the whole run stays well under a minute per
database. Authenticated as a platform token, so requests reach the services rather than
stopping at 401.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from sqlalchemy import delete, func, select

from mailplane.api.app import create_app
from mailplane.config import Settings
from mailplane.db import Database
from mailplane.models import OutboundRoute, ThrottleLimit

EXAMPLES = {GenerationMode.POSITIVE: 15, GenerationMode.NEGATIVE: 10}


def _labels() -> list[str]:
    # The document only: no database is touched to list the operations.
    app = create_app(Settings(env="test", state_dir=tempfile.gettempdir(), secret_key="x" * 40))
    return [
        f"{method.upper()} {path}"
        for path, methods in app.openapi()["paths"].items()
        for method in methods
    ]


@pytest.fixture(autouse=True)
def no_routes_left_behind(database: Database) -> Iterator[None]:
    """Outbound routes and global or destination limits are platform-wide: one made here
    (a route pointing anywhere, a limit of one a day) would carry or hold the rest of the
    suite's mail. Whatever a run created is deleted after it."""
    with database.session(write=False) as session:
        before = session.scalar(select(func.max(OutboundRoute.id))) or 0
        limits_before = session.scalar(select(func.max(ThrottleLimit.id))) or 0
    yield
    with database.transaction() as session:
        session.execute(delete(ThrottleLimit).where(ThrottleLimit.id > limits_before))
        session.execute(delete(OutboundRoute).where(OutboundRoute.id > before))


@pytest.fixture(scope="module")
def openapi_schema(client: TestClient) -> Any:
    return schemathesis.openapi.from_asgi("/openapi.json", client.app)


@pytest.mark.parametrize("mode", list(EXAMPLES), ids=lambda m: m.value)
@pytest.mark.parametrize("label", _labels())
def test_no_server_errors(
    openapi_schema: Any, service_token: str, label: str, mode: GenerationMode
) -> None:
    method, path = label.split(" ", 1)
    operation = openapi_schema[path][method]

    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(
        max_examples=EXAMPLES[mode],
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    def run(case: Any) -> None:
        response = case.call(headers={"x-service-token": service_token})
        case.validate_response(response, checks=[not_a_server_error])

    try:
        run()
    except Unsatisfiable:
        if mode is GenerationMode.NEGATIVE:
            pytest.skip("no parameter or body to make invalid")
        raise
