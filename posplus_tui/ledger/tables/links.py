"""Payment links: the link rows (the intent of a card-not-present payment), the poller's cursor
and the provider events a station has claimed.

The link row is committed before the provider is asked to create it; ``reference`` (our unique
marker, also the ECR reference of the payment once paid) is what settles an ambiguous create.
"""

from __future__ import annotations

from datetime import datetime
from typing import ClassVar

from sqlalchemy import Table
from sqlmodel import Field, SQLModel

from posplus_tui.ledger.tables._common import utcnow


class PaymentLink(SQLModel, table=True):
    __tablename__ = "payment_links"
    __table__: ClassVar[Table]  # set by SQLAlchemy; declared for mypy

    id: int | None = Field(default=None, primary_key=True)
    reference: str = Field(max_length=16, unique=True)  # P…, the payment's ECR reference too
    provider: str = Field(default="", max_length=16)
    provider_link_id: str = Field(default="", max_length=64, index=True)
    url: str = Field(default="", max_length=512)
    state: str = Field(max_length=24, index=True)
    kind: str = Field(max_length=16)  # sale | deposit: what the payment will be
    amount_cents: int
    invoice_id: str = Field(max_length=64, index=True)
    invoice_number: str = Field(default="", max_length=64)
    job_number: str = Field(default="", max_length=64)
    customer_id: str = Field(default="", max_length=64)
    operator_id: int | None = Field(default=None, foreign_key="operators.id")
    station: str = Field(default="", max_length=40)
    channel: str = Field(default="", max_length=8)  # email | sms | qr (the last way it was sent)
    recipient: str = Field(default="", max_length=254)  # e-mail address or E.164 number
    message_id: str = Field(default="", max_length=255)  # the e-mail's Message-ID / Twilio SID
    transaction_id: int | None = Field(default=None, foreign_key="transactions.id")
    payment_id: str = Field(default="", max_length=64)
    message: str = Field(default="", max_length=255)
    version: int = Field(default=0)
    created_at: datetime = Field(default_factory=utcnow, index=True)
    updated_at: datetime = Field(default_factory=utcnow)
    sent_at: datetime | None = Field(default=None)
    expires_at: datetime | None = Field(default=None)  # when the app ends it (the provider may not)
    closed_at: datetime | None = Field(default=None)


class LinkCursor(SQLModel, table=True):
    """Where the poller got to in the provider's event list (shared by every station)."""

    __tablename__ = "link_cursors"
    __table__: ClassVar[Table]

    provider: str = Field(primary_key=True, max_length=16)
    cursor: str = Field(default="", max_length=255)
    updated_at: datetime = Field(default_factory=utcnow)


class LinkEventClaim(SQLModel, table=True):
    """One provider event, handled once: the insert is the claim, in the same commit as its effect."""

    __tablename__ = "link_events"
    __table__: ClassVar[Table]

    event_id: str = Field(primary_key=True, max_length=255)
    provider: str = Field(default="", max_length=16)
    kind: str = Field(default="", max_length=24)
    link_id: str = Field(default="", max_length=64)
    station: str = Field(default="", max_length=40)
    handled_at: datetime = Field(default_factory=utcnow)
