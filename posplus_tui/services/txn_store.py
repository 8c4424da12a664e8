"""The payment engine's database transactions, one function per boundary in the life of a payment.

Each public method is one short, synchronous database transaction (the async services call them
through ``asyncio.to_thread``): write the intent, mark it sent, settle it with the terminal's
answer (approval + outbox row + card on file + parent refund/void state + audit, together), discard
it. Refund and void intents lock the original sale's row first (a version bump: a row lock on
PostgreSQL, the write lock on SQLite), so two stations can never reserve more than was captured.
"""

from __future__ import annotations

import builtins
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from sqlalchemy import insert, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col

from drivers import Approved, Cancelled, Declined, NotFound, TerminalError, Unknown
from drivers.base import BatchClosed, StatusResult, TransactionResult
from posplus_tui.domain.holds import InvoiceHolds, LedgerCharge, check_reservation, holds_for
from posplus_tui.domain.invoice import InvoiceFacts
from posplus_tui.domain.money import Money
from posplus_tui.domain.outbox import OutboxAction, OutboxState
from posplus_tui.domain.refs import make_ecr_ref, outbox_marker
from posplus_tui.domain.rules import (
    RefundExceedsRemaining,
    RuleViolation,
    check_refund,
    check_void,
    reserved_by_children,
)
from posplus_tui.domain.transactions import (
    MONEY_MOVED_STATES,
    Tender,
    TxnEvent,
    TxnKind,
    TxnState,
    transition,
)
from posplus_tui.ledger import Ledger, seals
from posplus_tui.ledger import audit as chain
from posplus_tui.ledger.tables import CardOnFile, Operator, OutboxRow, Transaction
from posplus_tui.ledger.tables.invoice_locks import InvoiceLock
from posplus_tui.redaction import redact
from posplus_tui.services.errors import (
    InvalidRequest,
    InvoiceBusy,
    RefundTooLarge,
    ServiceError,
    UnknownRecord,
    VoidNotAllowed,
)

__all__ = ["CardView", "IntentSpec", "TransactionView", "TxnStore", "apply_posting_event"]

#: An intent goes to the terminal milliseconds after it is written; one unsent this long after
#: was abandoned by a process that stopped (see ``_discard_abandoned_intents``).
ABANDONED_INTENT = timedelta(minutes=2)

_OUTBOX_ACTION = {
    TxnKind.SALE: OutboxAction.POST_PAYMENT,
    TxnKind.DEPOSIT: OutboxAction.POST_PAYMENT,
    TxnKind.REFUND: OutboxAction.POST_REFUND,
    TxnKind.VOID: OutboxAction.VOID_PAYMENT,
}


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


def _view(row: Transaction) -> TransactionView:
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


def _card_view(row: CardOnFile) -> CardView:
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


def _children(session: Session, parent_id: int) -> list[tuple[TxnKind, TxnState, Money]]:
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


_POSTING_EVENTS = frozenset({TxnEvent.POSTED, TxnEvent.POST_FAILED, TxnEvent.RECONCILED})


def apply_posting_event(session: Session, transaction_id: int, event: TxnEvent) -> TxnState:
    """For the reconcile worker, inside its own session (same commit as its outbox update): move a
    transaction through POSTED / POST_FAILED / RECONCILED by the state machine. A refunded or voided
    sale keeps that state. Raises ``IllegalTransition`` for a pair the machine forbids."""
    event = TxnEvent(event)
    if event not in _POSTING_EVENTS:
        raise ValueError(f"{event.value} is not a posting event")
    row = TxnStore._lock(session, transaction_id)
    new = transition(TxnState(row.state), event)
    row.state = new.value
    row.updated_at = datetime.now(UTC)
    session.add(row)
    return new


