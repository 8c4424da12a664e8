"""The payment engine's database transactions, one function per boundary in the life of a payment.

Each public method is one short, synchronous database transaction (the async services call them
through ``asyncio.to_thread``): write the intent, mark it sent, settle it with the terminal's
answer (approval + outbox row + card on file + parent refund/void state + audit, together), discard
it. Refund and void intents lock the original sale's row first (a version bump: a row lock on
PostgreSQL, the write lock on SQLite), so two stations can never reserve more than was captured.
"""

from __future__ import annotations

import builtins
from datetime import UTC, datetime

from sqlalchemy import select
from sqlmodel import Session, col

from posplus_tui.domain.money import Money
from posplus_tui.domain.rules import reserved_by_children
from posplus_tui.domain.transactions import (
    MONEY_MOVED_STATES,
    Tender,
    TxnEvent,
    TxnState,
    transition,
)
from posplus_tui.ledger.tables import CardOnFile, Transaction
from posplus_tui.services.errors import InvalidRequest, UnknownRecord
from posplus_tui.services.txn_settle import SettleStore
from posplus_tui.services.txn_views import (
    CardView,
    IntentSpec,
    TransactionView,
    card_view,
    children_of,
    transaction_view,
)

__all__ = ["CardView", "IntentSpec", "TransactionView", "TxnStore", "apply_posting_event"]
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


class TxnStore(SettleStore):
    """The payment engine's ledger: intents, settlements, reads and cards on file."""

    def get(self, ecr_ref: str) -> TransactionView:
        with self._ledger.session() as session:
            return transaction_view(self._by_ref(session, ecr_ref))

    def get_by_id(self, txn_id: int) -> TransactionView:
        with self._ledger.session() as session:
            row = session.get(Transaction, txn_id)
            if row is None:
                raise UnknownRecord(f"No transaction #{txn_id}.", "Check the number.")
            return transaction_view(row)

    def children(self, ecr_ref: str) -> list[TransactionView]:
        with self._ledger.session() as session:
            parent = self._by_ref(session, ecr_ref)
            rows = session.execute(
                select(Transaction)
                .where(col(Transaction.parent_id) == parent.id)
                .order_by(col(Transaction.id))
            ).scalars()
            return [transaction_view(r) for r in rows]

    def refundable(self, ecr_ref: str) -> Money:
        with self._ledger.session() as session:
            parent = self._by_ref(session, ecr_ref)
            if TxnState(parent.state) not in MONEY_MOVED_STATES or parent.state == TxnState.VOIDED:
                return Money(0)
            reserved = reserved_by_children(children_of(session, parent.id))  # type: ignore[arg-type]
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
            return [transaction_view(r) for r in session.execute(query).scalars()]

    def unsettled(self) -> builtins.list[TransactionView]:
        """This station's terminal intents and in-flight requests: what recovery must settle."""
        with self._ledger.session() as session:
            rows = session.execute(
                select(Transaction)
                .where(
                    col(Transaction.station) == self._station,
                    Transaction.state.in_(  # type: ignore[attr-defined]
                        [TxnState.INTENT.value, TxnState.AT_TERMINAL.value, TxnState.UNKNOWN.value]
                    ),
                    # a payment link's refund is settled with its provider, not the terminal
                    col(Transaction.tender) != Tender.LINK.value,
                )
                .order_by(col(Transaction.id))
            ).scalars()
            return [transaction_view(r) for r in rows]

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
            return card_view(card), card.token

    def cards(self, customer_id: str, *, include_revoked: bool = False) -> builtins.list[CardView]:
        with self._ledger.session() as session:
            query = select(CardOnFile).where(col(CardOnFile.customer_id) == str(customer_id))
            if not include_revoked:
                query = query.where(CardOnFile.revoked.is_(False))  # type: ignore[attr-defined]
            return [
                card_view(c) for c in session.execute(query.order_by(col(CardOnFile.id))).scalars()
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
            return card_view(card)
