"""What every part of the payment-link service shares: the ledger store, the gateway, the
listeners, and recording what the provider reports (a payment, a refund's answer, a switch-off).

Split from :mod:`.service` (the clerk's and supervisor's use cases), :mod:`.poller` (the rounds)
and :mod:`.invoice_watch` (links of an invoice paid another way).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Protocol, TypeVar

from drivers import Approved, Declined, TerminalError, Unknown
from gateways import (
    EventKind,
    GatewayError,
    GatewayUnknown,
    LinkEvent,
    LinkGateway,
    RefundResult,
    RefundState,
)
from gateways import (
    LinkStatus as ProviderLink,
)
from gateways.messaging.smtp import SmtpSender
from gateways.messaging.twilio import TwilioSms
from posplus_tui.domain.invoice import InvoiceFacts
from posplus_tui.domain.links import LinkEvent as LinkMove
from posplus_tui.domain.links import LinkStatus
from posplus_tui.domain.money import Money
from posplus_tui.domain.transactions import TxnState
from posplus_tui.ledger import Ledger
from posplus_tui.services.errors import InvalidRequest, ServiceError
from posplus_tui.services.events import PaymentEvent
from posplus_tui.services.links.store import Applied, LinkStore, LinkView
from posplus_tui.services.operators import OperatorService
from posplus_tui.services.txn_store import TransactionView

__all__ = ["CHANNELS", "InvoiceReader", "LinkCore", "LinkSettings", "PaymentFeed", "PollRound"]


log = logging.getLogger(__name__)
T = TypeVar("T")
CHANNELS = ("email", "sms", "qr")
InvoiceReader = Callable[[str], Awaitable[InvoiceFacts]]


class PaymentFeed(Protocol):
    """The payment engine's events (what :meth:`LinkService.watch_payments` listens to)."""

    def subscribe(self, listener: Callable[[PaymentEvent], None]) -> Callable[[], None]: ...


@dataclass(frozen=True)
class LinkSettings:
    #: How often the poller reads the provider's events (the benchmark measures with this).
    poll_interval: float = 2.0
    #: A link stops taking payments this long after it is created.
    expires_after: timedelta = timedelta(days=7)
    #: Every open link is also read directly this often (events may be late or the cursor lost).
    read_every: float = 30.0
    #: An intent older than this was abandoned by a stopped process: settle it by reference.
    abandoned_after: timedelta = timedelta(seconds=60)
    company: str = "POS+ demo company"


@dataclass
class PollRound:
    """What one round of the poller did (for tests, the log and the status bar)."""

    events: int = 0
    paid: list[str] = field(default_factory=list)
    closed: list[str] = field(default_factory=list)
    settled: list[str] = field(default_factory=list)
    duplicates: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


