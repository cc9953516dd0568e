"""A bulk sender whose DKIM key Knot publishes, and the unsubscribe links of what arrived."""

from __future__ import annotations

import re
from email import message_from_bytes
from email.message import Message
from typing import Any

from sqlalchemy import select

from mailplane.config import Settings
from mailplane.db import Database
from mailplane.dkim import keys
from mailplane.models import DkimKey, ListUnsubscribe, Suppression
from mailplane.models.statuses import DkimKeyStatus
from tests.delivery.conftest import MX1
from tests.delivery.support import mx_zone
from tests.support.api import Api
from tests.support.knot import Knot
from tests.support.senders import Sender, make_sender

PUBLIC_URL = "https://mail.platform.test"


def bulk_sender(api: Api, database: Database, knot: Knot) -> Sender:
    """A verified tenant domain with an active key, its MX (mx1) and key in Knot."""
    sender = make_sender(api, database)
    name = sender.domain
    with database.session(write=False) as session:
        key = session.scalars(
            select(DkimKey).where(
                DkimKey.domain_id == sender.domain_id, DkimKey.status == DkimKeyStatus.ACTIVE
            )
        ).one()
        selector, algorithm, public = key.selector, key.algorithm, key.public_key_b64
    mx_zone(knot, name, [(10, "mx")], {"mx": MX1})
    value = " ".join(f'"{c}"' for c in keys.split_txt(keys.txt_value(algorithm, public)))
    knot.update(name, replace=[(f"{selector}._domainkey.{name}", "TXT", [value])])
    knot.wait_for(f"{selector}._domainkey.{name}", "TXT")
    return sender


def send(sender: Sender, to: list[str], **fields: Any) -> list[dict[str, Any]]:
    """The recipients of an accepted message (email, id, status)."""
    body = {"from": f"news@{sender.domain}", "to": to, "subject": "News", "text": "Hello"}
    response = sender.send({**body, **fields})
    assert response.status_code == 202, response.text
    recipients: list[dict[str, Any]] = response.json()["recipients"]
    return [{**r, "message": response.json()["id"]} for r in recipients]


def headers_of(data: bytes) -> Message:
    return message_from_bytes(data)


def one_click_path(data: bytes) -> str:
    """The path of the HTTPS target in List-Unsubscribe."""
    value = headers_of(data)["List-Unsubscribe"]
    match = re.search(re.escape(PUBLIC_URL) + r"(/unsubscribe/[a-z2-7]+)>", value)
    assert match, value
    return match.group(1)


def mailto_of(data: bytes) -> str:
    value = headers_of(data)["List-Unsubscribe"]
    match = re.search(r"<mailto:([^>]+)>", value)
    assert match, value
    return match.group(1)


def engine(engine_settings: Any, settings: Settings, **overrides: Any) -> Settings:
    """Engine settings that share the API's secret (the tokens must verify there)."""
    built: Settings = engine_settings(
        secret_key=settings.secret_key, public_url=PUBLIC_URL, **overrides
    )
    return built


def suppression(database: Database, tenant_id: int, address: str) -> Suppression | None:
    with database.session(write=False) as session:
        return session.scalar(
            select(Suppression).where(
                Suppression.tenant_id == tenant_id, Suppression.address == address
            )
        )


def list_unsubscribes(database: Database, tenant_id: int) -> list[tuple[str, str, str]]:
    with database.session(write=False) as session:
        rows = session.execute(
            select(ListUnsubscribe.list_id, ListUnsubscribe.address, ListUnsubscribe.source)
            .where(ListUnsubscribe.tenant_id == tenant_id)
            .order_by(ListUnsubscribe.id)
        )
        return [(r[0], r[1], r[2]) for r in rows]
