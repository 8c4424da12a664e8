"""A payment link's row: its intent (under the invoice's lock, within what the invoice still
owes), and each guarded move between its states. The store's base (see :mod:`.store`)."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col

from gateways import LinkCreated, LinkPayment
from posplus_tui.domain.holds import check_reservation, holds_for
from posplus_tui.domain.invoice import InvoiceFacts
from posplus_tui.domain.links import (
    LINK_OPEN_STATES,
    IllegalLinkMove,
    LinkStatus,
    link_transition,
)
from posplus_tui.domain.links import (
    LinkEvent as LinkMove,
)
from posplus_tui.domain.money import Money
from posplus_tui.domain.refs import make_ecr_ref
from posplus_tui.domain.rules import RuleViolation
from posplus_tui.domain.transactions import (
    IN_FLIGHT_STATES,
    TxnEvent,
    TxnKind,
    TxnState,
    transition,
)
from posplus_tui.ledger.tables.links import PaymentLink
from posplus_tui.services.errors import InvalidRequest, InvoiceBusy, ServiceError, UnknownRecord
from posplus_tui.services.txn_store import TransactionView, TxnStore

__all__ = ["Applied", "LinkRows", "LinkView", "link_view"]


@dataclass(frozen=True)
class LinkView:
    """A link as the screens see it."""

    id: int
    reference: str
    state: LinkStatus
    kind: TxnKind
    amount: Money
    url: str
    provider: str
    provider_link_id: str
    invoice_id: str
    invoice_number: str
    customer_id: str
    channel: str
    recipient: str
    station: str
    payment_id: str
    transaction_id: int | None
    message: str
    created_at: datetime
    sent_at: datetime | None
    expires_at: datetime | None

    @property
    def is_open(self) -> bool:
        return self.state in LINK_OPEN_STATES


def link_view(row: PaymentLink) -> LinkView:
    assert row.id is not None
    return LinkView(
        id=row.id,
        reference=row.reference,
        state=LinkStatus(row.state),
        kind=TxnKind(row.kind),
        amount=Money(row.amount_cents),
        url=row.url,
        provider=row.provider,
        provider_link_id=row.provider_link_id,
        invoice_id=row.invoice_id,
        invoice_number=row.invoice_number,
        customer_id=row.customer_id,
        channel=row.channel,
        recipient=row.recipient,
        station=row.station,
        payment_id=row.payment_id,
        transaction_id=row.transaction_id,
        message=row.message,
        created_at=row.created_at,
        sent_at=row.sent_at,
        expires_at=row.expires_at,
    )


@dataclass(frozen=True)
class Applied:
    """What one provider event did (``None`` from :meth:`LinkStore.apply` when already handled)."""

    link: LinkView | None
    what: str  # paid | duplicate | declined | expired | deactivated | ignored
    payment: LinkPayment | None = None


class LinkRows(TxnStore):
    """Link rows on top of the payment engine's store (same invoice lock, holds, outbox)."""

    def __init__(self, *args: Any, provider: str, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.provider = provider

    # -- rows -----------------------------------------------------------------------------------

    @staticmethod
    def _row(session: Session, link_id: int, *, lock: bool = True) -> PaymentLink:
        if lock:
            session.execute(
                update(PaymentLink)
                .where(col(PaymentLink.id) == link_id)
                .values(version=col(PaymentLink.version) + 1)
            )
        row = session.get(PaymentLink, link_id, populate_existing=True)
        if row is None:
            raise UnknownRecord(f"No payment link #{link_id}.", "Pick a link from the list.")
        return row

    def _move(self, row: PaymentLink, event: LinkMove, message: str = "") -> LinkStatus:
        new = link_transition(LinkStatus(row.state), event)
        row.state = new.value
        row.updated_at = self._now()
        if message:
            row.message = message[:255]
        return new

    # -- intent ---------------------------------------------------------------------------------

    def write_link_intent(
        self,
        invoice: InvoiceFacts,
        amount: Money,
        *,
        operator_id: int,
        operator_name: str,
        expires_at: datetime | None,
    ) -> LinkView:
        """Commit the link's row before the provider is asked, under the invoice's lock: the
        amount must fit in what the invoice still owes after every hold (other links included)."""
        for _attempt in range(5):
            ref = make_ecr_ref(date.today(), secrets.randbits(47))
            try:
                with self._ledger.session() as session:
                    return self._write_link_intent(
                        session, invoice, amount, ref, operator_id, operator_name, expires_at
                    )
            except IntegrityError as exc:
                if "reference" not in str(exc).lower() and "unique" not in str(exc).lower():
                    raise
        raise ServiceError("Could not create a unique reference.", "Try again.")

    def _write_link_intent(
        self,
        session: Session,
        inv: InvoiceFacts,
        amount: Money,
        ref: str,
        operator_id: int,
        operator_name: str,
        expires_at: datetime | None,
    ) -> LinkView:
        now = self._now()
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
            check_reservation(holds, amount)
        except RuleViolation as exc:
            raise InvoiceBusy(exc.message, exc.fix) from None
        if amount > holds.available:
            raise InvalidRequest(
                f"A link can ask for at most what invoice {inv.number} still owes: "
                f"{holds.available.format()}, not {amount.format()}.",
                "Lower the amount (a deposit is fine).",
            )
        kind = TxnKind.SALE if amount == holds.available else TxnKind.DEPOSIT
        row = PaymentLink(
            reference=ref,
            provider=self.provider,
            state=LinkStatus.INTENT.value,
            kind=kind.value,
            amount_cents=amount.cents,
            invoice_id=inv.invoice_id,
            invoice_number=inv.number,
            job_number=inv.job_number,
            customer_id=inv.customer_id,
            operator_id=operator_id,
            station=self._station,
            expires_at=expires_at,
            created_at=now,
            updated_at=now,
        )
        session.add(row)
        session.flush()
        self._audit(
            session,
            "link_intent",
            operator_name,
            ref,
            kind=kind.value,
            amount=amount.to_api(),
            invoice=inv.number,
            provider=self.provider,
        )
        return link_view(row)

    def mark_created(self, link_id: int, created: LinkCreated, *, actor: str) -> LinkView:
        with self._ledger.session() as session:
            row = self._row(session, link_id)
            if LinkStatus(row.state) not in (LinkStatus.INTENT, LinkStatus.UNKNOWN):
                return link_view(row)  # settled elsewhere (another station's poller)
            self._move(row, LinkMove.CREATED, "")
            row.provider_link_id = created.link_id[:64]
            row.url = created.url[:512]
            session.add(row)
            self._audit(session, "link_created", actor, row.reference, link_id=created.link_id)
            return link_view(row)

    def mark_unknown(self, link_id: int, reason: str, *, actor: str) -> LinkView:
        with self._ledger.session() as session:
            row = self._row(session, link_id)
            if LinkStatus(row.state) in (LinkStatus.INTENT, LinkStatus.UNKNOWN):
                self._move(row, LinkMove.LOST, f"not known yet: {reason}")
                session.add(row)
                self._audit(session, "link_unknown", actor, row.reference, reason=reason[:200])
            return link_view(row)

    def mark_failed(self, link_id: int, reason: str, *, actor: str) -> LinkView:
        with self._ledger.session() as session:
            row = self._row(session, link_id)
            state = LinkStatus(row.state)
            event = LinkMove.REFUSED if state is LinkStatus.INTENT else LinkMove.NOT_FOUND
            if state in (LinkStatus.INTENT, LinkStatus.UNKNOWN):
                self._move(row, event, reason)
                row.closed_at = self._now()
                session.add(row)
                self._audit(session, "link_failed", actor, row.reference, reason=reason[:200])
            return link_view(row)

    def mark_link_sent(
        self, link_id: int, *, channel: str, recipient: str, message_id: str, actor: str
    ) -> LinkView:
        with self._ledger.session() as session:
            row = self._row(session, link_id)
            try:
                self._move(row, LinkMove.SENT)
            except IllegalLinkMove:
                raise InvalidRequest(
                    f"Link {row.reference} is {row.state}: it cannot be sent.",
                    "Create a new link if the customer still has to pay.",
                ) from None
            row.channel, row.recipient = channel, recipient[:254]
            row.message_id = message_id[:255]
            row.sent_at = self._now()
            session.add(row)
            self._audit(
                session, "link_sent", actor, row.reference, channel=channel, to=recipient[:254]
            )
            return link_view(row)

    def note(self, link_id: int, message: str) -> None:
        with self._ledger.session() as session:
            row = self._row(session, link_id)
            row.message = message[:255]
            session.add(row)

    def mark_closed(
        self, link_id: int, event: LinkMove, *, actor: str, reason: str = ""
    ) -> LinkView:
        """EXPIRED or DEACTIVATED after the provider confirmed it (a paid link stays paid)."""
        with self._ledger.session() as session:
            row = self._row(session, link_id)
            if LinkStatus(row.state) in LINK_OPEN_STATES:
                self._move(row, event, reason)
                row.closed_at = self._now()
                session.add(row)
                self._audit(session, f"link_{row.state}", actor, row.reference, reason=reason[:200])
            return link_view(row)

    def mark_refund_pending(self, txn_id: int, refund_id: str, *, actor: str) -> TransactionView:
        """The provider accepted a refund but has not returned the money: keep it in flight
        (UNKNOWN, its amount reserved, no outbox row) with the provider's refund id to read."""
        with self._ledger.session() as session:
            row = self._lock(session, txn_id)
            state = TxnState(row.state)
            if state in IN_FLIGHT_STATES:
                row.state = transition(state, TxnEvent.LOST).value
                row.host_ref = refund_id[:64]
                row.message = (
                    f"refund pending at the payment service ({refund_id}): "
                    "not returned until it confirms"
                )[:255]
                row.updated_at = self._now()
                session.add(row)
                self._audit(session, "refund_pending", actor, row.ecr_ref, refund_id=refund_id)
        return self.get_by_id(txn_id)

    def mark_refunded(self, link_id: int, *, full: bool) -> LinkView:
        with self._ledger.session() as session:
            row = self._row(session, link_id)
            self._move(row, LinkMove.FULL_REFUND if full else LinkMove.PARTIAL_REFUND)
            session.add(row)
            return link_view(row)
