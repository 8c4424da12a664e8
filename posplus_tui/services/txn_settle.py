"""Settling a payment: sent, discarded, failed, settled with the terminal's answer, batch closes."""

from __future__ import annotations

from typing import Any, cast

from sqlalchemy import CursorResult, insert, select, update
from sqlmodel import Session, col

from drivers import Approved, Cancelled, Declined, NotFound, TerminalError, Unknown
from drivers.base import BatchClosed, StatusResult, TransactionResult
from posplus_tui.domain.money import Money
from posplus_tui.domain.outbox import OutboxAction, OutboxState
from posplus_tui.domain.refs import outbox_marker
from posplus_tui.domain.transactions import (
    MONEY_MOVED_STATES,
    TxnEvent,
    TxnKind,
    TxnState,
    transition,
)
from posplus_tui.ledger.tables import CardOnFile, OutboxRow, Transaction
from posplus_tui.services.errors import ServiceError
from posplus_tui.services.txn_intents import IntentStore
from posplus_tui.services.txn_views import TransactionView, children_of, transaction_view

_OUTBOX_ACTION = {
    TxnKind.SALE: OutboxAction.POST_PAYMENT,
    TxnKind.DEPOSIT: OutboxAction.POST_PAYMENT,
    TxnKind.REFUND: OutboxAction.POST_REFUND,
    TxnKind.VOID: OutboxAction.VOID_PAYMENT,
}


class SettleStore(IntentStore):
    """One database transaction per boundary after the intent."""

    def mark_sent(self, txn_id: int) -> None:
        """INTENT → AT_TERMINAL, committed before the terminal is asked (one guarded UPDATE)."""
        nxt = transition(TxnState.INTENT, TxnEvent.SENT)
        now = self._now()
        with self._ledger.session() as session:
            done = cast(
                CursorResult[Any],
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
                    .execution_options(synchronize_session=False)
                ),
            ).rowcount
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
            return transaction_view(row)

    def fail_intent(self, txn_id: int, *, reason: str, actor: str) -> TransactionView:
        """The request never left: the terminal could not be reached."""
        with self._ledger.session() as session:
            row = self._lock(session, txn_id)
            row.state = transition(TxnState(row.state), TxnEvent.FAILED).value
            row.message = reason[:255]
            row.settled_at = row.updated_at = self._now()
            session.add(row)
            self._audit(session, "payment_failed", actor, row.ecr_ref, reason=reason[:200])
            return transaction_view(row)

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
                return transaction_view(row)  # already settled (e.g. by recovery): nothing to do
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
            return transaction_view(row)

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
                for k, s, m in children_of(session, parent_id)
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
