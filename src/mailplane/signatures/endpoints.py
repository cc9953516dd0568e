"""/api/v1/mail/signatures: the logged-in mailbox user's own signatures."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response, status

from mailplane.api.deps import ClockDep, MailboxUser, MailboxUserDep, SessionDep
from mailplane.api.params import PathId
from mailplane.api.responses import ERRORS
from mailplane.signatures import service
from mailplane.signatures.schemas import (
    RuleOut,
    SignatureCreate,
    SignatureMatch,
    SignatureOut,
    SignaturePatch,
)

router = APIRouter(prefix="/api/v1/mail/signatures", tags=["signatures"], responses=ERRORS)

# A message has at most this many recipients to match against (one query string).
MAX_MATCH_RECIPIENTS = 100


def owner_of(user: MailboxUser) -> service.Owner:
    return service.Owner(tenant_id=user.tenant_id, mailbox_id=user.mailbox_id)


def signature_out(view: service.SignatureView) -> SignatureOut:
    s = view.signature
    return SignatureOut(
        id=s.id,
        name=s.name,
        html=s.html,
        text=s.text,
        is_default=s.is_default,
        rules=[RuleOut(match_type=r.match_type, match_value=r.match_value) for r in view.rules],
        created_at=s.created_at,
        updated_at=s.updated_at,
    )


@router.get("/", response_model=list[SignatureOut])
def list_signatures(session: SessionDep, user: MailboxUserDep) -> list[SignatureOut]:
    return [signature_out(v) for v in service.list_signatures(session, owner_of(user))]


@router.post("/", response_model=SignatureOut, status_code=status.HTTP_201_CREATED)
def create_signature(
    session: SessionDep, user: MailboxUserDep, clock: ClockDep, body: SignatureCreate
) -> SignatureOut:
    """The HTML is sanitized when stored; ``is_default`` unsets the previous default."""
    return signature_out(service.create_signature(session, owner_of(user), body, clock()))


@router.get("/match", response_model=SignatureMatch)
def match_signature(
    session: SessionDep,
    user: MailboxUserDep,
    to: Annotated[list[str], Query(min_length=1, max_length=MAX_MATCH_RECIPIENTS)],
) -> SignatureMatch:
    """The signature for these recipients: an email rule beats a domain rule (which also
    covers subdomains) beats the default; ``signature`` is null when none applies."""
    found = service.match_signature(session, owner_of(user), to)
    return SignatureMatch(
        signature=signature_out(found.found) if found.found else None,
        matched_by=found.matched_by,
        recipient=found.recipient,
    )


@router.get("/{signature_id}", response_model=SignatureOut)
def get_signature(session: SessionDep, user: MailboxUserDep, signature_id: PathId) -> SignatureOut:
    return signature_out(service.get_signature(session, owner_of(user), signature_id))


@router.put("/{signature_id}", response_model=SignatureOut)
def replace_signature(
    session: SessionDep,
    user: MailboxUserDep,
    clock: ClockDep,
    signature_id: PathId,
    body: SignatureCreate,
) -> SignatureOut:
    view = service.update_signature(session, owner_of(user), signature_id, body, clock())
    return signature_out(view)


@router.patch("/{signature_id}", response_model=SignatureOut)
def patch_signature(
    session: SessionDep,
    user: MailboxUserDep,
    clock: ClockDep,
    signature_id: PathId,
    body: SignaturePatch,
) -> SignatureOut:
    view = service.update_signature(session, owner_of(user), signature_id, body, clock())
    return signature_out(view)


@router.delete("/{signature_id}", status_code=status.HTTP_204_NO_CONTENT)
def delete_signature(session: SessionDep, user: MailboxUserDep, signature_id: PathId) -> Response:
    service.delete_signature(session, owner_of(user), signature_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
