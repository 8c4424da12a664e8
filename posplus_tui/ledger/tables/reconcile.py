"""Tables owned by reconciliation and sync: the event history, posting details, feed cursors, the
local invoice index, detected mismatches and the single-worker lock used on SQLite.

Money is stored as integer cents (``*_cents``); ServiceTitan ids are int64 (``BigInteger``). Times
are UTC.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import ClassVar

from sqlalchemy import BigInteger, Column, Index, Table, Text, UniqueConstraint, func
from sqlmodel import Field, SQLModel


def utcnow() -> datetime:
    return datetime.now(UTC)


class ReconcileEventRow(SQLModel, table=True):
    """One step of the reconciliation stream, kept so the screen shows history after a restart."""

    __tablename__ = "reconcile_events"
    __table__: ClassVar[Table]  # set by SQLAlchemy; declared for mypy

    id: int | None = Field(default=None, primary_key=True)
    time: datetime = Field(default_factory=utcnow, index=True)
    outbox_id: int | None = Field(default=None, index=True)
    transaction_ref: str = Field(default="", max_length=64)
    invoice_number: str = Field(default="", max_length=64)
    amount_cents: int = Field(default=0, sa_type=BigInteger)
    kind: str = Field(max_length=32, index=True)
    message: str = Field(default="", sa_type=Text)
    retry_in: float | None = None
    station: str = Field(default="", max_length=64)


class ReconcilePosting(SQLModel, table=True):
    """What the worker knows about one outbox row beyond the outbox's own columns.

    ``balance_before_cents`` is the invoice balance read (batched) just before posting, so the
    verification can check the balance moved by exactly the amount.
    """

    __tablename__ = "reconcile_postings"
    __table__: ClassVar[Table]  # set by SQLAlchemy; declared for mypy

    outbox_id: int = Field(primary_key=True)
    invoice_id: int | None = Field(default=None, sa_type=BigInteger, index=True)
    balance_before_cents: int | None = Field(default=None, sa_type=BigInteger)
    balance_after_cents: int | None = Field(default=None, sa_type=BigInteger)
    expected_delta_cents: int | None = Field(default=None, sa_type=BigInteger)
    invoice_total_cents: int | None = Field(default=None, sa_type=BigInteger)
    posted_at: datetime | None = Field(default=None)
    verified_at: datetime | None = Field(default=None)
    resolved_by: str = Field(default="", max_length=64)
    note: str = Field(default="", sa_type=Text)
    #: When the last POST whose outcome may be unknown was sent; the doubt window runs from here.
    attempted_at: datetime | None = Field(default=None)
    #: Searches (marker, export feed, balance) since then that did not settle the doubt.
    doubt_checks: int = Field(default=0)
    #: What made the outcome unknown ("HTTP 408", "the reply was lost", …), for the advice.
    doubt_reason: str = Field(default="", sa_type=Text)


class SyncCursor(SQLModel, table=True):
    """Where each export feed left off (its ``continueFrom`` token)."""

    __tablename__ = "sync_cursors"
    __table__: ClassVar[Table]  # set by SQLAlchemy; declared for mypy

    feed: str = Field(primary_key=True, max_length=64)
    token: str = Field(default="", sa_type=Text)
    updated_at: datetime = Field(default_factory=utcnow)


class InvoiceIndexRow(SQLModel, table=True):
    """A local copy of the invoice fields a clerk searches by, for instant lookup."""

    __tablename__ = "invoice_index"
    __table__: ClassVar[Table]  # set by SQLAlchemy; declared for mypy

    id: int = Field(sa_column=Column(BigInteger, primary_key=True, autoincrement=False))
    number: str = Field(default="", max_length=64, index=True)
    job_number: str = Field(default="", max_length=64, index=True)
    job_id: int | None = Field(default=None, sa_type=BigInteger)
    customer_id: int | None = Field(default=None, sa_type=BigInteger, index=True)
    customer_name: str = Field(default="", max_length=200)
    customer_name_norm: str = Field(default="", max_length=200)
    phone_digits: str = Field(default="", max_length=32)
    address: str = Field(default="", max_length=300)
    total_cents: int = Field(default=0, sa_type=BigInteger)
    balance_cents: int = Field(default=0, sa_type=BigInteger)
    invoice_date: str = Field(default="", max_length=40)
    adjustment_to_id: int | None = Field(default=None, sa_type=BigInteger)
    active: bool = True
    modified_on: str = Field(default="", max_length=40)
    updated_at: datetime = Field(default_factory=utcnow)
    #: The row's place in search results (``services.search.rank_key``), and on SQLite the
    #: rowid of its words in the ``invoice_search`` FTS5 table; ``None`` when not searchable.
    search_rank: int | None = Field(default=None, sa_type=BigInteger)


class ReconcileMismatch(SQLModel, table=True):
    """Something in ServiceTitan disagrees with the ledger; shown to a supervisor until resolved."""

    __tablename__ = "reconcile_mismatches"
    __table__: ClassVar[Table]  # set by SQLAlchemy; declared for mypy
    __table_args__ = (UniqueConstraint("key", name="uq_reconcile_mismatches_key"),)

    id: int | None = Field(default=None, primary_key=True)
    #: Deduplicates detections, e.g. ``foreign_type:12345`` or ``total_changed:987:15000``.
    key: str = Field(max_length=160)
    kind: str = Field(max_length=32, index=True)
    invoice_id: int | None = Field(default=None, sa_type=BigInteger, index=True)
    invoice_number: str = Field(default="", max_length=64)
    st_payment_id: str = Field(default="", max_length=40)
    outbox_id: int | None = None
    marker: str = Field(default="", max_length=80)
    expected_cents: int | None = Field(default=None, sa_type=BigInteger)
    actual_cents: int | None = Field(default=None, sa_type=BigInteger)
    message: str = Field(default="", sa_type=Text)
    detected_at: datetime = Field(default_factory=utcnow, index=True)
    resolved_at: datetime | None = Field(default=None)
    resolution_note: str = Field(default="", sa_type=Text)


class ReconcileLock(SQLModel, table=True):
    """A lease: on SQLite only one worker drains the outbox; it renews before ``expires_at``."""

    __tablename__ = "reconcile_locks"
    __table__: ClassVar[Table]  # set by SQLAlchemy; declared for mypy

    name: str = Field(primary_key=True, max_length=64)
    holder: str = Field(default="", max_length=128)
    acquired_at: datetime = Field(default_factory=utcnow)
    expires_at: datetime = Field(default_factory=utcnow)


class ReconcileWorkerBeat(SQLModel, table=True):
    """A running worker's heartbeat: claims of a worker whose beat is older than a few beats are
    free for others at once (other computers; on this one its PID tells sooner)."""

    __table__: ClassVar[Table]  # set by SQLAlchemy; declared for mypy
    __tablename__ = "reconcile_workers"

    worker_id: str = Field(primary_key=True, max_length=80)
    beat_at: datetime = Field(default_factory=utcnow)


class RateBudget(SQLModel, table=True):
    """A token bucket one tenant's stations share (PostgreSQL): ``tokens`` at ``stamp``, refilled
    at ``rate`` per second up to ``burst``. Stations take a few tokens per transaction."""

    __table__: ClassVar[Table]  # set by SQLAlchemy; declared for mypy
    __tablename__ = "st_rate_budget"

    key: str = Field(primary_key=True, max_length=160)
    tokens: float = 0.0
    rate: float = 60.0
    burst: float = 10.0
    stamp: datetime = Field(default_factory=utcnow)


__all__ = [
    "InvoiceIndexRow",
    "RateBudget",
    "ReconcileEventRow",
    "ReconcileLock",
    "ReconcileMismatch",
    "ReconcilePosting",
    "ReconcileWorkerBeat",
    "SyncCursor",
    "utcnow",
]


# Lookups compare invoice and job numbers without regard to case; these keep that instant on a
# 100,000-invoice index (SQLite and PostgreSQL both use an index on the expression).
Index("ix_invoice_index_number_lower", func.lower(InvoiceIndexRow.__table__.c.number))
Index("ix_invoice_index_job_number_lower", func.lower(InvoiceIndexRow.__table__.c.job_number))
