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

import logging
from datetime import datetime

from drivers import BatchClosed, TerminalError, Unknown
from posplus_tui.domain.invoice import InvoiceFacts
from posplus_tui.domain.money import Money
from posplus_tui.domain.roles import Action
from posplus_tui.domain.transactions import TxnState
from posplus_tui.services.errors import TerminalBusy, TerminalUnavailable
from posplus_tui.services.events import PaymentEvent, PaymentEventKind
from posplus_tui.services.operators import Approval, OperatorInfo
from posplus_tui.services.payment_flows import PaymentFlows
from posplus_tui.services.payment_results import (
    BatchSummary,
    PaymentResult,
    RecoveryOutcome,
    describe,
)
from posplus_tui.services.txn_views import CardView, TransactionView

log = logging.getLogger(__name__)
__all__ = [
    "BatchSummary",
    "CardView",
    "InvoiceFacts",
    "PaymentResult",
    "PaymentService",
    "RecoveryOutcome",
    "TransactionView",
]


class PaymentService(PaymentFlows):
    """One station's payment engine: one terminal, one ledger (shared with other stations)."""

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
        self._hub.publish(
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
        self._hub.publish(
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

    async def list_cards(self, customer_id: str) -> list[CardView]:
        return await self._db(self._store.cards, str(customer_id))

    async def revoke_card(self, card_id: int, *, operator: OperatorInfo) -> CardView:
        await self._db(self._authorize, operator, Action.REVOKE_CARD, None)
        return await self._db(
            self._store.revoke_card, card_id, operator_id=operator.id, actor=operator.name
        )

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
        self._hub.publish(
            PaymentEvent(PaymentEventKind.RECOVERED, view.ecr_ref, describe(after), after.approved)
        )
        return RecoveryOutcome(view.ecr_ref, view.state, after.state, describe(after))
