"""Warm-up plans as pure functions: validation, and what a route may carry by its age."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from mailplane.errors import InvalidInput
from mailplane.outbound_routes import plans
from mailplane.outbound_routes.selection import point

START = datetime(2026, 1, 1, tzinfo=UTC)
PLAN = {
    "ramp": [{"day": 0, "percent": 5}, {"day": 7, "percent": 15}, {"day": 14, "percent": 100}],
    "types": [
        {"day": 0, "types": ["transactional"]},
        {"day": 21, "types": ["transactional", "bulk"]},
    ],
    "daily_cap": [{"day": 0, "cap": 500}, {"day": 3, "cap": 2000}],
}


def _at(days: float, plan: dict[str, Any] | None = PLAN) -> plans.State:
    return plans.state_of(plan, START, START + timedelta(days=days))


def test_the_steps_hold_from_their_day_until_the_next() -> None:
    day0 = _at(0)
    assert (day0.age_days, day0.percent, day0.types, day0.cap) == (
        0, 5.0, frozenset({"transactional"}), 500
    )  # fmt: skip
    assert not day0.established
    assert _at(2.99).cap == 500
    assert _at(3).cap == 2000
    assert _at(7).percent == 15.0
    assert _at(13.9).percent == 15.0
    # At 100 % but bulk not allowed yet: still warming, still capped.
    day14 = _at(14)
    assert (day14.percent, day14.established, day14.cap) == (100.0, False, 2000)


def test_past_every_step_at_100_percent_the_route_is_established() -> None:
    done = _at(21)
    assert done.established
    assert (done.percent, done.types, done.cap) == (100.0, plans.KNOWN_TYPES, None)
    assert _at(400).established


def test_no_plan_is_established_and_a_future_start_takes_nothing() -> None:
    assert _at(0, None).established
    early = _at(-1)
    assert (early.percent, early.types, early.established) == (0.0, frozenset(), False)


def test_a_ramp_that_stops_short_of_100_never_establishes() -> None:
    plan = {"ramp": [{"day": 0, "percent": 50}]}
    assert not _at(1000, plan).established
    assert _at(1000, plan).percent == 50.0


def test_types_only_takes_all_of_the_allowed_types() -> None:
    plan = {"types": [{"day": 0, "types": ["transactional"]}]}
    state = _at(5, plan)
    assert (state.percent, state.types, state.cap) == (100.0, frozenset({"transactional"}), None)


@pytest.mark.parametrize(
    ("plan", "fragment"),
    [
        ({"ramp": [{"day": 7, "percent": 5}, {"day": 9, "percent": 10}]}, "start at day 0"),
        ({"ramp": [{"day": 0, "percent": 5}, {"day": 0, "percent": 10}]}, "ascending"),
        (
            {
                "ramp": [
                    {"day": 0, "percent": 5},
                    {"day": 7, "percent": 3},
                    {"day": 5, "percent": 9},
                ]
            },
            "ascending",
        ),
        ({"ramp": [{"day": 0, "percent": 150}]}, "0 to 100"),
        ({"ramp": [{"day": 0, "percent": -1}]}, "0 to 100"),
        ({"ramp": [{"day": 0, "percent": True}]}, "0 to 100"),
        ({"ramp": []}, "non-empty"),
        ({"ramp": [{"day": -1, "percent": 5}]}, "day must be"),
        ({"ramp": [{"day": 0, "percent": 5, "x": 1}]}, "must be"),
        ({"types": [{"day": 0, "types": ["newsletter"]}]}, "unknown message type"),
        ({"daily_cap": [{"day": 0, "cap": -5}]}, "cap must be"),
        ({"daily_cap": [{"day": 0, "cap": 1.5}]}, "cap must be"),
        ({"warmth": []}, "unknown part"),
    ],
)
def test_invalid_plans_are_refused_with_a_reason(plan: dict[str, Any], fragment: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        plans.parse(plan)
    assert refused.value.code == "invalid_plan"
    assert fragment in refused.value.detail


def test_the_choice_point_spreads_consecutive_ids_evenly() -> None:
    for first in (1, 12345, 2**31 - 3000):
        points = [point(i) for i in range(first, first + 2000)]
        assert abs(sum(u < 0.15 for u in points) - 300) <= 3
        assert abs(sum(0.15 <= u < 0.20 for u in points) - 100) <= 3
