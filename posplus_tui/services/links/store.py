"""The payment links' database transactions, on top of the payment engine's (same invoice lock,
same holds, same outbox).

Each public method is one short synchronous transaction; the async service calls them through
``asyncio.to_thread``. Moves between link states go through
:func:`posplus_tui.domain.links.link_transition` under a guarded update (a version bump takes the
row's lock first), so two stations can never both record a link's payment.
"""

from __future__ import annotations

import builtins
import secrets
from datetime import date
from typing import Any, cast

from sqlalchemy import CursorResult, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session, col

from gateways import EventKind, LinkEvent, LinkPayment
from posplus_tui.domain.links import (
    LINK_OPEN_STATES,
    LinkStatus,
)
from posplus_tui.domain.links import (
    LinkEvent as LinkMove,
)
from posplus_tui.domain.money import Money
from posplus_tui.domain.outbox import OutboxAction, OutboxState
from posplus_tui.domain.refs import make_ecr_ref, outbox_marker
from posplus_tui.domain.transactions import (
    Tender,
    TxnKind,
    TxnState,
)
from posplus_tui.ledger.tables import OutboxRow, Transaction
from posplus_tui.ledger.tables.links import LinkCursor, LinkEventClaim, PaymentLink
from posplus_tui.services.errors import UnknownRecord
from posplus_tui.services.links.store_rows import Applied, LinkRows, LinkView, link_view

__all__ = ["Applied", "LinkStore", "LinkView"]


