"""Writing a payment's intent: the invoice's reservation lock, what the ledger holds on it, the row.

The core of :class:`~posplus_tui.services.txn_store.TxnStore` (its clock, audit and row locks)
lives here too, so every part of the store shares it.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col

from posplus_tui.domain.holds import (
    InvoiceHolds,
    LedgerCharge,
    OpenLink,
    check_reservation,
    holds_for,
)
from posplus_tui.domain.invoice import InvoiceFacts
from posplus_tui.domain.links import LINK_HOLDING_STATES
from posplus_tui.domain.money import Money
from posplus_tui.domain.refs import make_ecr_ref
from posplus_tui.domain.rules import (
    RefundExceedsRemaining,
    RuleViolation,
    check_refund,
    check_void,
    reserved_by_children,
)
from posplus_tui.domain.transactions import (
    MONEY_MOVED_STATES,
    TxnEvent,
    TxnKind,
    TxnState,
    transition,
)
from posplus_tui.ledger import Ledger
from posplus_tui.ledger import audit as chain
from posplus_tui.ledger.tables import CardOnFile, Operator, OutboxRow, Transaction
from posplus_tui.ledger.tables.invoice_locks import InvoiceLock
from posplus_tui.ledger.tables.links import PaymentLink
from posplus_tui.redaction import redact
from posplus_tui.services.errors import (
    InvalidRequest,
    InvoiceBusy,
    RefundTooLarge,
    ServiceError,
    UnknownRecord,
    VoidNotAllowed,
)
from posplus_tui.services.txn_views import (
    IntentSpec,
    TransactionView,
    children_of,
    transaction_view,
)

#: An intent goes to the terminal milliseconds after it is written; one unsent this long after
#: was abandoned by a process that stopped (see ``_discard_abandoned_intents``).
ABANDONED_INTENT = timedelta(minutes=2)


class IntentStore:
    """The ledger's intent writes, and the clock, audit and locks every store part uses."""

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

    @staticmethod
    def _open_links(session: Session, invoice_id: str) -> list[OpenLink]:
        """The invoice's payment links the customer may still pay (any station)."""
        rows = session.execute(
            select(PaymentLink).where(
                col(PaymentLink.invoice_id) == invoice_id,
                col(PaymentLink.state).in_([s.value for s in LINK_HOLDING_STATES]),
            )
        ).scalars()
        return [
            OpenLink(r.reference, Money(r.amount_cents), r.channel, r.station, r.created_at)
            for r in rows
        ]

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
            links = self._open_links(session, invoice.invoice_id)
        return holds_for(
            invoice.number,
            invoice.balance,
            charges,
            invoice.seen_refs,
            invoice.seen_payment_ids,
            links,
        )

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
            children = children_of(session, parent_id)
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
                    self._open_links(session, inv.invoice_id),
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
        return transaction_view(row)
