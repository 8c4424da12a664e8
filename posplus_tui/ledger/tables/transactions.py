"""Every request that was (or was about to be) sent to a terminal, with its outcome.

A row is written as INTENT and committed before the terminal is asked; the services move ``state``
only through ``posplus_tui.domain.transactions.transition``.
"""

from __future__ import annotations

from datetime import datetime
from typing import ClassVar

from sqlalchemy import Table
from sqlmodel import Field, SQLModel

from posplus_tui.ledger.tables._common import utcnow


class Transaction(SQLModel, table=True):
    __tablename__ = "transactions"
    __table__: ClassVar[Table]  # set by SQLAlchemy; declared for mypy

    id: int | None = Field(default=None, primary_key=True)
    ecr_ref: str = Field(max_length=16, unique=True)
    kind: str = Field(max_length=16)  # sale | deposit | refund | void
    tender: str = Field(max_length=16)  # card | keyed | card_on_file | ach | link
    state: str = Field(max_length=24, index=True)
    amount_cents: int  # what was asked for
    approved_cents: int = Field(default=0)  # what the host approved (partial approvals are less)
    invoice_id: str = Field(default="", max_length=64, index=True)
    invoice_number: str = Field(default="", max_length=64)
    job_number: str = Field(default="", max_length=64)
    customer_id: str = Field(default="", max_length=64)
    operator_id: int | None = Field(default=None, foreign_key="operators.id")
    supervisor_id: int | None = Field(default=None, foreign_key="operators.id")
    station: str = Field(default="", max_length=40, index=True)
    terminal_ref: str = Field(default="", max_length=64)
    host_ref: str = Field(default="", max_length=64)
    auth_code: str = Field(default="", max_length=16)
    brand: str = Field(default="", max_length=24)
    last4: str = Field(default="", max_length=4)
    entry_method: str = Field(default="", max_length=24)
    save_card: bool = Field(default=False)
    card_on_file_id: int | None = Field(default=None, foreign_key="cards_on_file.id")
    parent_id: int | None = Field(default=None, foreign_key="transactions.id", index=True)
    batch_number: str = Field(default="", max_length=32)
    batch_closed_at: datetime | None = Field(default=None)
    host_code: str = Field(default="", max_length=16)
    message: str = Field(default="", max_length=255)
    #: Bumped by every guarded change; the first write of a guarded DB transaction, it takes the lock.
    version: int = Field(default=0)
    created_at: datetime = Field(default_factory=utcnow, index=True)
    updated_at: datetime = Field(default_factory=utcnow)
    sent_at: datetime | None = Field(default=None)
    settled_at: datetime | None = Field(default=None)
