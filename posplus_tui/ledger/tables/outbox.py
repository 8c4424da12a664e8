"""Work for the reconcile worker: one row per approved payment, refund or void, written in the same
database transaction as the approval. ``marker`` is the idempotency key put in ServiceTitan."""

from __future__ import annotations

from datetime import datetime
from typing import ClassVar

from sqlalchemy import Table
from sqlmodel import Field, SQLModel

from posplus_tui.domain.outbox import OutboxAction, OutboxState
from posplus_tui.ledger.tables._common import utcnow

OUTBOX_ACTIONS = tuple(a.value for a in OutboxAction)
OUTBOX_STATES = tuple(s.value for s in OutboxState)  # the domain spells them


class OutboxRow(SQLModel, table=True):
    __tablename__ = "outbox"
    __table__: ClassVar[Table]  # set by SQLAlchemy; declared for mypy

    id: int | None = Field(default=None, primary_key=True)
    transaction_id: int = Field(foreign_key="transactions.id", index=True)
    action: str = Field(max_length=24)  # post_payment | post_refund | void_payment
    marker: str = Field(max_length=40, unique=True)  # POSPLUS-<ecr_ref>
    state: str = Field(default="pending", max_length=24, index=True)
    attempts: int = Field(default=0)
    next_attempt_at: datetime | None = Field(default=None)
    claimed_by: str | None = Field(default=None, max_length=80)
    claimed_at: datetime | None = Field(default=None)
    st_payment_id: str | None = Field(default=None, max_length=64)
    last_error: str | None = Field(default=None, max_length=1000)
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)
