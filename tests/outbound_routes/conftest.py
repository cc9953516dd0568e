"""Fixtures for outbound routes: the delivery engine's (Knot, the MX port), a sink MX host
of our own, and routes made through the API and deleted after each test (a route is
platform-wide: left behind, it would carry the rest of the suite's mail)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.delivery.conftest import engine_settings, knot, mx_port
from tests.support.api import Api
from tests.support.mx import RemoteMx

__all__ = ["engine_settings", "knot", "make_route", "mx_port", "sink"]

# The sink every test zone points at; routes bind 127.0.0.51 and up (free of mx1/mx2).
SINK = "127.0.0.41"
NEW_IP, OLD_IP, OTHER_IP = "127.0.0.51", "127.0.0.52", "127.0.0.53"

MakeRoute = Callable[..., dict[str, Any]]


@pytest.fixture(scope="module")
def sink(mx_port: int) -> Iterator[RemoteMx]:
    server = RemoteMx(SINK, mx_port)
    server.start()
    yield server
    server.stop()


@pytest.fixture
def make_route(api: Api, uid: str) -> Iterator[MakeRoute]:
    made: list[int] = []

    def make(**body: Any) -> dict[str, Any]:
        body.setdefault("name", f"route-{uid}-{len(made)}")
        route: dict[str, Any] = api.ok("POST", "/api/v1/outbound-routes", 201, json=body)
        made.append(route["id"])
        return route

    yield make
    for route_id in made:
        response = api.delete(f"/api/v1/outbound-routes/{route_id}")
        assert response.status_code in (204, 404), response.text