class LinkStore(LinkRows):
    """Provider events claimed once, the poller's cursor, and the queries the service asks."""

    # -- provider events ------------------------------------------------------------------------

    def _claim(self, session: Session, event: LinkEvent) -> bool:
        """The insert is the claim; it commits (or rolls back) with the event's effect. Told by
        RETURNING, not rowcount (psycopg reports -1 for an INSERT … ON CONFLICT DO NOTHING)."""
        table = LinkEventClaim.__table__
        dialect = postgresql if self._ledger.backend == "postgresql" else sqlite
        claimed = session.execute(
            dialect.insert(table)
            .values(
                event_id=event.event_id[:255],
                provider=self.provider,
                kind=event.kind.name[:24],
                link_id=event.link_id[:64],
                station=self._station,
                handled_at=self._now(),
            )
            .on_conflict_do_nothing()
            .returning(table.c.event_id)
        ).first()
        return claimed is not None

    def _by_link_id(self, session: Session, link_id: str, reference: str) -> PaymentLink | None:
        query = select(PaymentLink).where(col(PaymentLink.provider) == self.provider)
        if link_id:
            query = query.where(col(PaymentLink.provider_link_id) == link_id)
        elif reference:
            query = query.where(col(PaymentLink.reference) == reference)
        else:
            return None
        found = session.execute(query).scalars().first()
        if found is None and reference and link_id:
            found = session.execute(
                select(PaymentLink).where(col(PaymentLink.reference) == reference)
            ).scalar_one_or_none()
        if found is None or found.id is None:
            return None
        return self._row(session, found.id)

    def apply(self, event: LinkEvent) -> Applied | None:
        """Handle one provider event exactly once across stations. A payment becomes an approved
        transaction with its outbox row in the same commit; ``None`` means another poller (or an
        earlier round) already handled this event."""
        with self._ledger.session() as session:
            if not self._claim(session, event):
                return None
            payment = event.payment
            row = self._by_link_id(
                session, event.link_id, event.reference or (payment.reference if payment else "")
            )
            if row is None:
                return Applied(None, "ignored")  # not one of ours (another app on the account)
            if event.kind is EventKind.LINK_PAID and payment is not None:
                return self._paid(session, row, payment)
            if event.kind is EventKind.PAYMENT_FAILED:
                words = event.failure_message or "the card was declined"
                row.message = f"a payment attempt failed at {event.created_at:%H:%M}: {words}"[:255]
                session.add(row)
                self._audit(session, "link_payment_failed", "links", row.reference, reason=words)
                return Applied(link_view(row), "declined")
            closing = {
                EventKind.LINK_EXPIRED: (LinkMove.EXPIRED, "expired"),
                EventKind.LINK_DEACTIVATED: (LinkMove.DEACTIVATED, "deactivated"),
            }
            if event.kind in closing and LinkStatus(row.state) in LINK_OPEN_STATES:
                move, what = closing[event.kind]
                self._move(row, move)
                row.closed_at = self._now()
                session.add(row)
                self._audit(session, f"link_{what}", "links", row.reference)
                return Applied(link_view(row), what)
            return Applied(link_view(row), "ignored")

    def _paid(self, session: Session, row: PaymentLink, payment: LinkPayment) -> Applied:
        state = LinkStatus(row.state)
        if row.payment_id:
            if row.payment_id == payment.payment_id:
                return Applied(link_view(row), "ignored")  # the same payment, reported again
            # A second completed payment through a link that may be paid once.
            self._audit(
                session,
                "link_paid_twice",
                "links",
                row.reference,
                payment_id=payment.payment_id,
                amount=Money(payment.amount_cents).to_api(),
            )
            return Applied(link_view(row), "duplicate", payment)
        self._move(row, LinkMove.PAID)
        now = self._now()
        txn = Transaction(
            ecr_ref=row.reference,
            kind=row.kind,
            tender=Tender.LINK.value,
            state=TxnState.APPROVED.value,  # its intent is the link row; the provider took the money
            amount_cents=row.amount_cents,
            approved_cents=payment.amount_cents,
            invoice_id=row.invoice_id,
            invoice_number=row.invoice_number,
            job_number=row.job_number,
            customer_id=row.customer_id,
            operator_id=row.operator_id,
            station=row.station,
            host_ref=payment.payment_id[:64],
            terminal_ref=(payment.session_id or payment.link_id)[:64],
            brand=payment.brand[:24],
            last4=payment.last4[-4:],
            entry_method="payment link",
            message=f"paid through payment link ({state.value} before)"[:255],
            created_at=row.created_at,
            updated_at=now,
            sent_at=row.sent_at or row.created_at,
            settled_at=now,
        )
        session.add(txn)
        session.flush()
        session.execute(
            insert(OutboxRow.__table__).values(
                transaction_id=txn.id,
                action=OutboxAction.POST_PAYMENT,
                marker=outbox_marker(row.reference),
                state=OutboxState.PENDING,
                attempts=0,
                next_attempt_at=now,
                created_at=now,
                updated_at=now,
            )
        )
        row.transaction_id = txn.id
        row.payment_id = payment.payment_id[:64]
        row.closed_at = now
        row.message = f"paid {payment.paid_at:%H:%M} ({payment.brand} ••{payment.last4})"[:255]
        session.add(row)
        self._audit(
            session,
            "payment_approved",
            "links",
            row.reference,
            approved=Money(payment.amount_cents).to_api(),
            requested=Money(row.amount_cents).to_api(),
            brand=txn.brand,
            last4=txn.last4,
            tender=Tender.LINK.value,
            late=state not in LINK_OPEN_STATES,
        )
        return Applied(link_view(row), "paid", payment)

    def record_duplicate(
        self, link_id: int, payment: LinkPayment, *, refunded: bool, reason: str
    ) -> None:
        """A second payment through a link. Refunded at once: the audit chain says so. Not
        refunded: it is recorded as an approved deposit whose posting needs a person (Reconcile's
        "needs attention"), so the money is never silently kept or lost."""
        with self._ledger.session() as session:
            row = self._row(session, link_id)
            if refunded:
                self._audit(
                    session,
                    "link_duplicate_refunded",
                    "links",
                    row.reference,
                    payment_id=payment.payment_id,
                    amount=Money(payment.amount_cents).to_api(),
                )
                row.message = (
                    f"paid twice: the second payment ({Money(payment.amount_cents).format()}) "
                    "was refunded automatically"
                )[:255]
                session.add(row)
                return
            now = self._now()
            ref = make_ecr_ref(date.today(), secrets.randbits(47))
            txn = Transaction(
                ecr_ref=ref,
                kind=TxnKind.DEPOSIT.value,
                tender=Tender.LINK.value,
                state=TxnState.APPROVED.value,
                amount_cents=payment.amount_cents,
                approved_cents=payment.amount_cents,
                invoice_id=row.invoice_id,
                invoice_number=row.invoice_number,
                job_number=row.job_number,
                customer_id=row.customer_id,
                operator_id=row.operator_id,
                station=row.station,
                host_ref=payment.payment_id[:64],
                brand=payment.brand[:24],
                last4=payment.last4[-4:],
                entry_method="payment link",
                message=f"second payment through link {row.reference}"[:255],
                created_at=now,
                updated_at=now,
                sent_at=now,
                settled_at=now,
            )
            session.add(txn)
            session.flush()
            words = (
                f"Payment link {row.reference} was paid twice and the automatic refund of the "
                f"second payment ({Money(payment.amount_cents).format()}, {payment.payment_id}) "
                f"failed: {reason}. Refund it at the payment service, or post it if the customer "
                "keeps it as credit."
            )
            session.execute(
                insert(OutboxRow.__table__).values(
                    transaction_id=txn.id,
                    action=OutboxAction.POST_PAYMENT,
                    marker=outbox_marker(ref),
                    state=OutboxState.NEEDS_ATTENTION,
                    attempts=0,
                    next_attempt_at=None,
                    last_error=words[:1000],
                    created_at=now,
                    updated_at=now,
                )
            )
            row.message = "paid twice: the second payment needs a person (see Reconcile)"
            session.add(row)
            self._audit(
                session,
                "link_duplicate_needs_person",
                "links",
                row.reference,
                payment_id=payment.payment_id,
                duplicate_ref=ref,
                reason=reason[:200],
            )

    # -- cursor ---------------------------------------------------------------------------------

    def cursor(self) -> str | None:
        with self._ledger.session() as session:
            row = session.get(LinkCursor, self.provider)
            return row.cursor if row is not None and row.cursor else None

    def move_cursor(self, old: str | None, new: str) -> bool:
        """Compare-and-set: a station that read an older page does not move it backwards."""
        with self._ledger.session() as session:
            table = LinkCursor.__table__
            dialect = postgresql if self._ledger.backend == "postgresql" else sqlite
            session.execute(
                dialect.insert(table)
                .values(provider=self.provider, cursor="", updated_at=self._now())
                .on_conflict_do_nothing()
            )
            done = cast(
                CursorResult[Any],
                session.execute(
                    update(LinkCursor)
                    .where(
                        col(LinkCursor.provider) == self.provider,
                        col(LinkCursor.cursor) == (old or ""),
                    )
                    .values(cursor=new[:255], updated_at=self._now())
                ),
            )
            return done.rowcount == 1

    # -- queries --------------------------------------------------------------------------------

    def link(self, link_id: int) -> LinkView:
        with self._ledger.session() as session:
            return link_view(self._row(session, link_id, lock=False))

    def link_by_ref(self, reference: str) -> LinkView:
        with self._ledger.session() as session:
            row = session.execute(
                select(PaymentLink).where(col(PaymentLink.reference) == reference.strip().upper())
            ).scalar_one_or_none()
            if row is None:
                raise UnknownRecord(f"No payment link has the reference {reference}.", "Check it.")
            return link_view(row)

    def links_for_invoice(self, invoice_id: str) -> builtins.list[LinkView]:
        with self._ledger.session() as session:
            rows = session.execute(
                select(PaymentLink)
                .where(col(PaymentLink.invoice_id) == invoice_id)
                .order_by(col(PaymentLink.id).desc())
            ).scalars()
            return [link_view(r) for r in rows]

    def links_in(self, states: frozenset[LinkStatus]) -> builtins.list[LinkView]:
        with self._ledger.session() as session:
            rows = session.execute(
                select(PaymentLink)
                .where(
                    col(PaymentLink.provider) == self.provider,
                    col(PaymentLink.state).in_([s.value for s in states]),
                )
                .order_by(col(PaymentLink.id))
            ).scalars()
            return [link_view(r) for r in rows]

    def invoices_with_open_links(self) -> builtins.list[str]:
        with self._ledger.session() as session:
            rows = session.execute(
                select(col(PaymentLink.invoice_id))
                .where(col(PaymentLink.state).in_([s.value for s in LINK_OPEN_STATES]))
                .distinct()
            ).scalars()
            return [str(r) for r in rows]

    def refunds_to_settle(self) -> builtins.list[Transaction]:
        """Link refunds written or sent whose provider answer was not recorded (any station)."""
        with self._ledger.session() as session:
            rows = session.execute(
                select(Transaction).where(
                    col(Transaction.tender) == Tender.LINK.value,
                    col(Transaction.kind) == TxnKind.REFUND.value,
                    col(Transaction.station) == self._station,
                    col(Transaction.state).in_(
                        [TxnState.INTENT.value, TxnState.AT_TERMINAL.value, TxnState.UNKNOWN.value]
                    ),
                )
            ).scalars()
            out = list(rows)
            for r in out:
                session.expunge(r)
            return out
