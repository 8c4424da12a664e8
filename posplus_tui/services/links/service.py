"""Payment links as use cases: what the screens call, and the poller's rounds.

Money safety, as for the terminal: the link row is committed before the provider is asked; an
ambiguous create is settled by asking the provider for our reference, never by creating again;
the app learns "paid" only from the provider (events, or a direct read), never from a redirect;
a paid link becomes an approved transaction with its outbox row in one commit, so it reaches
ServiceTitan exactly once under the one payment type, like a terminal payment.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Coroutine, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol, TypeVar

from drivers import Approved, Declined, TerminalError, Unknown
from gateways import (
    EventKind,
    GatewayAuthError,
    GatewayError,
    GatewayNotFound,
    GatewayRefused,
    GatewayUnknown,
    LinkCreated,
    LinkEvent,
    LinkGateway,
    LinkState,
    RefundResult,
    RefundState,
)
from gateways import (
    LinkStatus as ProviderLink,
)
from gateways.messaging import (
    BadRecipient,
    MessageAuthError,
    MessageNotSent,
    MessageRefused,
    MessageUnknown,
    check_email,
    normalise_phone,
)
from gateways.messaging.qr import qr_text
from gateways.messaging.smtp import SmtpSender
from gateways.messaging.twilio import TwilioSms
from posplus_tui.domain.invoice import InvoiceFacts
from posplus_tui.domain.links import LINK_OPEN_STATES, LinkStatus
from posplus_tui.domain.links import LinkEvent as LinkMove
from posplus_tui.domain.money import Money
from posplus_tui.domain.roles import Action
from posplus_tui.domain.transactions import Tender, TxnKind, TxnState
from posplus_tui.ledger import Ledger
from posplus_tui.services.card_guard import refuse_card_data
from posplus_tui.services.errors import InvalidRequest, ServiceError, UnknownRecord
from posplus_tui.services.events import PaymentEvent, PaymentEventKind
from posplus_tui.services.links import words
from posplus_tui.services.links.store import Applied, LinkStore, LinkView
from posplus_tui.services.operators import Approval, OperatorInfo, OperatorService
from posplus_tui.services.txn_store import IntentSpec, TransactionView

__all__ = ["LinkService", "LinkSettings", "PollRound"]

log = logging.getLogger(__name__)
T = TypeVar("T")
CHANNELS = ("email", "sms", "qr")
InvoiceReader = Callable[[str], Awaitable[InvoiceFacts]]
_SETTLED_KINDS = frozenset(
    {PaymentEventKind.APPROVED, PaymentEventKind.PARTIAL, PaymentEventKind.RECOVERED}
)


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


class LinkService:
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

    # -- checks before anything is created --------------------------------------------------------

    def check_recipient(self, channel: str, to: str) -> str:
        """The address or E.164 number to send to; a sentence (``InvalidRequest``) when it is not."""
        if channel not in CHANNELS:
            raise InvalidRequest(
                f"{channel!r} is not a way to send a link.", "Pick e-mail, text or QR."
            )
        if channel == "qr":
            return ""
        if channel not in self.channels:
            raise InvalidRequest(
                f"Sending links by {'e-mail' if channel == 'email' else 'text'} is not set up.",
                "Show the QR code instead, or set it up in Setup.",
            )
        try:
            return (check_email(to) if channel == "email" else normalise_phone(to)).value
        except BadRecipient as exc:
            raise InvalidRequest(
                exc.sentence, "Check it with the customer and type it again."
            ) from None

    @staticmethod
    def qr(link: LinkView) -> str:
        return qr_text(link.url)

    # -- create and send --------------------------------------------------------------------------

    async def create(
        self,
        invoice: InvoiceFacts,
        amount: Money | None = None,
        *,
        operator: OperatorInfo,
        channel: str = "qr",
        to: str = "",
    ) -> LinkView:
        """Check the recipient, commit the link's row, ask the provider, then send it. A link whose
        create is not known stays UNKNOWN (the poller settles it by our reference)."""
        recipient = self.check_recipient(channel, to)
        await self._db(self._operators.authorize_sync, operator, Action.CHARGE, None)
        if amount is None:
            amount = (await self._db(self._store.invoice_holds, invoice)).available
        if not isinstance(amount, Money) or amount.cents <= 0:
            raise InvalidRequest(
                f"Invoice {invoice.number} has nothing left to pay by link.",
                "Check the invoice; an open link or a payment in progress may already cover it.",
            )
        expires = self._clock() + self.settings.expires_after
        link = await self._db(
            self._store.write_link_intent,
            invoice,
            amount,
            operator_id=operator.id,
            operator_name=operator.name,
            expires_at=expires,
        )
        self._changed()
        try:
            created = await self._gateway.create_link(
                amount_cents=amount.cents,
                reference=link.reference,
                description=f"Invoice {invoice.number}",
                metadata={
                    "posplus_ref": link.reference,
                    "invoice_id": invoice.invoice_id,
                    "invoice_number": invoice.number,
                },
                idempotency_key=f"posplus-link-{link.reference}",
                expires_at=expires,
            )
        except GatewayUnknown as exc:
            link = await self._db(self._store.mark_unknown, link.id, str(exc), actor=operator.name)
            self._changed()
            raise ServiceError(
                f"The payment service did not answer clearly about link {link.reference}.",
                "Do not make another link yet: it is being checked and will show here in a moment.",
            ) from None
        except (GatewayRefused, GatewayAuthError, GatewayNotFound, GatewayError) as exc:
            await self._db(self._store.mark_failed, link.id, str(exc), actor=operator.name)
            self._changed()
            raise ServiceError(
                f"The payment service refused the link: {exc}", "Nothing was created."
            ) from None
        link = await self._db(self._store.mark_created, link.id, created, actor=operator.name)
        self._changed()
        return await self.send(link.id, channel, recipient, operator=operator)

    async def send(
        self, link_id: int, channel: str, to: str, *, operator: OperatorInfo
    ) -> LinkView:
        """E-mail it, text it, or record it shown as a QR code (sending again is allowed)."""
        recipient = self.check_recipient(channel, to)
        link = await self._db(self._store.link, link_id)
        if link.state not in LINK_OPEN_STATES:
            raise InvalidRequest(
                f"Link {link.reference} is {link.state.value}: it cannot be sent.",
                "Create a new link if the customer still has to pay.",
            )
        message_id = ""
        try:
            if channel == "email":
                assert self._email is not None
                sent = await self._email.send(
                    recipient,
                    words.email_subject(self.settings.company, link.invoice_number, link.amount),
                    words.email_body(
                        self.settings.company, link.invoice_number, link.amount, link.url
                    ),
                )
                message_id = sent.provider_id
            elif channel == "sms":
                assert self._sms is not None
                sent = await self._sms.send(
                    recipient,
                    words.sms_body(
                        self.settings.company, link.invoice_number, link.amount, link.url
                    ),
                )
                message_id = sent.provider_id
        except (MessageRefused, MessageNotSent, MessageAuthError) as exc:
            await self._db(self._store.note, link.id, f"not sent by {channel}: {exc}")
            self._changed()
            raise InvalidRequest(
                f"Link {link.reference} was created but not sent: {exc}",
                "Send it another way (e-mail, text or QR), or fix the address and send again.",
            ) from None
        except MessageUnknown as exc:
            await self._db(self._store.note, link.id, f"{channel}: {exc}")
            self._changed()
            raise InvalidRequest(
                f"It is not known whether link {link.reference} reached the customer: {exc}",
                "Ask the customer; send it again if it did not arrive (the link can be paid once).",
            ) from None
        link = await self._db(
            self._store.mark_link_sent,
            link.id,
            channel=channel,
            recipient=recipient,
            message_id=message_id,
            actor=operator.name,
        )
        self._changed()
        return link

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

    # -- supervisor actions -----------------------------------------------------------------------

    async def deactivate(
        self, link_id: int, *, operator: OperatorInfo, approval: Approval | None = None
    ) -> LinkView:
        """Switch the link off at the provider (a supervisor's, bound to this link and amount).
        If the customer paid first, the payment is recorded and the clerk is told."""
        link = await self.link(link_id)
        await self._db(
            self._operators.authorize_sync,
            operator,
            Action.VOID,
            approval,
            target=link.reference,
            amount=link.amount,
        )
        if link.state not in LINK_OPEN_STATES:
            raise InvalidRequest(
                f"Link {link.reference} is {link.state.value}: there is nothing to deactivate.",
                "Refund it instead if it was paid.",
            )
        return await self._deactivate(link, actor=operator.name)

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

    async def refund(
        self,
        link_id: int,
        amount: Money | None = None,
        *,
        operator: OperatorInfo,
        approval: Approval | None = None,
        reason: str = "",
    ) -> LinkView:
        """Refund all that is left or part of a link's payment, through the provider, with the
        same intent-first refund transaction as a terminal refund (its own outbox row)."""
        refuse_card_data(reason, "reason")
        link = await self.link(link_id)
        if link.transaction_id is None or not link.payment_id:
            raise InvalidRequest(
                f"Link {link.reference} has not been paid.", "Deactivate it instead."
            )
        left = await self._db(self._store.refundable, link.reference)
        amount = left if amount is None else amount
        if amount.cents <= 0:
            raise InvalidRequest(
                f"Nothing is left to refund on {link.reference}.", "Check its history."
            )
        supervisor = await self._db(
            self._operators.authorize_sync,
            operator,
            Action.REFUND,
            approval,
            target=link.reference,
            amount=amount,
        )
        spec = IntentSpec(
            kind=TxnKind.REFUND,
            tender=Tender.LINK,
            amount=amount,
            operator_id=operator.id,
            operator_name=operator.name,
            supervisor_id=supervisor.id if supervisor else None,
            parent_ref=link.reference,
            reason=reason,
        )
        intent = await self._db(self._store.write_intent, spec)
        await self._db(self._store.mark_sent, intent.id)
        view = await self._refund_at_provider(
            link, intent.ecr_ref, intent.id, amount, operator.name
        )
        self._changed()
        if view.state is TxnState.UNKNOWN and view.host_ref:
            raise ServiceError(
                f"The payment service has refund {view.ecr_ref} ({amount.format()}) pending: "
                "it is not returned to the customer yet.",
                "It shows as refunded only once the payment service confirms it (checked "
                "in the background); nothing else to do now.",
            )
        if view.state is TxnState.UNKNOWN:
            raise ServiceError(
                f"The payment service did not confirm refund {view.ecr_ref}.",
                "It is checked again in the background (never sent twice); see the link's state.",
            )
        if not view.is_approved:
            raise ServiceError(f"The refund was refused: {view.message}", "Nothing was refunded.")
        return await self.link(link_id)

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

    # -- the poller -------------------------------------------------------------------------------

    async def poll_once(self) -> PollRound:
        """One round: settle unknown creates and refunds, read the events after the stored cursor,
        expire links whose time is up, and read open links directly now and then."""
        done = PollRound()
        await self._settle_unknown_links(done)
        await self._settle_refunds(done)
        await self._read_events(done)
        await self._expire_due(done)
        now = asyncio.get_running_loop().time()
        if now - self._last_read >= self.settings.read_every:
            self._last_read = now
            await self._read_open_links(done)
        if done.events or done.paid or done.closed or done.settled or done.duplicates:
            self._changed()
        return done

    async def run(self) -> None:
        """The poller's loop (supervised by the container; one per station, any number of
        stations: each event is claimed once in the ledger)."""
        self._stop.clear()
        while not self._stop.is_set():
            await self.poll_once()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), self.settings.poll_interval)

    def stop(self) -> None:
        self._stop.set()

    async def _read_events(self, done: PollRound) -> None:
        for _page in range(50):  # bounded; the next round goes on
            cursor = await self._db(self._store.cursor)
            page = await self._gateway.changes_since(cursor)
            for event in page.events:
                await self._handle(event, done)
            if page.cursor:
                await self._db(self._store.move_cursor, cursor, page.cursor)
            if not page.has_more:
                return

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

    async def _read_open_links(self, done: PollRound) -> None:
        for link in await self._db(self._store.links_in, LINK_OPEN_STATES):
            try:
                status = await self._gateway.read_link(link.provider_link_id)
            except GatewayError as exc:
                done.problems.append(f"{link.reference}: {exc}")
                continue
            await self._record_read(status, done)
            if not status.payments and status.state in (LinkState.EXPIRED, LinkState.DEACTIVATED):
                move = (
                    LinkMove.EXPIRED if status.state is LinkState.EXPIRED else LinkMove.DEACTIVATED
                )
                await self._db(self._store.mark_closed, link.id, move, actor="links")
                done.closed.append(link.reference)

    async def _expire_due(self, done: PollRound) -> None:
        now = self._clock()
        for link in await self._db(self._store.links_in, LINK_OPEN_STATES):
            if link.expires_at is not None and link.expires_at <= now:
                try:
                    await self._deactivate(link, actor="links", expire=True)
                    done.closed.append(link.reference)
                except ServiceError as exc:
                    done.problems.append(f"{link.reference}: {exc.message}")

    async def _settle_unknown_links(self, done: PollRound) -> None:
        cutoff = self._clock() - self.settings.abandoned_after
        for link in await self._db(
            self._store.links_in, frozenset({LinkStatus.UNKNOWN, LinkStatus.INTENT})
        ):
            if link.state is LinkStatus.INTENT and link.created_at > cutoff:
                continue  # its station is creating it right now
            try:
                found = await self._gateway.find_by_reference(link.reference)
            except GatewayError as exc:
                done.problems.append(f"{link.reference}: {exc}")
                continue
            if found is None:
                await self._db(
                    self._store.mark_failed,
                    link.id,
                    "the payment service has no link with this reference: nothing to pay",
                    actor="links",
                )
            else:
                created = LinkCreated(found.link_id, found.url, found.amount_cents, link.reference)
                await self._db(self._store.mark_created, link.id, created, actor="links")
                await self._record_read(found)
            done.settled.append(link.reference)

    async def _settle_refunds(self, done: PollRound) -> None:
        """A link refund whose answer was lost is asked again with the same idempotency key: the
        provider replays its first answer, so it is never refunded twice."""
        for row in await self._db(self._store.refunds_to_settle):
            assert row.id is not None and row.parent_id is not None
            if TxnState(row.state) is TxnState.INTENT:
                if row.created_at > self._clock() - self.settings.abandoned_after:
                    continue
                await self._db(self._store.discard, row.id, reason="never sent to the provider")
                continue
            parent = await self._db(self._store.get_by_id, row.parent_id)
            link = await self._db(self._store.link_by_ref, parent.ecr_ref)
            if TxnState(row.state) is TxnState.UNKNOWN and row.host_ref:
                # Pending at the provider: read it, never ask for it again.
                try:
                    result = await self._gateway.read_refund(row.host_ref)
                except GatewayError as exc:
                    done.problems.append(f"{row.ecr_ref}: {exc}")
                    continue
                if result.state in (RefundState.PENDING, RefundState.UNKNOWN):
                    continue
                await self._record_refund(link, row.ecr_ref, row.id, "links", result)
            else:
                await self._refund_at_provider(
                    link, row.ecr_ref, row.id, Money(row.amount_cents), "links"
                )
            done.settled.append(row.ecr_ref)

    # -- the invoice paid another way -------------------------------------------------------------

    def follow_invoices(self, reader: InvoiceReader) -> None:
        """How to read an invoice fresh from ServiceTitan (the lookup): needed to notice it was
        paid another way."""
        self._invoice_reader = reader

    def watch_payments(self, payments: PaymentFeed) -> Callable[[], None]:
        """After a terminal payment is approved on an invoice with open links, check that the
        invoice still owes what they ask for (deactivate those it no longer does)."""

        def on_event(event: PaymentEvent) -> None:
            if event.kind in _SETTLED_KINDS and event.ecr_ref:
                self._spawn(self._after_payment(event.ecr_ref))

        return payments.subscribe(on_event)

    def invoices_seen(self, invoice_ids: Iterable[str]) -> None:
        """ServiceTitan's sync read these invoices (changed since its last pass): check those
        with open links (a payment taken in the office lowers the balance too)."""
        self._spawn(self._sync_ids(list(invoice_ids)))

    def _spawn(self, work: Coroutine[Any, Any, object]) -> None:
        try:
            task = asyncio.get_running_loop().create_task(work)
        except RuntimeError:  # no loop (a sync caller): the poller's reads catch up
            work.close()
            return
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def idle(self) -> None:
        """Wait for the checks started by :meth:`watch_payments` / :meth:`invoices_seen`."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def _after_payment(self, ecr_ref: str) -> None:
        try:
            txn = await self._db(self._store.get, ecr_ref)
        except ServiceError:
            return
        if txn.tender is not Tender.LINK and txn.is_approved:
            await self._sync_ids([txn.invoice_id])

    async def _sync_ids(self, invoice_ids: list[str]) -> None:
        if not invoice_ids:
            return
        with_links = set(await self._db(self._store.invoices_with_open_links))
        for invoice_id in invoice_ids:
            if str(invoice_id) not in with_links:
                continue
            try:
                await self.sync_invoice_id(str(invoice_id))
            except Exception:  # a background check: logged, tried again at the next read
                log.exception("checking the links of invoice %s failed", invoice_id)

    async def sync_invoice_id(self, invoice_id: str) -> list[LinkView]:
        """Read the invoice fresh and deactivate the open links it no longer owes. An invoice
        ServiceTitan no longer has (deleted, merged) owes nothing."""
        open_links = [x for x in await self.links_for_invoice(invoice_id) if x.is_open]
        if not open_links or self._invoice_reader is None:
            return []
        try:
            invoice = await self._invoice_reader(invoice_id)
        except UnknownRecord:
            first = open_links[0]
            invoice = InvoiceFacts(invoice_id, first.invoice_number, first.customer_id, Money(0))
        return await self.sync_invoice(invoice)

    async def sync_invoice(self, invoice: InvoiceFacts) -> list[LinkView]:
        """When ServiceTitan's balance no longer covers the open links (paid another way),
        deactivate them, newest first, until it does. Returns the links switched off."""
        holds = await self._db(self._store.invoice_holds, invoice)
        in_links = sum(x.amount.cents for x in holds.links)
        room = holds.balance.cents - (holds.held.cents - in_links)
        open_links = [x for x in await self.links_for_invoice(invoice.invoice_id) if x.is_open]
        total = sum(x.amount.cents for x in open_links)
        off: list[LinkView] = []
        for link in open_links:  # newest first
            if total <= max(room, 0):
                break
            try:
                off.append(await self._deactivate(link, actor="links"))
                total -= link.amount.cents
            except InvalidRequest as exc:  # the customer paid it first: recorded, not switched off
                log.warning(
                    "link %s was paid before it could be deactivated: %s",
                    link.reference,
                    exc.message,
                )
                total -= link.amount.cents
            except ServiceError as exc:
                log.warning("could not deactivate %s: %s", link.reference, exc.message)
        if off:
            await self._db(
                self._store.audit,
                "links_deactivated_paid_elsewhere",
                "links",
                invoice.number,
                links=",".join(x.reference for x in off),
                balance=invoice.balance.to_api(),
            )
            self._changed()
        return off

    async def aclose(self) -> None:
        self.stop()
        for task in list(self._tasks):
            task.cancel()
        for closer in (self._gateway, self._sms):
            if closer is not None:
                await closer.aclose()
