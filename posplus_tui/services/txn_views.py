"""What the payment engine reads and writes about a transaction: views of rows, and the intent."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlmodel import Session, col

from posplus_tui.domain.invoice import InvoiceFacts
from posplus_tui.domain.money import Money
from posplus_tui.domain.transactions import MONEY_MOVED_STATES, Tender, TxnKind, TxnState
from posplus_tui.ledger.tables import CardOnFile, Transaction


@dataclass(frozen=True)
class TransactionView:
    """A transaction as the UI and CLI see it."""

    id: int
    ecr_ref: str
    kind: TxnKind
    tender: Tender
    state: TxnState
    amount: Money  # asked for
    approved: Money  # approved by the host
    invoice_id: str
    invoice_number: str
    job_number: str
    customer_id: str
    operator_id: int | None
    supervisor_id: int | None
    station: str
    terminal_ref: str
    host_ref: str
    auth_code: str
    brand: str
    last4: str
    entry_method: str
    card_on_file_id: int | None
    parent_id: int | None
    batch_number: str
    batch_closed: bool
    host_code: str
    message: str
    created_at: datetime
    settled_at: datetime | None

    @property
    def is_approved(self) -> bool:
        return self.state in MONEY_MOVED_STATES


@dataclass(frozen=True)
class CardView:
    id: int
    customer_id: str
    brand: str
    last4: str
    expiry: str  # MMYY
    saved_by: int | None
    created_at: datetime
    revoked: bool

    @property
    def label(self) -> str:
        exp = f"{self.expiry[:2]}/{self.expiry[2:]}" if len(self.expiry) == 4 else "—"
        return f"{self.brand or 'Card'} •••• {self.last4} (exp {exp})"


@dataclass(frozen=True)
class IntentSpec:
    kind: TxnKind
    tender: Tender
    amount: Money
    operator_id: int
    operator_name: str
    invoice: InvoiceFacts | None = None
    supervisor_id: int | None = None
    save_card: bool = False
    card_on_file_id: int | None = None
    parent_ref: str | None = None  # refunds and voids
    reason: str = ""  # refunds and voids: why, in the operator's words (kept in the audit chain)


def transaction_view(row: Transaction) -> TransactionView:
    assert row.id is not None
    return TransactionView(
        id=row.id,
        ecr_ref=row.ecr_ref,
        kind=TxnKind(row.kind),
        tender=Tender(row.tender),
        state=TxnState(row.state),
        amount=Money(row.amount_cents),
        approved=Money(row.approved_cents),
        invoice_id=row.invoice_id,
        invoice_number=row.invoice_number,
        job_number=row.job_number,
        customer_id=row.customer_id,
        operator_id=row.operator_id,
        supervisor_id=row.supervisor_id,
        station=row.station,
        terminal_ref=row.terminal_ref,
        host_ref=row.host_ref,
        auth_code=row.auth_code,
        brand=row.brand,
        last4=row.last4,
        entry_method=row.entry_method,
        card_on_file_id=row.card_on_file_id,
        parent_id=row.parent_id,
        batch_number=row.batch_number,
        batch_closed=row.batch_closed_at is not None,
        host_code=row.host_code,
        message=row.message,
        created_at=row.created_at,
        settled_at=row.settled_at,
    )


def card_view(row: CardOnFile) -> CardView:
    assert row.id is not None
    return CardView(
        row.id,
        row.customer_id,
        row.brand,
        row.last4,
        row.expiry,
        row.saved_by,
        row.created_at,
        row.revoked,
    )


def children_of(session: Session, parent_id: int) -> list[tuple[TxnKind, TxnState, Money]]:
    rows = session.execute(
        select(
            col(Transaction.kind),
            col(Transaction.state),
            col(Transaction.amount_cents),
            col(Transaction.approved_cents),
        ).where(col(Transaction.parent_id) == parent_id)
    ).all()
    out = []
    for kind, state, asked, approved in rows:
        st = TxnState(state)
        out.append((TxnKind(kind), st, Money(approved if st in MONEY_MOVED_STATES else asked)))
    return out
