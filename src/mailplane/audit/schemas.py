from __future__ import annotations

from datetime import datetime
from typing import Any

from mailplane.schemas import ResponseModel


class AuditEventOut(ResponseModel):
    id: int
    at: datetime
    actor_type: str
    actor_id: int | None
    actor_name: str
    tenant_id: int | None
    action: str
    object_type: str
    object_id: int | None
    details: dict[str, Any]
