"""One row per invoice ever charged: the lock that makes "reserve the amount, then go to the
terminal" one step across stations.

A charge's intent is written in the same database transaction that first bumps this row's
``version`` (a row lock on PostgreSQL, the write lock on SQLite), after reading what the ledger
already holds against the invoice; a second station waits for that commit and then sees the
intent. The holds themselves are the transactions' rows: this table stores no money.
"""

from __future__ import annotations

from datetime import datetime
from typing import ClassVar

from sqlalchemy import Table
from sqlmodel import Field, SQLModel

from posplus_tui.ledger.tables._common import utcnow


class InvoiceLock(SQLModel, table=True):
    __tablename__ = "invoice_locks"
    __table__: ClassVar[Table]  # set by SQLAlchemy; declared for mypy

    invoice_id: str = Field(primary_key=True, max_length=64)
    version: int = Field(default=0)
    updated_at: datetime = Field(default_factory=utcnow)