class TxnStore:
    def __init__(
        self,
        ledger: Ledger,
        *,
        station: str,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self._ledger = ledger
        self._station = station
        self._clock = clock or (lambda: datetime.now(UTC))

    @property
    def ledger(self) -> Ledger:
        return self._ledger

    def _now(self) -> datetime:
        return self._clock()

    def _audit(
        self, session: Session, action: str, actor: str, subject: str, **details: object
    ) -> None:
        chain.append(
            session, action, actor=actor, station=self._station, subject=subject, details=details
        )

    @staticmethod
    def _lock(session: Session, txn_id: int) -> Transaction:
        """Take the row's lock before reading it (see the module docstring)."""
        session.execute(
            update(Transaction)
            .where(col(Transaction.id) == txn_id)
            .values(version=Transaction.version + 1)
        )
        row = session.get(Transaction, txn_id, populate_existing=True)
        assert row is not None
        return row

    @staticmethod
    def _by_ref(session: Session, ecr_ref: str) -> Transaction:
        row: Transaction | None = session.execute(
            select(Transaction).where(col(Transaction.ecr_ref) == (ecr_ref or "").strip().upper())
        ).scalar_one_or_none()
        if row is None:
            raise UnknownRecord(
                f"No transaction has the reference “{ecr_ref}”.",
                "Check the reference on the receipt (it starts with P, e.g. P261125K3J9X0AQ2).",
            )
        return row

    # -- invoice holds --------------------------------------------------------------------------

    def _lock_invoice(self, session: Session, invoice_id: str) -> None:
        """Take the invoice's reservation lock: the first write of the intent's transaction, so a
        second station's charge of the same invoice waits here until this one commits."""
        now = self._now()
        values = {"invoice_id": invoice_id, "version": 0, "updated_at": now}
        table = InvoiceLock.__table__
        dialect = postgresql if self._ledger.backend == "postgresql" else sqlite
        session.execute(dialect.insert(table).values(**values).on_conflict_do_nothing())
        session.execute(
            update(InvoiceLock)
            .where(col(InvoiceLock.invoice_id) == invoice_id)
            .values(version=col(InvoiceLock.version) + 1, updated_at=now)
        )

    @staticmethod
    def _charges(session: Session, invoice_id: str) -> list[LedgerCharge]:
        """Every sale and deposit of the invoice that holds (or may hold) money, any station."""
        held_states = [TxnState.INTENT, TxnState.AT_TERMINAL, TxnState.UNKNOWN, *MONEY_MOVED_STATES]
        rows = session.execute(
            select(Transaction, col(Operator.name), col(OutboxRow.st_payment_id))
            .outerjoin(Operator, col(Operator.id) == col(Transaction.operator_id))
            .outerjoin(OutboxRow, col(OutboxRow.transaction_id) == col(Transaction.id))
            .where(
                col(Transaction.invoice_id) == invoice_id,
                col(Transaction.kind).in_([TxnKind.SALE.value, TxnKind.DEPOSIT.value]),
                col(Transaction.state).in_([s.value for s in held_states]),
            )
            .order_by(col(Transaction.id))
        ).all()
        returned: dict[int, int] = {}
        if rows:  # refunds that gave money back, for every charge at once
            refunds = session.execute(
                select(col(Transaction.parent_id), col(Transaction.approved_cents)).where(
                    col(Transaction.parent_id).in_([row.id for row, _, _ in rows]),
                    col(Transaction.kind) == TxnKind.REFUND.value,
                    col(Transaction.state).in_([s.value for s in MONEY_MOVED_STATES]),
                )
            ).all()
            for parent_id, cents in refunds:
                returned[parent_id] = returned.get(parent_id, 0) + cents
        out = []
        for row, operator, st_payment_id in rows:
            assert row.id is not None
            out.append(
                LedgerCharge(
                    ecr_ref=row.ecr_ref,
                    state=TxnState(row.state),
                    amount=Money(row.amount_cents),
                    approved=Money(row.approved_cents),
                    returned=Money(returned.get(row.id, 0)),
                    station=row.station,
                    operator=operator or "",
                    created_at=row.created_at,
                    st_payment_id=st_payment_id or "",
                )
            )
        return out

    def _discard_abandoned_intents(self, session: Session, invoice_id: str, now: datetime) -> None:
        """An intent of any station still unsent long after it was written belongs to a process
        that stopped before sending it: discard it (under the invoice's lock) so it no longer
        blocks the invoice. Safe even if that process is only slow: its "sent" step requires the
        row to still be an intent, so it fails and nothing reaches a terminal."""
        rows = (
            session.execute(
                select(Transaction).where(
                    col(Transaction.invoice_id) == invoice_id,
                    col(Transaction.state) == TxnState.INTENT.value,
                    col(Transaction.created_at) < now - ABANDONED_INTENT,
                )
            )
            .scalars()
            .all()
        )
        for row in rows:
            row.state = transition(TxnState.INTENT, TxnEvent.DISCARD).value
            row.message = f"never sent: its station stopped before sending it ({self._station})"
            row.settled_at = row.updated_at = now
            row.version += 1
            session.add(row)
            self._audit(
                session,
                "payment_discarded",
                "recovery",
                row.ecr_ref,
                reason=f"an unsent intent of {row.station} found abandoned by {self._station}",
            )
        if rows:
            session.flush()

    def invoice_holds(self, invoice: InvoiceFacts) -> InvoiceHolds:
        """What the ledger holds against the invoice beyond ServiceTitan's balance (no lock: the
        intent's own transaction checks again under the lock)."""
        cutoff = self._now() - ABANDONED_INTENT  # discarded by the intent's own transaction
        with self._ledger.session() as session:
            charges = [
                c
                for c in self._charges(session, invoice.invoice_id)
                if not (c.state is TxnState.INTENT and c.created_at < cutoff)
            ]
        return holds_for(
            invoice.number, invoice.balance, charges, invoice.seen_refs, invoice.seen_payment_ids
        )

    # -- intent ---------------------------------------------------------------------------------

    def write_intent(self, spec: IntentSpec) -> TransactionView:
        """Validate against the ledger and commit the INTENT row; raises ``ServiceError``."""
        for _attempt in range(5):
            ref = make_ecr_ref(date.today(), secrets.randbits(47))
            try:
                with self._ledger.session() as session:
                    return self._write_intent(session, spec, ref)
            except IntegrityError as exc:  # an ECR reference collision: draw another
                if "ecr_ref" not in str(exc).lower() and "unique" not in str(exc).lower():
                    raise
        raise ServiceError("Could not create a unique reference.", "Try again.")

    def _write_intent(self, session: Session, spec: IntentSpec, ref: str) -> TransactionView:
        now = self._now()
        row = Transaction(
            ecr_ref=ref,
            kind=spec.kind.value,
            tender=spec.tender.value,
            state=TxnState.INTENT.value,
            amount_cents=spec.amount.cents,
            operator_id=spec.operator_id,
            supervisor_id=spec.supervisor_id,
            station=self._station,
            save_card=spec.save_card,
            card_on_file_id=spec.card_on_file_id,
            created_at=now,
            updated_at=now,
        )
        if spec.parent_ref is not None:
            parent = self._by_ref(session, spec.parent_ref)
            parent_id = parent.id
            assert parent_id is not None
            parent = self._lock(session, parent_id)
            if TxnKind(parent.kind) not in (TxnKind.SALE, TxnKind.DEPOSIT):
                raise InvalidRequest(
                    f"{parent.ecr_ref} is a {parent.kind}, not a sale.",
                    "Pick the original sale to refund or void.",
                )
            children = _children(session, parent_id)
            try:
                if spec.kind is TxnKind.REFUND:
                    check_refund(
                        TxnState(parent.state),
                        Money(parent.approved_cents),
                        reserved_by_children(children),
                        spec.amount,
                    )
                else:
                    check_void(
                        TxnState(parent.state),
                        batch_closed=parent.batch_closed_at is not None,
                        children=children,
                    )
            except RuleViolation as exc:
                cls: type[ServiceError] = InvalidRequest
                if spec.kind is TxnKind.VOID:
                    cls = VoidNotAllowed
                elif isinstance(exc, RefundExceedsRemaining):
                    cls = RefundTooLarge
                raise cls(exc.message, exc.fix) from None
            row.parent_id = parent.id
            row.tender = parent.tender
            row.invoice_id, row.invoice_number = parent.invoice_id, parent.invoice_number
            row.job_number, row.customer_id = parent.job_number, parent.customer_id
            row.brand, row.last4 = parent.brand, parent.last4
        elif spec.invoice is not None:
            inv = spec.invoice
            if spec.kind.is_charge:
                self._lock_invoice(session, inv.invoice_id)
                self._discard_abandoned_intents(session, inv.invoice_id, now)
                holds = holds_for(
                    inv.number,
                    inv.balance,
                    self._charges(session, inv.invoice_id),
                    inv.seen_refs,
                    inv.seen_payment_ids,
                )
                try:
                    check_reservation(holds, spec.amount)
                except RuleViolation as exc:
                    raise InvoiceBusy(exc.message, exc.fix) from None
            row.invoice_id, row.invoice_number = inv.invoice_id, inv.number
            row.job_number, row.customer_id = inv.job_number, inv.customer_id
        if spec.card_on_file_id is not None:
            card = session.get(CardOnFile, spec.card_on_file_id)
            if card is None or card.revoked:
                raise UnknownRecord(
                    "That saved card is no longer on file.", "Pick another card or present a card."
                )
            row.brand, row.last4 = card.brand, card.last4
        session.add(row)
        session.flush()
        self._audit(
            session,
            "payment_intent",
            spec.operator_name,
            ref,
            kind=spec.kind.value,
            tender=spec.tender.value,
            amount=spec.amount.to_api(),
            invoice=row.invoice_number,
            parent=spec.parent_ref or "",
            supervisor_id=spec.supervisor_id,
            **({"reason": redact(spec.reason)[:200]} if spec.reason else {}),
        )
        return _view(row)

    # -- sending and settling -------------------------------------------------------------------

    def mark_sent(self, txn_id: int) -> None:
        """INTENT → AT_TERMINAL, committed before the terminal is asked (one guarded UPDATE)."""
        nxt = transition(TxnState.INTENT, TxnEvent.SENT)
        now = self._now()
        with self._ledger.session() as session:
            sent = (
                session.execute(
                    update(Transaction)
                    .where(
                        col(Transaction.id) == txn_id,
                        col(Transaction.state) == TxnState.INTENT.value,
                    )
                    .values(
                        state=nxt.value,
                        sent_at=now,
                        updated_at=now,
                        version=Transaction.version + 1,
                    )
                    .returning(*seals.columns("transactions"))  # the row's new seal, no re-read
                    .execution_options(synchronize_session=False)
                )
                .mappings()
                .all()
            )
            seals.note_rows(session, "transactions", sent)  # sealed by an event at commit
            done = len(sent)
            if done != 1:
                raise ServiceError(
                    "This request is no longer waiting to be sent (another process settled it).",
                    "Look it up with `posplus txn show` before doing anything else.",
                )

    def discard(self, txn_id: int, *, reason: str, actor: str = "recovery") -> TransactionView:
        with self._ledger.session() as session:
            row = self._lock(session, txn_id)
            row.state = transition(TxnState(row.state), TxnEvent.DISCARD).value
            row.message = reason[:255]
            row.settled_at = row.updated_at = self._now()
            session.add(row)
            self._audit(session, "payment_discarded", actor, row.ecr_ref, reason=reason)
            return _view(row)

    def fail_intent(self, txn_id: int, *, reason: str, actor: str) -> TransactionView:
        """The request never left: the terminal could not be reached."""
        with self._ledger.session() as session:
            row = self._lock(session, txn_id)
            row.state = transition(TxnState(row.state), TxnEvent.FAILED).value
            row.message = reason[:255]
            row.settled_at = row.updated_at = self._now()
            session.add(row)
            self._audit(session, "payment_failed", actor, row.ecr_ref, reason=reason[:200])
            return _view(row)

    def settle(
        self,
        txn_id: int,
        result: TransactionResult | StatusResult,
        *,
        actor: str,
        recovered: bool = False,
    ) -> TransactionView:
        """Record the terminal's answer. An approval, its outbox row, a saved card and the original
        sale's refund/void state are committed together, with the audit event."""
        with self._ledger.session() as session:
            row = self._lock(session, txn_id)
            state = TxnState(row.state)
            late = state is TxnState.NOT_FOUND and isinstance(result, Approved)
            if state not in (TxnState.AT_TERMINAL, TxnState.UNKNOWN) and not late:
                return _view(row)  # already settled (e.g. by recovery): nothing to do
            now = self._now()
            event, details = self._apply(session, row, result)
            row.state = transition(state, event).value
            row.updated_at = now
            if row.state != TxnState.UNKNOWN.value:
                row.settled_at = now
            session.add(row)
            action = f"payment_{row.state}"
            if recovered:
                details["settled_by"] = "recovery"
            if late:
                details["late_approval"] = "the terminal approved a request it had not found before"
            self._audit(session, action, actor, row.ecr_ref, **details)
            return _view(row)

    def _apply(
        self, session: Session, row: Transaction, result: TransactionResult | StatusResult
    ) -> tuple[TxnEvent, dict[str, object]]:
        if isinstance(result, Approved):
            row.approved_cents = result.approved_cents
            row.auth_code = result.auth_code[:16]
            row.host_ref = result.host_ref[:64]
            row.terminal_ref = result.terminal_ref[:64]
            row.brand = (result.brand or row.brand)[:24]
            row.last4 = (result.last4 or row.last4)[-4:]
            row.entry_method = result.entry_method.value[:24]
            row.batch_number = result.batch_number[:32]
            row.message = ("partial approval" if result.is_partial else "approved")[:255]
            if result.token and row.save_card and row.customer_id:
                card = CardOnFile(
                    customer_id=row.customer_id,
                    token=result.token,
                    brand=row.brand,
                    last4=row.last4,
                    expiry=(result.card_expiry or "")[:4],
                    saved_by=row.operator_id,
                    created_at=self._now(),
                )
                session.add(card)
                session.flush()
                row.card_on_file_id = card.id
            kind = TxnKind(row.kind)
            now = self._now()
            session.execute(
                insert(OutboxRow.__table__).values(
                    transaction_id=row.id,
                    action=_OUTBOX_ACTION[kind],
                    marker=outbox_marker(row.ecr_ref),
                    state=OutboxState.PENDING,
                    attempts=0,
                    next_attempt_at=now,
                    created_at=now,
                    updated_at=now,
                )
            )
            if kind in (TxnKind.REFUND, TxnKind.VOID) and row.parent_id is not None:
                self._apply_to_parent(session, row)
            return TxnEvent.APPROVED, {
                "approved": Money(result.approved_cents).to_api(),
                "requested": Money(row.amount_cents).to_api(),
                "auth_code": row.auth_code,
                "brand": row.brand,
                "last4": row.last4,
                "card_saved": row.card_on_file_id is not None and row.save_card,
            }
        if isinstance(result, Declined):
            row.host_code = result.host_code[:16]
            row.message = f"declined: {result.host_code} {result.host_message}".strip()[:255]
            return TxnEvent.DECLINED, {
                "host_code": result.host_code,
                "host_message": result.host_message,
            }
        if isinstance(result, Cancelled):
            row.message = result.reason[:255]
            return TxnEvent.CANCELLED, {"reason": result.reason}
        if isinstance(result, NotFound):
            row.message = "the terminal has no record of it: it never reached the host"
            return TxnEvent.NOT_FOUND, {}
        if isinstance(result, TerminalError):
            row.host_code = result.code[:16]
            row.message = f"terminal error {result.code}: {result.message}"[:255]
            return TxnEvent.FAILED, {"code": result.code, "message": result.message[:200]}
        if isinstance(result, Unknown):
            row.message = f"outcome unknown: {result.reason}"[:255]
            return TxnEvent.LOST, {"reason": result.reason[:200]}
        raise TypeError(f"not a terminal result: {result!r}")

    def _apply_to_parent(self, session: Session, row: Transaction) -> None:
        parent_id = row.parent_id
        assert parent_id is not None, "a refund or a void always names its sale"
        parent = self._lock(session, parent_id)
        if TxnKind(row.kind) is TxnKind.VOID:
            event = TxnEvent.VOIDED
        else:
            refunded = sum(
                m.cents
                for k, s, m in _children(session, parent_id)
                if k is TxnKind.REFUND and s in MONEY_MOVED_STATES
            )
            refunded += row.approved_cents  # this refund, approved but not yet flushed as such
            event = (
                TxnEvent.FULL_REFUND
                if refunded >= parent.approved_cents
                else TxnEvent.PARTIAL_REFUND
            )
        parent.state = transition(TxnState(parent.state), event).value
        parent.updated_at = self._now()
        session.add(parent)

    def mark_parent_batch_closed(self, parent_ref: str) -> None:
        with self._ledger.session() as session:
            parent = self._by_ref(session, parent_ref)
            if parent.batch_closed_at is None:
                parent.batch_closed_at = self._now()
                session.add(parent)

    def record_batch_close(self, result: BatchClosed, *, actor: str) -> int:
        """Every approved transaction of this station not yet in a closed batch is now settled."""
        with self._ledger.session() as session:
            now = self._now()
            rows = (
                session.execute(
                    select(Transaction).where(
                        col(Transaction.station) == self._station,
                        Transaction.batch_closed_at.is_(None),  # type: ignore[union-attr]
                        Transaction.state.in_([s.value for s in MONEY_MOVED_STATES]),  # type: ignore[attr-defined]
                    )
                )
                .scalars()
                .all()
            )
            for row in rows:
                row.batch_closed_at = now
                session.add(row)
            self._audit(
                session,
                "batch_closed",
                actor,
                result.batch_number,
                count=result.count,
                total=Money(result.total_cents).to_api(),
                ledger_rows=len(rows),
            )
            return len(rows)

    def audit(self, action: str, actor: str, subject: str = "", **details: object) -> None:
        with self._ledger.session() as session:
            self._audit(session, action, actor, subject, **details)

    # -- queries --------------------------------------------------------------------------------

    def get(self, ecr_ref: str) -> TransactionView:
        with self._ledger.session() as session:
            return _view(self._by_ref(session, ecr_ref))

    def get_by_id(self, txn_id: int) -> TransactionView:
        with self._ledger.session() as session:
            row = session.get(Transaction, txn_id)
            if row is None:
                raise UnknownRecord(f"No transaction #{txn_id}.", "Check the number.")
            return _view(row)

    def children(self, ecr_ref: str) -> list[TransactionView]:
        with self._ledger.session() as session:
            parent = self._by_ref(session, ecr_ref)
            rows = session.execute(
                select(Transaction)
                .where(col(Transaction.parent_id) == parent.id)
                .order_by(col(Transaction.id))
            ).scalars()
            return [_view(r) for r in rows]

    def refundable(self, ecr_ref: str) -> Money:
        with self._ledger.session() as session:
            parent = self._by_ref(session, ecr_ref)
            if TxnState(parent.state) not in MONEY_MOVED_STATES or parent.state == TxnState.VOIDED:
                return Money(0)
            reserved = reserved_by_children(_children(session, parent.id))  # type: ignore[arg-type]
            return Money(max(0, parent.approved_cents - reserved.cents))

    def list(
        self,
        *,
        state: TxnState | None = None,
        since: datetime | None = None,
        invoice_id: str | None = None,
        station: str | None = None,
        limit: int = 500,
    ) -> list[TransactionView]:
        with self._ledger.session() as session:
            query = select(Transaction).order_by(Transaction.id.desc()).limit(limit)  # type: ignore[union-attr]
            if state is not None:
                query = query.where(col(Transaction.state) == TxnState(state).value)
            if since is not None:
                query = query.where(col(Transaction.created_at) >= since)
            if invoice_id is not None:
                query = query.where(col(Transaction.invoice_id) == str(invoice_id))
            if station is not None:
                query = query.where(col(Transaction.station) == station)
            return [_view(r) for r in session.execute(query).scalars()]

    def unsettled(self) -> builtins.list[TransactionView]:
        """This station's intents and in-flight requests: what recovery must settle."""
        with self._ledger.session() as session:
            rows = session.execute(
                select(Transaction)
                .where(
                    col(Transaction.station) == self._station,
                    Transaction.state.in_(  # type: ignore[attr-defined]
                        [TxnState.INTENT.value, TxnState.AT_TERMINAL.value, TxnState.UNKNOWN.value]
                    ),
                )
                .order_by(col(Transaction.id))
            ).scalars()
            return [_view(r) for r in rows]

    # -- cards on file --------------------------------------------------------------------------

    def card_token(self, card_id: int, customer_id: str) -> tuple[CardView, str]:
        with self._ledger.session() as session:
            card = session.get(CardOnFile, card_id)
            if card is None or card.revoked:
                raise UnknownRecord(
                    "That saved card is not on file (it may have been removed).",
                    "Pick another saved card or have the customer present a card.",
                )
            if card.customer_id != str(customer_id):
                raise InvalidRequest(
                    "That saved card belongs to another customer.",
                    "Pick one of this customer's saved cards.",
                )
            return _card_view(card), card.token

    def cards(self, customer_id: str, *, include_revoked: bool = False) -> builtins.list[CardView]:
        with self._ledger.session() as session:
            query = select(CardOnFile).where(col(CardOnFile.customer_id) == str(customer_id))
            if not include_revoked:
                query = query.where(CardOnFile.revoked.is_(False))  # type: ignore[attr-defined]
            return [
                _card_view(c) for c in session.execute(query.order_by(col(CardOnFile.id))).scalars()
            ]

    def revoke_card(self, card_id: int, *, operator_id: int, actor: str) -> CardView:
        with self._ledger.session() as session:
            card = session.get(CardOnFile, card_id)
            if card is None:
                raise UnknownRecord(f"No saved card #{card_id}.", "Pick a card from the list.")
            if not card.revoked:
                card.revoked = True
                card.revoked_at = self._now()
                card.revoked_by = operator_id
                card.token = ""  # the token is useless to keep once revoked
                session.add(card)
                self._audit(
                    session,
                    "card_revoked",
                    actor,
                    f"card {card_id}",
                    brand=card.brand,
                    last4=card.last4,
                )
            return _card_view(card)
