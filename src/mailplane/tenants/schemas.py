from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import Field, StringConstraints

from mailplane.schemas import Name, Password, RequestModel, ResponseModel, Text

Notes = Text


class TenantCreate(RequestModel):
    name: Name
    notes: Notes = ""


class TenantUpdate(RequestModel):
    name: Name | None = None
    notes: Notes | None = None
    status: Literal["active", "suspended"] | None = Field(
        default=None, description="Platform operators only. Suspended tenants cannot log in."
    )


class TenantOut(ResponseModel):
    id: int
    name: str
    status: str
    notes: str
    created_at: datetime
    updated_at: datetime


class TenantAdminCreate(RequestModel):
    email: Annotated[str, StringConstraints(min_length=3, max_length=320)]
    password: Password


class TenantAdminOut(ResponseModel):
    id: int
    tenant_id: int
    email: str
    active: bool
    created_at: datetime
    last_login_at: datetime | None
