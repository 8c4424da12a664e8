"""Plain records passed between the worker and its store (no database types leak out)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from posplus_tui.domain.money import Money
from posplus_tui.domain.outbox import OUTBOX_FINAL_STATES, OUTBOX_OPEN_STATES, OutboxState
from posplus_tui.services.reconcile.events import ReconcileEvent
from posplus_tui.services.reconcile.poster import Posting

#: Outbox states: spelled once, in the domain (short names for the worker and its store).
PENDING = OutboxState.PENDING
POSTING = OutboxState.POSTING
POSTED = OutboxState.POSTED
VERIFIED = OutboxState.VERIFIED
NEEDS_ATTENTION = OutboxState.NEEDS_ATTENTION
MISMATCH = OutboxState.MISMATCH
CANCELLED = OutboxState.CANCELLED
OPEN_STATES = tuple(sorted(OUTBOX_OPEN_STATES))
FINAL_STATES = tuple(sorted(OUTBOX_FINAL_STATES))


@dataclass
class OutboxItem:
    """A claimed outbox row with everything needed to post and verify it."""

    posting: Posting
    state: str
    attempts: int
    method: str = ""
    st_payment_id: str | None = None
    #: From the worker's own posting record.
    result_invoice_id: int | None = None
    balance_before: Money | None = None
    expected_delta: Money | None = None
    #: For refunds and voids: the original sale's outbox row.
    original_outbox_id: int | None = None
    original_state: str | None = None
    original_claimed: bool = False
    #: When the row entered the outbox (the approval), for the QUEUED event.
    queued_at: datetime | None = None
    #: The doubt record: when the last POST went out, checks since, what made it uncertain.
    attempted_at: datetime | None = None
    doubt_checks: int = 0
    doubt_reason: str = ""

    @property
    def outbox_id(self) -> int:
        return self.posting.outbox_id


@dataclass
class RowUpdate:
    """A change to one outbox row (``None`` fields are left as they are)."""

    outbox_id: int
    state: str | None = None
    attempts: int | None = None
    next_attempt_at: datetime | None = None
    clear_next_attempt: bool = False
    release: bool = True
    st_payment_id: str | None = None
    last_error: str | None = None
    clear_error: bool = False
    #: Fields of the worker's posting record.
    result_invoice_id: int | None = None
    balance_before: Money | None = None
    balance_after: Money | None = None
    expected_delta: Money | None = None
    invoice_total: Money | None = None
    mark_posted_at: bool = False
    mark_verified_at: bool = False
    resolved_by: str | None = None
    note: str | None = None
    #: Event to apply to the ledger transaction (``posted``, ``post_failed``, ``reconciled``).
    txn_event: str | None = None
    attempted_at: datetime | None = None
    doubt_checks: int | None = None
    doubt_reason: str | None = None
    #: A void settled with nothing to post (its sale never reached ServiceTitan): audited.
    nothing_to_post: Posting | None = None


@dataclass
class Batch:
    """Updates and events written in one database transaction, then events published."""

    updates: list[RowUpdate] = field(default_factory=list)
    events: list[ReconcileEvent] = field(default_factory=list)
    mismatches: list[MismatchRecord] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.updates or self.events or self.mismatches)


@dataclass(frozen=True)
class MismatchRecord:
    """A disagreement between ServiceTitan and the ledger, for the supervisor's list."""

    key: str
    kind: str
    message: str
    invoice_id: int | None = None
    invoice_number: str = ""
    st_payment_id: str = ""
    outbox_id: int | None = None
    marker: str = ""
    expected: Money | None = None
    actual: Money | None = None


@dataclass
class DrainProgress:
    """Running totals of one drain, for the CLI's progress line."""

    claimed: int = 0
    posted: int = 0
    verified: int = 0
    retried: int = 0
    needs_attention: int = 0
    mismatches: int = 0
    cancelled: int = 0
    found_existing: int = 0
    remaining: int = 0
    started: float = 0.0


@dataclass(frozen=True)
class PostingView:
    """One outbox row as the reconciliation screen lists it."""

    outbox_id: int
    transaction_ref: str
    action: str
    state: str
    invoice_number: str
    amount: Money
    method: str
    attempts: int
    last_error: str
    st_payment_id: str
    created_at: datetime
    updated_at: datetime
