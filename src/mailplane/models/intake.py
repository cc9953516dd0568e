"""What the SMTP intake has taken from Postfix: one receipt per (Postfix queue id,
recipient), written in the same transaction as the queued message.

Postfix deletes its copy only after the intake's 250, and the 250 follows the commit; if
the intake dies between the two, Postfix hands the message over again. The receipt makes
that second handover a no-op for recipients already queued, so a message reaches
mailplane's queue exactly once. Receipts outlive Postfix's own retry period and are then
removed (intake/receipts.py).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from mailplane.models.base import Base, UTCDateTime, utcnow


class IntakeReceipt(Base):
    __tablename__ = "intake_receipts"
    __table_args__ = (
        UniqueConstraint("queue_id", "recipient", name="uq_intake_receipts_queue_id_recipient"),
        Index("ix_intake_receipts_created_at", "created_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # "<mail hostname>/<Postfix queue id>": queue ids are unique per Postfix instance only.
    queue_id: Mapped[str] = mapped_column(String(300))
    recipient: Mapped[str] = mapped_column(String(320))
    message_id: Mapped[str] = mapped_column(
        ForeignKey("outbound_messages.id", ondelete="CASCADE"), index=True
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
