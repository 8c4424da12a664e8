"""The payment engine's core: one request's life from intent to settled outcome (``payments``)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import datetime
from typing import Any, TypeVar

from drivers import Terminal, TerminalError, TerminalState, Unknown
from drivers.base import StatusResult, TransactionResult
from posplus_tui.domain.holds import check_reservation
from posplus_tui.domain.invoice import InvoiceFacts
from posplus_tui.domain.money import Money
from posplus_tui.domain.roles import Action
from posplus_tui.domain.rules import RuleViolation, check_charge_amount
from posplus_tui.domain.transactions import TxnKind, TxnState
from posplus_tui.ledger import Ledger
from posplus_tui.services.errors import (
    InvalidRequest,
    InvoiceBusy,
    ServiceError,
    TerminalBusy,
    TerminalUnavailable,
    UnknownRecord,
)
from posplus_tui.services.events import PaymentEvent, PaymentEventKind, PaymentListener
from posplus_tui.services.hub import EventHub
from posplus_tui.services.operators import Approval, OperatorInfo, OperatorService
from posplus_tui.services.payment_results import PaymentResult, describe
from posplus_tui.services.txn_store import TxnStore
from posplus_tui.services.txn_views import IntentSpec, TransactionView

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


class PaymentEngine:
    """One station's terminal and ledger, one request at a time; the flows build on it."""

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
        self._hub: EventHub[PaymentEvent] = EventHub("payment events")
        self._busy = asyncio.Lock()
        self._current_ref: str | None = None
        self._checking = False  # a connection check holds the terminal (see check_terminal)
        self._recovering = False  # recovery holds the terminal (see recover)
        self._checkpoint = checkpoint or (lambda _name: None)
        self._settle_unknown_now = settle_unknown_now

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

    def offers(self, method: str) -> bool:
        """Whether this terminal's protocol can take ``method`` (``card``, ``keyed``,
        ``card_on_file``, ``ach``): the screens offer only these (the driver's capability flags)."""
        caps = getattr(self._terminal, "capabilities", None)
        flag = {"keyed": "keyed_card", "card_on_file": "card_on_file", "ach": "keyed_ach"}.get(
            method
        )
        return flag is None or caps is None or bool(getattr(caps, flag, True))

    def _check_offered(self, method: str, words: str) -> None:
        if not self.offers(method):
            raise InvalidRequest(
                f"This terminal cannot take {words}.",
                "Take the card at the terminal instead (tap, insert or swipe).",
            )

    @property
    def idle(self) -> bool:
        """No payment, check or recovery holds the terminal right now."""
        return not self._busy.locked()

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
            self._hub.publish(
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
                self._hub.publish(
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
                self._hub.publish(
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
        return PaymentResult(settled, describe(settled))

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
            self._hub.publish(
                PaymentEvent(kind, view.ecr_ref, describe(view), view.approved or view.amount),
                on_event,
            )

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