class LinkCore:
    """One provider account seen from one station; the parts of the service build on it."""

    def __init__(
        self,
        ledger: Ledger,
        gateway: LinkGateway,
        operators: OperatorService,
        *,
        station: str,
        email: SmtpSender | None = None,
        sms: TwilioSms | None = None,
        settings: LinkSettings | None = None,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self._gateway = gateway
        self._operators = operators
        self._clock = clock or (lambda: datetime.now(UTC))
        self._store = LinkStore(
            ledger, station=station, clock=self._clock, provider=gateway.provider
        )
        self._email = email
        self._sms = sms
        self.settings = settings or LinkSettings()
        self._listeners: list[Callable[[], object]] = []
        self._last_read = -1e9
        self._stop = asyncio.Event()
        self._invoice_reader: InvoiceReader | None = None
        self._tasks: set[asyncio.Task[object]] = set()

    @property
    def store(self) -> LinkStore:
        return self._store

    @property
    def gateway(self) -> LinkGateway:
        return self._gateway

    @property
    def channels(self) -> tuple[str, ...]:
        """The ways a link can reach the customer here (QR always; e-mail/SMS when set up)."""
        return tuple(
            c
            for c in CHANNELS
            if c == "qr" or (c == "email" and self._email) or (c == "sms" and self._sms)
        )

    def subscribe(self, listener: Callable[[], object]) -> Callable[[], None]:
        """Called after anything about a link changed (the screens refresh their list)."""
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener) if listener in self._listeners else None

    def _changed(self) -> None:
        for listener in list(self._listeners):
            try:
                listener()
            except Exception:  # a screen's refresh must not stop the poller
                log.exception("link listener failed")

    async def _db(self, fn: Callable[..., T], *args: object, **kwargs: object) -> T:
        return await asyncio.to_thread(fn, *args, **kwargs)

    # -- queries ----------------------------------------------------------------------------------

    async def links_for_invoice(self, invoice_id: str) -> list[LinkView]:
        return await self._db(self._store.links_for_invoice, invoice_id)

    async def link(self, link_id: int) -> LinkView:
        return await self._db(self._store.link, link_id)

    async def refundable(self, link_id: int) -> Money:
        link = await self.link(link_id)
        if link.transaction_id is None:
            return Money(0)
        return await self._db(self._store.refundable, link.reference)

    # -- recording what the provider reports ------------------------------------------------------

    async def _deactivate(self, link: LinkView, *, actor: str, expire: bool = False) -> LinkView:
        try:
            if expire:
                status = await self._gateway.expire(link.provider_link_id)
            else:
                status = await self._gateway.deactivate(link.provider_link_id)
        except GatewayUnknown as exc:
            raise ServiceError(
                f"The payment service did not confirm that link {link.reference} is off ({exc}).",
                "It still counts as open: try again in a moment.",
            ) from None
        except GatewayError as exc:
            raise ServiceError(
                f"The payment service refused: {exc}", "Try again, or call support."
            ) from None
        if status.payments:
            await self._record_read(status)
            link = await self.link(link.id)
            if link.state is LinkStatus.PAID:
                raise InvalidRequest(
                    f"The customer had already paid link {link.reference}; it was not deactivated.",
                    "The payment is recorded and goes to ServiceTitan; refund it if needed.",
                )
        move = LinkMove.EXPIRED if expire else LinkMove.DEACTIVATED
        link = await self._db(self._store.mark_closed, link.id, move, actor=actor)
        self._changed()
        return link

    async def _refund_at_provider(
        self, link: LinkView, ref: str, txn_id: int, amount: Money, actor: str
    ) -> TransactionView:
        try:
            result = await self._gateway.refund(
                link.payment_id, amount_cents=amount.cents, idempotency_key=f"posplus-refund-{ref}"
            )
        except GatewayUnknown as exc:
            return await self._record_refund(link, ref, txn_id, actor, Unknown(ref, str(exc)))
        except GatewayError as exc:
            code = getattr(exc, "code", "refused")[:16]
            return await self._record_refund(
                link, ref, txn_id, actor, TerminalError(ref, code, str(exc))
            )
        return await self._record_refund(link, ref, txn_id, actor, result)

    async def _record_refund(
        self,
        link: LinkView,
        ref: str,
        txn_id: int,
        actor: str,
        answer: RefundResult | Unknown | TerminalError,
    ) -> TransactionView:
        """Only a refund the provider says SUCCEEDED is money given back. PENDING keeps the refund
        in flight with its id (read again each poll until it succeeds or fails); it reserves its
        amount so it cannot be refunded twice, and is never posted to ServiceTitan before then."""
        outcome: object = answer
        if isinstance(answer, RefundResult):
            if answer.state is RefundState.SUCCEEDED:
                outcome = Approved(
                    ref, answer.amount_cents, answer.amount_cents, "", answer.refund_id, ""
                )
            elif answer.state is RefundState.FAILED:
                outcome = Declined(
                    ref, "failed", answer.failure_reason or "refused by the provider"
                )
            elif answer.state is RefundState.PENDING and answer.refund_id:
                return await self._db(
                    self._store.mark_refund_pending, txn_id, answer.refund_id, actor=actor
                )
            else:
                outcome = Unknown(ref, "the provider did not say whether the refund went through")
        view = await self._db(self._store.settle, txn_id, outcome, actor=actor)
        if view.is_approved:
            parent = await self._db(self._store.get, link.reference)
            await self._db(
                self._store.mark_refunded, link.id, full=parent.state is TxnState.REFUNDED
            )
        return view

    async def _handle(self, event: LinkEvent, done: PollRound) -> None:
        applied = await self._db(self._store.apply, event)
        if applied is None:
            return
        done.events += 1
        self._account(applied, done)
        if applied.what == "duplicate":
            await self._refund_duplicate(applied, done)

    @staticmethod
    def _account(applied: Applied, done: PollRound) -> None:
        ref = applied.link.reference if applied.link else ""
        if applied.what == "paid":
            done.paid.append(ref)
        elif applied.what in ("expired", "deactivated"):
            done.closed.append(ref)

    async def _refund_duplicate(self, applied: Applied, done: PollRound) -> None:
        """A link paid twice: give the second payment back at once; if that fails, a person."""
        link, payment = applied.link, applied.payment
        assert link is not None and payment is not None
        done.duplicates.append(link.reference)
        try:
            result = await self._gateway.refund(
                payment.payment_id,
                amount_cents=None,
                idempotency_key=f"posplus-dup-{payment.payment_id}"[:255],
            )
            # Pending may still fail: only a confirmed refund counts; the rest goes to a person.
            ok = result.state is RefundState.SUCCEEDED
            why = result.failure_reason or (
                f"the refund ({result.refund_id}) is {result.state.value} at the payment service"
            )
        except GatewayError as exc:
            ok, why = False, str(exc)
        await self._db(self._store.record_duplicate, link.id, payment, refunded=ok, reason=why)

    async def _record_read(self, status: ProviderLink, done: PollRound | None = None) -> None:
        """A direct read as events: the payments (and the closing) it shows, claimed like events."""
        done = done if done is not None else PollRound()
        for payment in status.payments:
            event = LinkEvent(
                f"read:{payment.payment_id}",
                EventKind.LINK_PAID,
                status.link_id,
                payment,
                payment.paid_at,
                status.reference,
            )
            await self._handle(event, done)
