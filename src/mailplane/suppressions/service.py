"""The suppression list by hand: list, search, add, remove, import and export, scoped to
the principal's tenant (operators name the tenant). Services flush; the request commits."""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from mailplane.audit.service import record
from mailplane.auth.principals import Principal, get_owned
from mailplane.config import Settings
from mailplane.db.pagination import Page, keyset_page
from mailplane.errors import Conflict, InvalidInput, NotFound
from mailplane.models import Suppression, utcnow
from mailplane.names import normalize_address
from mailplane.suppressions.policy import NewEntry, Reason, active, upsert
from mailplane.tenants.service import get_tenant

MAX_INVALID_REPORTED = 100
EXPORT_CHUNK = 1000


def tenant_of(session: Session, principal: Principal, tenant_id: int | None) -> int:
    """The tenant a write acts on: the principal's own, or the one an operator names."""
    if tenant_id is None:
        if principal.tenant_id is None:
            raise InvalidInput("operators must name the tenant_id", code="tenant_required")
        return principal.tenant_id
    return get_tenant(session, principal, tenant_id).id


def _like_escaped(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def list_suppressions(
    session: Session,
    principal: Principal,
    *,
    limit: int,
    cursor: str | None,
    tenant_id: int | None = None,
    search: str | None = None,
    reason: str | None = None,
    now: datetime | None = None,
) -> Page[Suppression]:
    query = select(Suppression).where(
        principal.tenant_filter(Suppression.tenant_id),
        active(now or utcnow()),  # type: ignore[arg-type]
    )
    if tenant_id is not None:
        query = query.where(Suppression.tenant_id == tenant_id)
    if search:
        query = query.where(
            Suppression.address.like(f"%{_like_escaped(search.lower())}%", escape="\\")
        )
    if reason:
        query = query.where(Suppression.reason == reason)
    return keyset_page(session, query, Suppression.id, limit=limit, cursor=cursor)


def add(
    session: Session,
    principal: Principal,
    *,
    address: str,
    tenant_id: int | None,
    expires_at: datetime | None,
    note: str,
) -> Suppression:
    principal.require_write()
    tenant = tenant_of(session, principal, tenant_id)
    normalized = normalize_address(address)
    now = utcnow()
    existing = session.scalar(
        select(Suppression).where(
            Suppression.tenant_id == tenant, Suppression.address == normalized
        )
    )
    if existing is not None:
        if existing.expires_at is None or existing.expires_at > now:
            raise Conflict(f"{normalized} is already suppressed", code="already_suppressed")
        session.delete(existing)  # expired: replaced by the new entry
        session.flush()
    if expires_at is not None and expires_at <= now:
        raise InvalidInput("expires_at must be in the future", code="invalid_expiry")
    row = Suppression(
        tenant_id=tenant,
        address=normalized,
        reason=Reason.MANUAL.value,
        detail=note,
        created_at=now,
        expires_at=expires_at,
    )
    session.add(row)
    session.flush()
    record(
        session, principal, "suppression.add", object_type="suppression", object_id=row.id,
        tenant_id=tenant, details={"address": normalized},
    )  # fmt: skip
    return row


def get(session: Session, principal: Principal, suppression_id: int) -> Suppression:
    return get_owned(session, principal, Suppression, suppression_id, "suppression")


def remove(session: Session, principal: Principal, suppression_id: int) -> None:
    principal.require_write()
    row = get(session, principal, suppression_id)
    _remove(session, principal, row)


def remove_address(
    session: Session, principal: Principal, address: str, tenant_id: int | None
) -> None:
    principal.require_write()
    tenant = tenant_of(session, principal, tenant_id)
    row = session.scalar(
        select(Suppression).where(
            Suppression.tenant_id == tenant,
            Suppression.address == normalize_address(address),
        )
    )
    if row is None:
        raise NotFound("suppression not found")
    _remove(session, principal, row)


def _remove(session: Session, principal: Principal, row: Suppression) -> None:
    details = {"address": row.address, "reason": row.reason}
    session.execute(delete(Suppression).where(Suppression.id == row.id))
    record(
        session, principal, "suppression.remove", object_type="suppression", object_id=row.id,
        tenant_id=row.tenant_id, details=details,
    )  # fmt: skip


@dataclass
class ImportReport:
    added: int = 0
    skipped: int = 0  # already suppressed, or listed twice
    invalid: list[dict[str, object]] = field(default_factory=list)
    invalid_count: int = 0


def parse_upload(body: bytes, content_type: str) -> list[str]:
    """Addresses from a CSV (first column; a header row naming "address"/"email" is
    skipped) or a JSON list of strings (or of objects with "address")."""
    try:
        text = body.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InvalidInput("the upload is not UTF-8 text", code="invalid_upload") from exc
    if "json" in content_type:
        try:
            data = json.loads(text)
        except ValueError as exc:
            raise InvalidInput("the upload is not JSON", code="invalid_upload") from exc
        if isinstance(data, dict):
            data = data.get("addresses")
        if not isinstance(data, list):
            raise InvalidInput(
                'JSON must be a list of addresses or {"addresses": [...]}', code="invalid_upload"
            )
        found: list[str] = []
        for item in data:
            value = item.get("address") if isinstance(item, dict) else item
            found.append(value if isinstance(value, str) else json.dumps(value)[:320])
        return found
    rows = [row for row in csv.reader(io.StringIO(text)) if row and row[0].strip()]
    if rows and rows[0][0].strip().lower() in ("address", "email", "email_address"):
        rows = rows[1:]
    return [row[0] for row in rows]


def import_addresses(
    session: Session,
    principal: Principal,
    settings: Settings,
    addresses: list[str],
    tenant_id: int | None,
) -> ImportReport:
    principal.require_write()
    tenant = tenant_of(session, principal, tenant_id)
    if len(addresses) > settings.suppression_import_max:
        raise InvalidInput(
            f"at most {settings.suppression_import_max} addresses per import",
            code="import_too_large",
        )
    report = ImportReport()
    valid: list[str] = []
    for line, value in enumerate(addresses, start=1):
        try:
            valid.append(normalize_address(value))
        except InvalidInput as exc:
            report.invalid_count += 1
            if len(report.invalid) < MAX_INVALID_REPORTED:
                report.invalid.append({"line": line, "value": value[:320], "error": exc.detail})
    unique = list(dict.fromkeys(valid))
    report.skipped = len(valid) - len(unique)
    now = utcnow()
    existing: set[str] = set()
    for start in range(0, len(unique), EXPORT_CHUNK):
        existing.update(
            session.scalars(
                select(Suppression.address).where(
                    Suppression.tenant_id == tenant,
                    Suppression.address.in_(unique[start : start + EXPORT_CHUNK]),
                    active(now),  # type: ignore[arg-type]
                )
            )
        )
    new = [a for a in unique if a not in existing]
    report.skipped += len(unique) - len(new)
    for start in range(0, len(new), EXPORT_CHUNK):
        upsert(
            session,
            [NewEntry(tenant, a, Reason.IMPORT) for a in new[start : start + EXPORT_CHUNK]],
            now,
        )
    report.added = len(new)
    record(
        session, principal, "suppression.import", object_type="tenant", object_id=tenant,
        tenant_id=tenant,
        details={"added": report.added, "skipped": report.skipped,
                 "invalid": report.invalid_count},
    )  # fmt: skip
    return report


def _cell(value: str) -> str:
    """No formula injection when the export is opened in a spreadsheet."""
    return "'" + value if value[:1] in ("=", "+", "-", "@", "\t", "\r") else value


def export_csv(session: Session, principal: Principal, tenant_id: int | None) -> str:
    """CSV lines of the active entries: address, reason, created_at, expires_at, detail."""
    query = select(Suppression).where(
        principal.tenant_filter(Suppression.tenant_id),
        active(utcnow()),  # type: ignore[arg-type]
    )
    if tenant_id is not None:
        get_tenant(session, principal, tenant_id)
        query = query.where(Suppression.tenant_id == tenant_id)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(["address", "reason", "created_at", "expires_at", "detail"])
    for row in session.scalars(query.order_by(Suppression.id).execution_options(yield_per=500)):
        writer.writerow(
            [
                row.address,
                row.reason,
                row.created_at.isoformat(),
                row.expires_at.isoformat() if row.expires_at else "",
                _cell(row.detail.replace("\r", " ").replace("\n", " ")),
            ]
        )
    return buffer.getvalue()
