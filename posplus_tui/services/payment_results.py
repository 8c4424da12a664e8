"""What a payment request ended as, in words a clerk reads: results, batch closes, recovery."""

from __future__ import annotations

from dataclasses import dataclass

from posplus_tui.domain.money import Money
from posplus_tui.domain.transactions import TxnKind, TxnState
from posplus_tui.services.txn_views import TransactionView


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


def describe(view: TransactionView) -> str:
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
