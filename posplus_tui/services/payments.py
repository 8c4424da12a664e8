"""The payment engine: charge, deposit, card on file, keyed card, keyed ACH, refund, void, batch
close, cancel and recovery — intent first, never resending, on SQLite or PostgreSQL.

For every money request: validate (a rejection is a ``ServiceError`` and changes nothing) → commit
the INTENT row → commit it as AT_TERMINAL → ask the terminal → commit the outcome (an approval with
its outbox row in the same database transaction). A time-out, a lost line or a crash leaves the row
UNKNOWN; it is settled only by asking the terminal for the status of its reference (right away
once, then by :meth:`PaymentService.recover` at every start), never by sending it again.

The engine does not talk to ServiceTitan: callers hand it the invoice facts (:class:`InvoiceFacts`)
and the reconcile worker drains the outbox. Database work runs off the event loop.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

from drivers import (
    AchAccount,
    BatchClosed,
    Terminal,
    TerminalError,
    TerminalState,
    Unknown,
)
from drivers.base import StatusResult, TransactionResult
from posplus_tui.domain.bank import check_account_number, check_routing_number
from posplus_tui.domain.holds import check_reservation
from posplus_tui.domain.invoice import InvoiceFacts
from posplus_tui.domain.money import Money
from posplus_tui.domain.roles import Action
from posplus_tui.domain.rules import RuleViolation, check_charge_amount
from posplus_tui.domain.transactions import Tender, TxnKind, TxnState
from posplus_tui.ledger import Ledger
from posplus_tui.services.card_guard import refuse_card_data
from posplus_tui.services.errors import (
    InvalidRequest,
    InvoiceBusy,
    ServiceError,
    TerminalBusy,
    TerminalUnavailable,
    UnknownRecord,
    VoidNotAllowed,
)
from posplus_tui.services.events import EventHub, PaymentEvent, PaymentEventKind, PaymentListener
from posplus_tui.services.operators import Approval, OperatorInfo, OperatorService
from posplus_tui.services.txn_store import CardView, IntentSpec, TransactionView, TxnStore

__all__ = [
    "BatchSummary",
    "CardView",
    "InvoiceFacts",
    "PaymentResult",
    "PaymentService",
    "RecoveryOutcome",
    "TransactionView",
]

log = logging.getLogger(__name__)
T = TypeVar("T")

#: A test seam for the kill tests: called with the name of each state boundary as it is crossed.
Checkpoint = Callable[[str], None]

_EVENT_FOR_STATE = {
    TxnState.APPROVED: PaymentEventKind.APPROVED,
    TxnState.DECLINED: PaymentEventKind.DECLINED,
    TxnState.CANCELLED: PaymentEventKind.CANCELLED,
    TxnState.FAILED: PaymentEventKind.FAILED,
    TxnState.UNKNOWN: PaymentEventKind.UNKNOWN,
    TxnState.NOT_FOUND: PaymentEventKind.FAILED,
}


@dataclass(frozen=True)
class PaymentResult:
    """What happened to one request, in words the clerk can read."""

    transaction: TransactionView
    message: str

    @property
    def ecr_ref(self) -> str:
        return self.transaction.ecr_ref

    @property
    def state(self) -> TxnState:
        return self.transaction.state

    @property
    def approved(self) -> bool:
        return self.transaction.is_approved

    @property
    def approved_amount(self) -> Money:
        return self.transaction.approved if self.approved else Money(0)

    @property
    def is_partial(self) -> bool:
        return self.approved and self.transaction.approved < self.transaction.amount

    @property
    def still_due(self) -> Money:
        """For a partial approval: what the customer still owes of what was asked."""
        return (
            self.transaction.amount - self.approved_amount
            if self.approved
            else self.transaction.amount
        )


@dataclass(frozen=True)
class BatchSummary:
    batch_number: str
    count: int
    total: Money
    ledger_rows: int
    #: False when the terminal closed the batch but its totals could not be read.
    totals_known: bool = True

    def describe(self) -> str:
        """ "Batch 12 closed: 1 transaction, $10.00." in words a clerk reads aloud."""
        if not self.totals_known:
            return (
                f"Batch {self.batch_number} closed. The terminal's totals could not be read: "
                "print the batch report on the terminal to see them."
            )
        noun = "transaction" if self.count == 1 else "transactions"
        return f"Batch {self.batch_number} closed: {self.count} {noun}, {self.total.format()}."


@dataclass(frozen=True)
class RecoveryOutcome:
    ecr_ref: str
    before: TxnState
    after: TxnState
    message: str


def _describe(view: TransactionView) -> str:
    state = view.state
    what = (
        "Refund"
        if view.kind is TxnKind.REFUND
        else "Void"
        if view.kind is TxnKind.VOID
        else "Payment"
    )
    card = f" on {view.brand} •••• {view.last4}" if view.last4 else ""
    if view.is_approved:
        if view.approved < view.amount and view.kind.is_charge:
            due = view.amount - view.approved
            return (
                f"Partially approved: {view.approved.format()} of {view.amount.format()}{card}. "
                f"{due.format()} is still due: take another payment for it."
            )
        return f"{what} approved: {view.approved.format()}{card}, auth {view.auth_code}."
    if state is TxnState.DECLINED:
        return f"{what} declined by the card issuer ({view.message.removeprefix('declined: ')}). Ask for another card."
    if state is TxnState.CANCELLED:
        why = view.message.strip()
        said = f" ({why})" if why and "cancel" not in why.lower() else ""
        return f"{what} cancelled at the terminal{said}. Nothing was charged."
    if state is TxnState.NOT_FOUND:
        return f"{what} never reached the card network; nothing was charged. You can try again."
    if state is TxnState.FAILED:
        return f"{what} not taken: {view.message}. Nothing was charged."
    if state is TxnState.UNKNOWN:
        return (
            f"The terminal did not confirm {view.ecr_ref}. Do NOT run the card again: the app will "
            "ask the terminal what happened (Recover), and the result will show here."
        )
    return f"{what} {state.value.replace('_', ' ')}."


class PaymentService:
    """One station's payment engine: one terminal, one ledger (shared with other stations)."""

    def __init__(
        self,
        ledger: Ledger,
        terminal: Terminal,
        operators: OperatorService,
        *,
        station: str,
        clock: Callable[[], datetime] | None = None,
        checkpoint: Checkpoint | None = None,
        settle_unknown_now: bool = True,
    ) -> None:
        self._ledger = ledger
        self._terminal = terminal
        self._operators = operators
        self._station = station
        self._store = TxnStore(ledger, station=station, clock=clock)
        self._hub = EventHub()
        self._busy = asyncio.Lock()
        self._current_ref: str | None = None
        self._checking = False  # a connection check holds the terminal (see check_terminal)
        self._recovering = False  # recovery holds the terminal (see recover)
        self._checkpoint = checkpoint or (lambda _name: None)
        self._settle_unknown_now = settle_unknown_now

    # -- events ---------------------------------------------------------------------------------

    def subscribe(self, listener: PaymentListener) -> Callable[[], None]:
        """Call ``listener`` with every :class:`PaymentEvent`; returns an unsubscribe function."""
        return self._hub.subscribe(listener)

    def events(self) -> AsyncIterator[PaymentEvent]:
        """An async iterator over every event from now on."""
        return self._hub.stream()

    @property
    def station(self) -> str:
        return self._station

    @property
    def store(self) -> TxnStore:
        return self._store

    @property
    def idle(self) -> bool:
        """No payment, check or recovery holds the terminal right now."""
        return not self._busy.locked()

    # -- helpers --------------------------------------------------------------------------------

    async def _db(self, fn: Callable[..., T], *args: object, **kwargs: object) -> T:
        return await asyncio.to_thread(fn, *args, **kwargs)

    def _authorize(
        self,
        operator: OperatorInfo,
        action: Action,
        approval: Approval | None,
        target: str = "",
        amount: Money | None = None,
    ) -> OperatorInfo | None:
        """The role from the ledger; an approval only for this action, target and amount."""
        return self._operators.authorize_sync(
            operator, action, approval, target=target, amount=amount
        )

    @staticmethod
    def _not_a_link(original: TransactionView) -> None:
        """A payment-link payment is given back through its provider, never the terminal."""
        if original.tender is Tender.LINK:
            raise InvalidRequest(
                f"{original.ecr_ref} was paid through a payment link, not at the terminal.",
                "Open the invoice's payment links (l) to refund it.",
            )

    @staticmethod
    def _check_invoice(invoice: InvoiceFacts) -> None:
        if not isinstance(invoice, InvoiceFacts) or not invoice.invoice_id.strip():
            raise UnknownRecord(
                "No invoice is selected (the invoice id is missing).",
                "Look the invoice up again by number, job number or customer.",
            )

    async def _charge_amount(
        self,
        invoice: InvoiceFacts,
        amount: Money | None,
        operator: OperatorInfo,
        approval: Approval | None,
    ) -> tuple[Money, TxnKind, int | None]:
        """The amount to charge and its kind, checked against what the invoice still owes:
        ServiceTitan's balance minus what the ledger holds on it (every station's charges in
        flight, unconfirmed or not yet posted). The intent checks again under the invoice's lock."""
        self._check_invoice(invoice)
        if amount is not None and not isinstance(amount, Money):
            raise InvalidRequest("The amount must be Money.", "Enter the amount, e.g. 125.00.")
        holds = await self._db(self._store.invoice_holds, invoice)
        try:
            check_reservation(holds, amount if amount is not None else holds.available)
        except RuleViolation as exc:
            raise InvoiceBusy(exc.message, exc.fix) from None
        due = holds.available
        if amount is None and due.cents <= 0 and holds.held.cents > 0:
            raise InvoiceBusy(
                f"Invoice {invoice.number} already has {holds.describe()}, so nothing is left "
                f"to pay of ServiceTitan's balance of {invoice.balance.format()}.",
                "Do not charge the customer again for it. Once ServiceTitan shows that payment "
                "(or the terminal's answer is recorded), look the invoice up again.",
            )
        if amount is None and due.cents <= 0:
            raise InvalidRequest(
                f"Invoice {invoice.number} has nothing left to pay "
                f"(balance {invoice.balance.format()}).",
                "Check the invoice; to take a deposit anyway, enter an amount and ask a supervisor.",
            )
        amount = due if amount is None else amount
        await self._db(self._authorize, operator, Action.CHARGE, None)
        supervisor_id: int | None = None
        if amount > due and amount.cents > 0:  # ≤ 0 is refused below, in the rule's words
            sup = await self._db(
                self._authorize,
                operator,
                Action.CHARGE_OVER_BALANCE,
                approval,
                invoice.invoice_id,
                amount,
            )
            supervisor_id = sup.id if sup else None
        try:
            kind = check_charge_amount(amount, due, supervisor=supervisor_id is not None)
        except RuleViolation as exc:
            raise InvalidRequest(exc.message, exc.fix) from None
        return amount, kind, supervisor_id

    async def available(self, invoice: InvoiceFacts) -> Money:
        """What may be charged on the invoice now: ServiceTitan's balance minus the ledger's holds."""
        return (await self._db(self._store.invoice_holds, invoice)).available

    def _progress(
        self, ref: str, on_event: PaymentListener | None
    ) -> Callable[[TerminalState], None]:
        def progress(state: TerminalState) -> None:
            self._checkpoint(f"terminal:{state.name}")
            self._hub.emit(
                PaymentEvent(
                    PaymentEventKind.TERMINAL,
                    ref,
                    state.value.capitalize(),
                    terminal_state=state.value,
                ),
                on_event,
            )

        return progress

    async def _run(
        self,
        spec: IntentSpec,
        send: Callable[[str, Callable[[TerminalState], None]], Awaitable[TransactionResult]],
        *,
        approval: Approval | None,
        on_event: PaymentListener | None,
    ) -> PaymentResult:
        """The life of one payment, from intent to settled outcome."""
        if self._busy.locked() and not self._recovering:  # recovery yields after each request
            holder = (
                "a connection check (it takes a few seconds)"
                if self._checking
                else self._current_ref or "another request"
            )
            raise TerminalBusy(
                f"The terminal is busy with {holder}.",
                "Wait for it to finish (or cancel it), then try again.",
            )
        async with self._busy:
            view = await self._db(self._store.write_intent, spec)
            ref = view.ecr_ref
            self._current_ref = ref
            try:
                self._checkpoint("intent_committed")
                self._operators.spend(approval)
                self._hub.emit(
                    PaymentEvent(
                        PaymentEventKind.INTENT_RECORDED,
                        ref,
                        f"{spec.kind.value.capitalize()} of {spec.amount.format()} recorded.",
                        spec.amount,
                    ),
                    on_event,
                )
                await self._db(self._store.mark_sent, view.id)
                self._checkpoint("marked_sent")
                self._hub.emit(
                    PaymentEvent(PaymentEventKind.SENT, ref, "Sent to the terminal.", spec.amount),
                    on_event,
                )
                try:
                    result: TransactionResult | StatusResult = await send(
                        ref, self._progress(ref, on_event)
                    )
                except asyncio.CancelledError:
                    await asyncio.shield(
                        self._db(
                            self._store.settle,
                            view.id,
                            Unknown(ref, "the app stopped while the terminal was working"),
                            actor=spec.operator_name,
                        )
                    )
                    raise
                except Exception as exc:  # a driver bug or a dropped line: the outcome is unknown
                    log.warning("terminal call for %s failed: %s", ref, type(exc).__name__)
                    result = Unknown(ref, f"the terminal call failed ({type(exc).__name__})")
                self._checkpoint("terminal_replied")
                if isinstance(result, TerminalError) and result.code == "NOT_SENT":
                    # Nothing reached the terminal: safe to close the intent as failed.
                    settled = await self._db(
                        self._store.settle, view.id, result, actor=spec.operator_name
                    )
                    self._emit_outcome(settled, on_event)
                    raise TerminalUnavailable(
                        f"The terminal could not be reached ({result.message}). Nothing was charged.",
                        "Check the terminal is on and connected (cable or network), then try again.",
                    )
                try:
                    settled = await self._db(
                        self._store.settle, view.id, result, actor=spec.operator_name
                    )
                except Exception as exc:
                    log.error("could not record the outcome of %s: %s", ref, type(exc).__name__)
                    raise ServiceError(
                        f"The terminal answered but the result of {ref} could not be saved "
                        f"({type(exc).__name__}).",
                        "Do NOT run the card again. The app asks the terminal what happened and "
                        "records it as soon as the database answers again (Recover, on the "
                        "Reconcile screen, does it at once).",
                    ) from exc
                self._checkpoint("settled")
                if settled.state is TxnState.UNKNOWN and self._settle_unknown_now:
                    self._emit_outcome(settled, on_event)
                    settled = await self._ask_terminal(settled, actor=spec.operator_name)
            finally:
                self._current_ref = None
        self._emit_outcome(settled, on_event)
        return PaymentResult(settled, _describe(settled))

    async def _ask_terminal(self, view: TransactionView, *, actor: str) -> TransactionView:
        """Settle an UNKNOWN by asking the terminal — never by sending it again."""
        try:
            status = await self._terminal.status(view.ecr_ref)
        except Exception as exc:
            status = Unknown(view.ecr_ref, f"status query failed ({type(exc).__name__})")
        if isinstance(status, Unknown | TerminalError):
            return view  # still unknown; recovery will ask again
        return await self._db(self._store.settle, view.id, status, actor=actor, recovered=True)

    def _emit_outcome(self, view: TransactionView, on_event: PaymentListener | None) -> None:
        kind = _EVENT_FOR_STATE.get(view.state)
        if view.is_approved:
            kind = (
                PaymentEventKind.PARTIAL
                if view.approved < view.amount and view.kind.is_charge
                else PaymentEventKind.APPROVED
            )
        if kind is not None:
            self._hub.emit(
                PaymentEvent(kind, view.ecr_ref, _describe(view), view.approved or view.amount),
                on_event,
            )

    # -- charges --------------------------------------------------------------------------------

    async def charge(
        self,
        invoice: InvoiceFacts,
        *,
        operator: OperatorInfo,
        amount: Money | None = None,
        save_card: bool = False,
        keyed: bool = False,
        approval: Approval | None = None,
        on_event: PaymentListener | None = None,
    ) -> PaymentResult:
        """Push a sale to the terminal: the full balance (``amount=None``) or a deposit.

        ``keyed``: the clerk types the card on the terminal's keypad (never in the app).
        ``save_card``: ask the terminal for a reusable token and keep it on file for the customer.
        More than the balance needs a supervisor (``approval`` for ``charge_over_balance``).
        """
        cents, kind, supervisor_id = await self._charge_amount(invoice, amount, operator, approval)
        spec = IntentSpec(
            kind=kind,
            tender=Tender.KEYED if keyed else Tender.CARD,
            amount=cents,
            operator_id=operator.id,
            operator_name=operator.name,
            invoice=invoice,
            supervisor_id=supervisor_id,
            save_card=save_card,
        )

        def send(
            ref: str, progress: Callable[[TerminalState], None]
        ) -> Awaitable[TransactionResult]:
            return self._terminal.sale(
                cents.cents,
                ref,
                request_token=save_card,
                keyed=keyed,
                progress=progress,
                invoice=invoice.number,
            )

        return await self._run(spec, send, approval=approval, on_event=on_event)

    async def deposit(
        self, invoice: InvoiceFacts, amount: Money, *, operator: OperatorInfo, **kwargs: object
    ) -> PaymentResult:
        """A deposit: part of the balance (0 < amount ≤ balance; more with a supervisor)."""
        return await self.charge(invoice, operator=operator, amount=amount, **kwargs)  # type: ignore[arg-type]

    async def charge_keyed(
        self, invoice: InvoiceFacts, *, operator: OperatorInfo, **kwargs: object
    ) -> PaymentResult:
        return await self.charge(invoice, operator=operator, keyed=True, **kwargs)  # type: ignore[arg-type]

    async def charge_card_on_file(
        self,
        invoice: InvoiceFacts,
        card_id: int,
        *,
        operator: OperatorInfo,
        amount: Money | None = None,
        approval: Approval | None = None,
        on_event: PaymentListener | None = None,
    ) -> PaymentResult:
        """Charge a saved card (no card present)."""
        cents, kind, supervisor_id = await self._charge_amount(invoice, amount, operator, approval)
        card, token = await self._db(self._store.card_token, card_id, invoice.customer_id)
        spec = IntentSpec(
            kind=kind,
            tender=Tender.CARD_ON_FILE,
            amount=cents,
            operator_id=operator.id,
            operator_name=operator.name,
            invoice=invoice,
            supervisor_id=supervisor_id,
            card_on_file_id=card.id,
        )

        def send(
            ref: str, progress: Callable[[TerminalState], None]
        ) -> Awaitable[TransactionResult]:
            return self._terminal.sale_with_token(cents.cents, ref, token, progress=progress)

        return await self._run(spec, send, approval=approval, on_event=on_event)

    async def charge_ach(
        self,
        invoice: InvoiceFacts,
        routing_number: str,
        account_number: str,
        *,
        operator: OperatorInfo,
        account_type: str = "checking",
        holder_name: str = "",
        amount: Money | None = None,
        approval: Approval | None = None,
        on_event: PaymentListener | None = None,
    ) -> PaymentResult:
        """Keyed ACH: the numbers are checked (ABA checksum), passed to the terminal once and never
        stored or logged — only the account's last 4 is kept."""
        try:
            routing = check_routing_number(routing_number)
            account = check_account_number(account_number)
        except RuleViolation as exc:
            raise InvalidRequest(exc.message, exc.fix) from None
        if account_type not in ("checking", "savings"):
            raise InvalidRequest(
                f"“{account_type}” is not an account type.", "Choose checking or savings."
            )
        cents, kind, supervisor_id = await self._charge_amount(invoice, amount, operator, approval)
        ach = AchAccount(routing, account, account_type, holder_name)
        spec = IntentSpec(
            kind=kind,
            tender=Tender.ACH,
            amount=cents,
            operator_id=operator.id,
            operator_name=operator.name,
            invoice=invoice,
            supervisor_id=supervisor_id,
        )

        def send(
            ref: str, progress: Callable[[TerminalState], None]
        ) -> Awaitable[TransactionResult]:
            return self._terminal.ach_sale(cents.cents, ref, ach, progress=progress)

        return await self._run(spec, send, approval=approval, on_event=on_event)

    # -- money back -----------------------------------------------------------------------------

    async def refund(
        self,
        ecr_ref: str,
        amount: Money | None = None,
        *,
        operator: OperatorInfo,
        approval: Approval | None = None,
        reason: str = "",
        on_event: PaymentListener | None = None,
    ) -> PaymentResult:
        """Refund all that is left (``amount=None``) or part of an approved sale. Needs a supervisor.
        Refunds never add up to more than was captured, even from two stations at once. The
        ``reason`` is written with the intent, in the same commit, into the audit chain."""
        refuse_card_data(reason, "reason")
        await self._db(self._authorize, operator, Action.CHARGE, None)  # an active money role
        original = await self._db(self._store.get, ecr_ref)
        self._not_a_link(original)
        if amount is None:
            amount = await self._db(self._store.refundable, ecr_ref)
            if amount.cents <= 0:
                raise InvalidRequest(
                    f"Nothing is left to refund on {original.ecr_ref}.",
                    "Check the transaction's history: it is already fully refunded or voided.",
                )
        supervisor = await self._db(
            self._authorize, operator, Action.REFUND, approval, original.ecr_ref, amount
        )
        original_ref = original.host_ref or original.terminal_ref
        spec = IntentSpec(
            kind=TxnKind.REFUND,
            tender=original.tender,
            amount=amount,
            operator_id=operator.id,
            operator_name=operator.name,
            supervisor_id=supervisor.id if supervisor else None,
            parent_ref=original.ecr_ref,
            reason=reason,
        )

        def send(
            ref: str, progress: Callable[[TerminalState], None]
        ) -> Awaitable[TransactionResult]:
            return self._terminal.refund(amount.cents, ref, original_ref, progress=progress)

        return await self._run(spec, send, approval=approval, on_event=on_event)

    async def void(
        self,
        ecr_ref: str,
        *,
        operator: OperatorInfo,
        approval: Approval | None = None,
        reason: str = "",
        on_event: PaymentListener | None = None,
    ) -> PaymentResult:
        """Void an approved sale before its batch closes; after that, a refund is needed instead."""
        refuse_card_data(reason, "reason")
        await self._db(self._authorize, operator, Action.CHARGE, None)  # an active money role
        original = await self._db(self._store.get, ecr_ref)
        self._not_a_link(original)
        supervisor = await self._db(
            self._authorize, operator, Action.VOID, approval, original.ecr_ref, original.approved
        )
        original_ref = original.host_ref or original.terminal_ref
        spec = IntentSpec(
            kind=TxnKind.VOID,
            tender=original.tender,
            amount=original.approved,
            operator_id=operator.id,
            operator_name=operator.name,
            supervisor_id=supervisor.id if supervisor else None,
            parent_ref=original.ecr_ref,
            reason=reason,
        )

        def send(
            ref: str, progress: Callable[[TerminalState], None]
        ) -> Awaitable[TransactionResult]:
            return self._terminal.void(ref, original_ref, progress=progress)

        result = await self._run(spec, send, approval=approval, on_event=on_event)
        if result.state is TxnState.FAILED and "BATCH CLOSED" in result.transaction.message.upper():
            await self._db(self._store.mark_parent_batch_closed, original.ecr_ref)
            raise VoidNotAllowed(
                "The terminal's batch with this sale is already closed (settled), so it can no "
                "longer be voided. Nothing was changed.",
                "Refund it instead.",
            )
        return result

    async def check_terminal(self, timeout: float) -> Any:
        """Ask the terminal who it is, between payments and never during one (it waits for the
        same lock), so that "ready" on screen is a fact no older than the last check. Raises
        ``TerminalBusy`` while a payment is running and ``TimeoutError`` when it is silent."""
        if self._busy.locked():
            raise TerminalBusy(
                "The terminal is busy with a payment.", "Test it when the payment has finished."
            )
        async with self._busy:
            self._checking = True
            try:
                return await asyncio.wait_for(self._terminal.initialize(), timeout)
            finally:
                self._checking = False

    async def batch_close(
        self, *, operator: OperatorInfo, approval: Approval | None = None
    ) -> BatchSummary:
        """Close (settle) the terminal's batch. Needs a supervisor. Voids are refused afterwards."""
        await self._db(self._authorize, operator, Action.BATCH_CLOSE, approval)
        if self._busy.locked():
            raise TerminalBusy(
                "The terminal is busy with a payment.", "Close the batch when it has finished."
            )
        async with self._busy:
            self._operators.spend(approval)
            try:
                result = await self._terminal.batch_close()
            except Exception as exc:
                result = TerminalError(None, "ERROR", type(exc).__name__)
            if not isinstance(result, BatchClosed):
                await self._db(
                    self._store.audit,
                    "batch_close_failed",
                    operator.name,
                    "",
                    code=result.code,
                    message=result.message[:200],
                )
                raise TerminalUnavailable(
                    f"The terminal did not close the batch ({result.message}).",
                    "Check the terminal, then try again. Nothing was changed in the ledger.",
                )
            rows = await self._db(self._store.record_batch_close, result, actor=operator.name)
        summary = BatchSummary(
            result.batch_number,
            result.count,
            Money(result.total_cents),
            rows,
            totals_known=getattr(result, "totals_known", True),
        )
        self._hub.emit(
            PaymentEvent(PaymentEventKind.BATCH_CLOSED, "", summary.describe(), summary.total)
        )
        return summary

    async def cancel_current(self, *, operator: OperatorInfo | None = None) -> bool:
        """Ask the terminal to abandon the request in progress. The request then ends CANCELLED
        (or, if the card was already approved, APPROVED): the terminal decides, the ledger records."""
        ref = self._current_ref
        if ref is None:
            return False
        await self._db(
            self._store.audit,
            "cancel_requested",
            operator.name if operator else "",
            ref,
        )
        self._hub.emit(
            PaymentEvent(PaymentEventKind.CANCEL_REQUESTED, ref, "Cancel sent to the terminal.")
        )
        try:
            await self._terminal.cancel()
        except Exception as exc:
            log.warning("cancel for %s failed: %s", ref, type(exc).__name__)
            raise TerminalUnavailable(
                "The terminal did not take the cancel.",
                "Press the red Cancel key on the terminal itself.",
            ) from None
        return True

    # -- cards on file --------------------------------------------------------------------------

    async def list_cards(self, customer_id: str) -> list[CardView]:
        return await self._db(self._store.cards, str(customer_id))

    async def revoke_card(self, card_id: int, *, operator: OperatorInfo) -> CardView:
        await self._db(self._authorize, operator, Action.REVOKE_CARD, None)
        return await self._db(
            self._store.revoke_card, card_id, operator_id=operator.id, actor=operator.name
        )

    # -- queries --------------------------------------------------------------------------------

    async def get(self, ecr_ref: str) -> TransactionView:
        return await self._db(self._store.get, ecr_ref)

    async def transactions_for_invoice(self, invoice_id: str) -> list[TransactionView]:
        return await self._db(self._store.list, invoice_id=str(invoice_id))

    async def refundable(self, ecr_ref: str) -> Money:
        return await self._db(self._store.refundable, ecr_ref)

    async def list_transactions(
        self, *, state: TxnState | None = None, since: datetime | None = None, limit: int = 500
    ) -> list[TransactionView]:
        return await self._db(self._store.list, state=state, since=since, limit=limit)

    # -- recovery -------------------------------------------------------------------------------

    async def unsettled(self) -> list[TransactionView]:
        """This station's requests not settled yet (intent, at the terminal, unknown), except the
        one this engine is working on right now: what Recover will ask the terminal about."""
        rows = await self._db(self._store.unsettled)
        return [r for r in rows if r.ecr_ref != self._current_ref]

    async def recover(self, *, wait: bool = True) -> list[RecoveryOutcome]:
        """Settle this station's interrupted requests: at every start, and while the app runs
        whenever the terminal is idle (see ``services.recovery``).

        An INTENT never reached the terminal: it is discarded. An AT_TERMINAL or UNKNOWN request
        is looked up on the terminal by its reference and recorded as the terminal says; if the
        terminal cannot say yet it stays UNKNOWN. Nothing is ever sent again. The terminal is held
        for the whole pass, so no payment of this engine is in flight meanwhile; with
        ``wait=False`` a busy terminal raises ``TerminalBusy`` instead of waiting for it.
        """
        if not wait and self._busy.locked():
            raise TerminalBusy(
                f"The terminal is busy with {self._current_ref or 'another request'}.",
                "Recover runs by itself as soon as the terminal is free; or try again then.",
            )
        outcomes: list[RecoveryOutcome] = []
        async with self._busy:  # read while nothing of ours is in flight
            self._recovering = True
            try:
                pending = await self._db(self._store.unsettled)
            finally:
                self._recovering = False
        for view in pending:
            # The terminal is held for one request at a time: a clerk's payment waits for at most
            # one status query, and runs between two.
            async with self._busy:
                self._recovering = True
                try:
                    now = await self._db(self._store.get_by_id, view.id)
                    if now.state in (TxnState.INTENT, TxnState.AT_TERMINAL, TxnState.UNKNOWN):
                        outcomes.append(await self._recover_one(now))
                finally:
                    self._recovering = False
        return outcomes

    async def _recover_one(self, view: TransactionView) -> RecoveryOutcome:
        if view.state is TxnState.INTENT:
            after = await self._db(
                self._store.discard, view.id, reason="never sent (interrupted before sending)"
            )
            return RecoveryOutcome(view.ecr_ref, view.state, after.state, "never sent: discarded")
        try:
            status = await self._terminal.status(view.ecr_ref)
        except Exception as exc:
            status = Unknown(view.ecr_ref, f"status query failed ({type(exc).__name__})")
        if isinstance(status, Unknown | TerminalError):
            if view.state is TxnState.AT_TERMINAL:
                after = await self._db(
                    self._store.settle,
                    view.id,
                    Unknown(
                        view.ecr_ref,
                        getattr(status, "reason", "") or getattr(status, "message", ""),
                    ),
                    actor="recovery",
                    recovered=True,
                )
            else:
                after = view
            return RecoveryOutcome(
                view.ecr_ref,
                view.state,
                after.state,
                "the terminal could not say yet; still unknown: Recover asks it again "
                "(the app also does, by itself, while it runs)",
            )
        after = await self._db(
            self._store.settle, view.id, status, actor="recovery", recovered=True
        )
        self._hub.emit(
            PaymentEvent(PaymentEventKind.RECOVERED, view.ecr_ref, _describe(after), after.approved)
        )
        return RecoveryOutcome(view.ecr_ref, view.state, after.state, _describe(after))
