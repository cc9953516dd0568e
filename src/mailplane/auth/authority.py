"""Authority has a direction: what a platform operator decides, a tenant cannot undo.

A domain's or mailbox's status other than ``active`` records who set it. A tenant admin
may change a status it set itself; one an operator set stays until an operator lifts it,
and the object cannot be deleted by the tenant either (deleting and re-creating it would
undo the suspension just as well).
"""

from __future__ import annotations

from typing import Literal

from mailplane.auth.principals import Principal
from mailplane.errors import Forbidden

# active | suspended (no login, mail still accepted) | disabled (mail refused too)
ObjectStatus = Literal["active", "suspended", "disabled"]
SetBy = Literal["operator", "tenant"]
OPERATOR: SetBy = "operator"
TENANT: SetBy = "tenant"


def _refuse() -> Forbidden:
    return Forbidden(
        "a platform operator set this status; only an operator can change it",
        code="operator_suspension",
    )


def status_setter(
    principal: Principal, *, current: str, set_by: str | None, requested: str
) -> str | None:
    """Who holds ``requested`` once it is applied (None: active, nobody). Raises Forbidden
    when a tenant tries to change a status an operator set."""
    if not principal.is_platform and set_by == OPERATOR and requested != current:
        raise _refuse()
    if requested == "active":
        return None
    if principal.is_platform:
        return OPERATOR  # an operator repeating a tenant's suspension takes it over
    return set_by if requested == current and set_by is not None else TENANT


def require_not_operator_held(principal: Principal, set_by: str | None) -> None:
    if not principal.is_platform and set_by == OPERATOR:
        raise _refuse()
