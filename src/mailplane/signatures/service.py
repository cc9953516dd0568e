"""Signatures of one mailbox. Every query filters by the mailbox and its tenant: another
mailbox's signature id is simply not found (SECURITY.md 7).

Writes lock the mailbox row first (``FOR UPDATE`` on PostgreSQL; SQLite has one writer at
a time), so that two requests making different signatures the default, or racing past the
count limit, run one after the other: at most one default, never a deadlock.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

import nh3
from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from mailplane.errors import LimitReached, NotFound
from mailplane.models import Mailbox, Signature, SignatureRule
from mailplane.names import normalize_address, split_address, to_a_label
from mailplane.sending.compose import text_of_html
from mailplane.signatures.schemas import (
    MAX_SIGNATURES,
    RuleIn,
    SignatureCreate,
    SignaturePatch,
)

# A small allow-list: formatting, links, a logo, a table for layout. No scripts, forms,
# frames, event handlers or style sheets; inline styles keep a few harmless properties.
ALLOWED_TAGS = frozenset(
    {
        "a", "b", "blockquote", "br", "div", "em", "font", "h1", "h2", "h3", "h4", "hr",
        "i", "img", "li", "ol", "p", "s", "small", "span", "strong", "sub", "sup",
        "table", "tbody", "td", "th", "thead", "tr", "u", "ul",
    }
)  # fmt: skip
ALLOWED_ATTRIBUTES = {
    "*": {"style", "title", "align"},
    "a": {"href"},
    "img": {"src", "alt", "width", "height"},
    "font": {"color", "face", "size"},
    "td": {"colspan", "rowspan", "width"},
    "th": {"colspan", "rowspan", "width"},
    "table": {"width", "cellpadding", "cellspacing", "border"},
}
ALLOWED_STYLES = frozenset(
    {
        "color", "background-color", "font-family", "font-size", "font-style", "font-weight",
        "text-align", "text-decoration", "line-height", "margin", "padding", "border",
        "width", "height", "vertical-align",
    }
)  # fmt: skip
# No javascript:, no data: (size), no cid: (a signature has no parts of its own).
URL_SCHEMES = frozenset({"http", "https", "mailto", "tel"})


def sanitize_html(html: str) -> str:
    return nh3.clean(
        html,
        tags=set(ALLOWED_TAGS),
        clean_content_tags={"script", "style"},
        attributes={tag: set(names) for tag, names in ALLOWED_ATTRIBUTES.items()},
        url_schemes=set(URL_SCHEMES),
        filter_style_properties=set(ALLOWED_STYLES),
        link_rel="noopener noreferrer",
    )


@dataclass(frozen=True)
class Owner:
    """The mailbox whose signatures these are."""

    tenant_id: int
    mailbox_id: int


@dataclass(frozen=True)
class SignatureView:
    signature: Signature
    rules: list[SignatureRule]


@dataclass(frozen=True)
class Match:
    found: SignatureView | None
    matched_by: Literal["email", "domain", "default"] | None
    recipient: str | None


def _normalize_rule(rule: RuleIn) -> tuple[str, str]:
    """Email rules hold the canonical address, domain rules the A-label (IDN domains given
    as U-labels match mail to either form)."""
    value = rule.match_value.strip()
    if rule.match_type == "email":
        return "email", normalize_address(value, "rules.match_value")
    return "domain", to_a_label(value.lstrip("@"))


def _rules_of(session: Session, ids: Sequence[int]) -> dict[int, list[SignatureRule]]:
    found: dict[int, list[SignatureRule]] = {i: [] for i in ids}
    if ids:
        rows = session.scalars(
            select(SignatureRule)
            .where(SignatureRule.signature_id.in_(ids))
            .order_by(SignatureRule.id)
        )
        for rule in rows:
            found[rule.signature_id].append(rule)
    return found


def list_signatures(session: Session, owner: Owner) -> list[SignatureView]:
    signatures = list(
        session.scalars(
            select(Signature)
            .where(Signature.mailbox_id == owner.mailbox_id, Signature.tenant_id == owner.tenant_id)
            .order_by(Signature.id)
        )
    )
    rules = _rules_of(session, [s.id for s in signatures])
    return [SignatureView(s, rules[s.id]) for s in signatures]


def _find(session: Session, owner: Owner, signature_id: int) -> Signature:
    signature = session.scalar(
        select(Signature).where(
            Signature.id == signature_id,
            Signature.mailbox_id == owner.mailbox_id,
            Signature.tenant_id == owner.tenant_id,
        )
    )
    if signature is None:
        raise NotFound("no such signature", code="signature_not_found")
    return signature


def get_signature(session: Session, owner: Owner, signature_id: int) -> SignatureView:
    signature = _find(session, owner, signature_id)
    return SignatureView(signature, _rules_of(session, [signature.id])[signature.id])


def _lock_mailbox(session: Session, owner: Owner) -> None:
    found = session.scalar(
        select(Mailbox.id)
        .where(Mailbox.id == owner.mailbox_id, Mailbox.tenant_id == owner.tenant_id)
        .with_for_update()
    )
    if found is None:
        raise NotFound("no such mailbox", code="mailbox_not_found")


def _make_default(session: Session, owner: Owner, signature: Signature) -> None:
    session.execute(
        update(Signature)
        .where(
            Signature.mailbox_id == owner.mailbox_id,
            Signature.tenant_id == owner.tenant_id,
            Signature.id != signature.id,
            Signature.is_default.is_(True),
        )
        .values(is_default=False)
    )
    signature.is_default = True


def _set_rules(session: Session, signature: Signature, rules: Iterable[RuleIn]) -> None:
    session.execute(delete(SignatureRule).where(SignatureRule.signature_id == signature.id))
    seen: set[tuple[str, str]] = set()
    for rule in rules:
        key = _normalize_rule(rule)
        if key not in seen:
            seen.add(key)
            session.add(
                SignatureRule(signature_id=signature.id, match_type=key[0], match_value=key[1])
            )


def _text_for(html: str, text: str | None) -> str:
    if text is not None:
        return text.strip("\r\n")
    return text_of_html(html).strip() if html else ""


def create_signature(
    session: Session, owner: Owner, body: SignatureCreate, now: datetime
) -> SignatureView:
    _lock_mailbox(session, owner)
    count = session.scalar(
        select(func.count()).select_from(Signature).where(Signature.mailbox_id == owner.mailbox_id)
    )
    if (count or 0) >= MAX_SIGNATURES:
        raise LimitReached(
            f"a mailbox has at most {MAX_SIGNATURES} signatures",
            code="too_many_signatures",
            extra={"limit": MAX_SIGNATURES},
        )
    html = sanitize_html(body.html)
    signature = Signature(
        tenant_id=owner.tenant_id,
        mailbox_id=owner.mailbox_id,
        name=body.name,
        html=html,
        text=_text_for(html, body.text),
        is_default=False,
        created_at=now,
        updated_at=now,
    )
    session.add(signature)
    session.flush()
    if body.is_default:
        _make_default(session, owner, signature)
    _set_rules(session, signature, body.rules)
    session.flush()
    return get_signature(session, owner, signature.id)


def update_signature(
    session: Session,
    owner: Owner,
    signature_id: int,
    body: SignatureCreate | SignaturePatch,
    now: datetime,
) -> SignatureView:
    """PUT (a SignatureCreate: every field) or PATCH (only the fields given)."""
    _lock_mailbox(session, owner)
    signature = _find(session, owner, signature_id)
    given = body.model_fields_set if isinstance(body, SignaturePatch) else None

    def changed(name: str) -> bool:
        return given is None or name in given

    if changed("name") and body.name is not None:
        signature.name = body.name
    if changed("html") and body.html is not None:
        signature.html = sanitize_html(body.html)
        if not changed("text"):
            signature.text = _text_for(signature.html, None)
    if changed("text"):
        signature.text = _text_for(signature.html, body.text)
    if changed("is_default") and body.is_default is not None:
        if body.is_default:
            _make_default(session, owner, signature)
        else:
            signature.is_default = False
    if changed("rules") and body.rules is not None:
        _set_rules(session, signature, body.rules)
    signature.updated_at = now
    session.flush()
    return get_signature(session, owner, signature.id)


def delete_signature(session: Session, owner: Owner, signature_id: int) -> None:
    _lock_mailbox(session, owner)
    signature = _find(session, owner, signature_id)
    session.execute(delete(SignatureRule).where(SignatureRule.signature_id == signature.id))
    session.delete(signature)
    session.flush()


def _domains_of(domain: str) -> list[str]:
    """The domain and its parents: a rule for example.com also covers mail.example.com."""
    labels = domain.split(".")
    return [".".join(labels[i:]) for i in range(len(labels) - 1)]


def match_signature(session: Session, owner: Owner, recipients: Sequence[str]) -> Match:
    """An email rule for any recipient beats a domain rule for any recipient (the nearest
    domain first, then the recipients in the order given) beats the default signature."""
    addresses = [normalize_address(r, "to") for r in recipients]
    views = list_signatures(session, owner)
    by_email: dict[str, SignatureView] = {}
    by_domain: dict[str, SignatureView] = {}
    for view in views:  # by id: the oldest rule wins a tie
        for rule in view.rules:
            target = by_email if rule.match_type == "email" else by_domain
            target.setdefault(rule.match_value, view)
    for address in addresses:
        if address in by_email:
            return Match(by_email[address], "email", address)
    for address in addresses:
        for domain in _domains_of(split_address(address)[1]):
            if domain in by_domain:
                return Match(by_domain[domain], "domain", address)
    for view in views:
        if view.signature.is_default:
            return Match(view, "default", None)
    return Match(None, None, None)
