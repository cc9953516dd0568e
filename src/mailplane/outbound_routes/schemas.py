"""Request and response bodies of the outbound route routes (operators only)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import Field, StringConstraints

from mailplane.schemas import NO_CONTROL_NONEMPTY, Name, RequestModel, ResponseModel

# One DNS name: letters, digits and hyphens in dot-separated labels (RFC 1123), with a dot:
# an EHLO name is the client's fully qualified domain name (RFC 5321 section 4.1.1.1).
HOSTNAME = (
    r"^(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+"
    r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?$"
)
HeloName = Annotated[str, StringConstraints(min_length=3, max_length=253, pattern=HOSTNAME)]
# An IPv4 or IPv6 address, checked by the service (ipaddress), bounded here.
Address = Annotated[
    str, StringConstraints(min_length=2, max_length=45, pattern=r"^[0-9A-Fa-f.:]+$")
]
# A host name or an address literal (checked by the service).
RelayHost = Annotated[
    str, StringConstraints(min_length=1, max_length=253, pattern=r"^[A-Za-z0-9.:-]+$")
]
RelayUser = Annotated[
    str, StringConstraints(min_length=1, max_length=320, pattern=NO_CONTROL_NONEMPTY)
]
RelayPassword = Annotated[
    str, StringConstraints(min_length=1, max_length=400, pattern=NO_CONTROL_NONEMPTY)
]
RelayTls = Literal["starttls", "opportunistic", "implicit", "none"]
Port = Annotated[int, Field(strict=True, ge=1, le=65535)]
# An ISO 8601 date and time from JSON (strict mode would want a datetime object).
Instant = Annotated[datetime, Field(strict=False)]
Day = Annotated[int, Field(strict=True, ge=0, le=3650)]


class RampStep(RequestModel):
    day: Day
    percent: Annotated[float, Field(ge=0, le=100, allow_inf_nan=False)]


class TypesStep(RequestModel):
    day: Day
    types: list[Literal["transactional", "bulk"]] = Field(max_length=10)


class CapStep(RequestModel):
    day: Day
    cap: Annotated[int, Field(strict=True, ge=0, le=10**9)]


class Plan(RequestModel):
    """Warm-up plan; each part optional, each a list of steps by day starting at day 0 with
    days ascending. See docs/deliverability.md."""

    ramp: list[RampStep] | None = Field(default=None, max_length=100)
    types: list[TypesStep] | None = Field(default=None, max_length=100)
    daily_cap: list[CapStep] | None = Field(default=None, max_length=100)


class RouteCreate(RequestModel):
    name: Name
    source_ip: Address | None = Field(
        default=None, description="A local address of this machine, bound when connecting."
    )
    relay_host: RelayHost | None = Field(
        default=None, description="Send everything this route carries to this relay."
    )
    relay_port: Port | None = None
    relay_tls: RelayTls = "starttls"
    relay_username: RelayUser | None = None
    relay_password: RelayPassword | None = Field(
        default=None, description="Write-only: stored encrypted, never answered."
    )
    helo_name: HeloName | None = Field(
        default=None, description="EHLO name; default: the platform's (delivery_helo_name)."
    )
    enabled: bool = True
    accepts_retries: bool = Field(
        default=False, description="Whether mail deferred elsewhere may retry here while warming."
    )
    plan: Plan | None = Field(default=None, description="Warm-up plan; null: established.")
    plan_started_at: Instant | None = Field(
        default=None, description="Day 0 of the plan; default: now."
    )


class RouteUpdate(RequestModel):
    """Fields sent replace the stored ones; null clears an optional one."""

    name: Name | None = None
    source_ip: Address | None = None
    relay_host: RelayHost | None = None
    relay_port: Port | None = None
    relay_tls: RelayTls | None = None
    relay_username: RelayUser | None = None
    relay_password: RelayPassword | None = None
    helo_name: HeloName | None = None
    enabled: bool | None = None
    accepts_retries: bool | None = None
    plan: Plan | None = None
    plan_started_at: Instant | None = None


class WarmUp(ResponseModel):
    established: bool
    age_days: int | None
    share_percent: float = Field(description="Today's share of the eligible traffic.")
    types_allowed: list[str]
    daily_cap: int | None
    today_count: int = Field(description="Deliveries given to the route today (UTC).")


class RouteOut(ResponseModel):
    id: int
    name: str
    source_ip: str | None
    relay_host: str | None
    relay_port: int | None
    relay_tls: str
    relay_username: str | None
    relay_password_set: bool
    helo_name: str | None
    enabled: bool
    accepts_retries: bool
    plan: dict[str, Any] | None
    plan_started_at: datetime | None
    warm_up: WarmUp
    created_at: datetime
    updated_at: datetime
