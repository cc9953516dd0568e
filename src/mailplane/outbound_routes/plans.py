"""Warm-up plans: how much of which mail a new outbound route may take, by its age.

A plan has up to three parts, each a list of steps by day (the route's age in whole days
since ``plan_started_at``; a step holds from its day until the next step's day):

- ``ramp`` (method A): the share of the eligible traffic, in percent;
- ``types`` (method B): the message types the route may carry;
- ``daily_cap``: at most this many deliveries per UTC day, on top of either.

A missing part restricts nothing (a ``types``-only plan takes all of the eligible types).
Every part starts at day 0, so that no age is left undefined. Past the last step of every
part, with the ramp at 100 % and every type allowed, the route is *established*: it takes
any share of the traffic and its cap no longer applies. A route without a plan is
established from the start. Before its start (``plan_started_at`` in the future) a route
takes nothing.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from mailplane.errors import InvalidInput
from mailplane.models.statuses import MessageType

KNOWN_TYPES = frozenset(t.value for t in MessageType)
PARTS = ("ramp", "types", "daily_cap")
MAX_DAY = 3650
MAX_STEPS = 100
MAX_CAP = 10**9
DAY_SECONDS = 86400


@dataclass(frozen=True)
class Plan:
    ramp: tuple[tuple[int, float], ...] = ()  # (day, percent)
    types: tuple[tuple[int, frozenset[str]], ...] = ()
    daily_cap: tuple[tuple[int, int], ...] = ()

    @property
    def last_day(self) -> int:
        return max((steps[-1][0] for steps in (self.ramp, self.types, self.daily_cap) if steps),
                   default=0)  # fmt: skip


@dataclass(frozen=True)
class State:
    """What a route may carry now."""

    age_days: int | None  # None: no plan
    percent: float  # of the eligible traffic
    types: frozenset[str]
    cap: int | None  # per UTC day; None: no cap
    established: bool


ESTABLISHED = State(None, 100.0, KNOWN_TYPES, None, True)


def _invalid(message: str) -> InvalidInput:
    return InvalidInput(f"invalid warm-up plan: {message}", code="invalid_plan")


def _steps(raw: Any, part: str, value_key: str) -> list[tuple[int, Any]]:
    if not isinstance(raw, list) or not raw:
        raise _invalid(f"{part} must be a non-empty list of steps")
    if len(raw) > MAX_STEPS:
        raise _invalid(f"{part} has more than {MAX_STEPS} steps")
    steps: list[tuple[int, Any]] = []
    for index, step in enumerate(raw):
        if not isinstance(step, Mapping) or set(step) != {"day", value_key}:
            raise _invalid(f"{part}[{index}] must be {{'day': ..., '{value_key}': ...}}")
        day = step["day"]
        if not isinstance(day, int) or isinstance(day, bool) or not 0 <= day <= MAX_DAY:
            raise _invalid(f"{part}[{index}].day must be a whole number from 0 to {MAX_DAY}")
        if steps and day <= steps[-1][0]:
            raise _invalid(f"{part} days must be strictly ascending")
        steps.append((day, step[value_key]))
    if steps[0][0] != 0:
        raise _invalid(f"{part} must start at day 0")
    return steps


def _percent(value: Any, index: int) -> float:
    ok = isinstance(value, int | float) and not isinstance(value, bool)
    if not ok or not math.isfinite(value) or not 0 <= value <= 100:
        raise _invalid(f"ramp[{index}].percent must be a number from 0 to 100")
    return float(value)


def _types(value: Any, index: int) -> frozenset[str]:
    if not isinstance(value, list) or not all(isinstance(t, str) for t in value):
        raise _invalid(f"types[{index}].types must be a list of message types")
    unknown = sorted(set(value) - KNOWN_TYPES)
    if unknown:
        known = ", ".join(sorted(KNOWN_TYPES))
        raise _invalid(f"types[{index}]: unknown message type {unknown[0]!r} (known: {known})")
    return frozenset(value)


def _cap(value: Any, index: int) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= MAX_CAP:
        raise _invalid(f"daily_cap[{index}].cap must be a whole number from 0 to {MAX_CAP}")
    return value


def parse(raw: Mapping[str, Any]) -> Plan:
    """The plan, validated strictly; ``InvalidInput`` (``invalid_plan``) says what is wrong."""
    if not isinstance(raw, Mapping):
        raise _invalid("a plan is an object")
    unknown = sorted(set(raw) - set(PARTS))
    if unknown:
        raise _invalid(f"unknown part {unknown[0]!r} (parts: {', '.join(PARTS)})")
    ramp: tuple[tuple[int, float], ...] = ()
    types: tuple[tuple[int, frozenset[str]], ...] = ()
    caps: tuple[tuple[int, int], ...] = ()
    if raw.get("ramp") is not None:
        steps = _steps(raw["ramp"], "ramp", "percent")
        ramp = tuple((day, _percent(v, i)) for i, (day, v) in enumerate(steps))
    if raw.get("types") is not None:
        steps = _steps(raw["types"], "types", "types")
        types = tuple((day, _types(v, i)) for i, (day, v) in enumerate(steps))
    if raw.get("daily_cap") is not None:
        steps = _steps(raw["daily_cap"], "daily_cap", "cap")
        caps = tuple((day, _cap(v, i)) for i, (day, v) in enumerate(steps))
    return Plan(ramp, types, caps)


def to_json(plan: Plan) -> dict[str, Any]:
    """The stored form (parts in canonical order, types sorted)."""
    stored: dict[str, Any] = {}
    if plan.ramp:
        stored["ramp"] = [{"day": d, "percent": p} for d, p in plan.ramp]
    if plan.types:
        stored["types"] = [{"day": d, "types": sorted(t)} for d, t in plan.types]
    if plan.daily_cap:
        stored["daily_cap"] = [{"day": d, "cap": c} for d, c in plan.daily_cap]
    return stored


def _at(steps: Sequence[tuple[int, Any]], age: int) -> Any:
    value = steps[0][1]
    for day, step_value in steps:
        if day > age:
            break
        value = step_value
    return value


def age_days(started_at: datetime, now: datetime) -> int:
    return math.floor((now - started_at).total_seconds() / DAY_SECONDS)


def state(plan: Plan | None, started_at: datetime | None, now: datetime) -> State:
    """What a route with ``plan``, started at ``started_at``, may carry at ``now``."""
    if plan is None:
        return ESTABLISHED
    age = age_days(started_at, now) if started_at is not None else 0
    if age < 0:
        return State(age, 0.0, frozenset(), 0, False)
    percent = _at(plan.ramp, age) if plan.ramp else 100.0
    types = _at(plan.types, age) if plan.types else KNOWN_TYPES
    cap = _at(plan.daily_cap, age) if plan.daily_cap else None
    if age >= plan.last_day and percent >= 100.0 and types == KNOWN_TYPES:
        return State(age, 100.0, KNOWN_TYPES, None, True)
    return State(age, percent, types, cap, False)


def state_of(raw: Mapping[str, Any] | None, started_at: datetime | None, now: datetime) -> State:
    """``state`` of a stored plan (validated when it was stored)."""
    return state(parse(raw) if raw is not None else None, started_at, now)
