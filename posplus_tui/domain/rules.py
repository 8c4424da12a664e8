"""The rules between amounts: what may be charged, refunded or voided. Pure functions.

Each check raises :class:`RuleViolation` with a sentence for the clerk (``message``) and what to do
about it (``fix``); the services turn it into a ``ServiceError`` without changing anything.
"""

from __future__ import annotations

from collections.abc import Iterable

from posplus_tui.domain.money import Money
from posplus_tui.domain.transactions import MONEY_MOVED_STATES, NO_MONEY_STATES, TxnKind, TxnState

__all__ = [
    "REFUNDABLE_STATES",
    "VOIDABLE_STATES",
    "RefundExceedsRemaining",
    "RuleViolation",
    "check_charge_amount",
    "check_refund",
    "check_void",
    "refund_is_full",
    "refundable_remaining",
    "reserved_by_children",
]


class RuleViolation(ValueError):
    """A request the rules forbid; nothing was changed."""

    def __init__(self, message: str, fix: str) -> None:
        super().__init__(message)
        self.message = message
        self.fix = fix


class RefundExceedsRemaining(RuleViolation):
    """A refund larger than what is left to give back on its sale."""


#: A sale in one of these states has money that can still go back.
REFUNDABLE_STATES = frozenset(
    {
        TxnState.APPROVED,
        TxnState.POSTED,
        TxnState.POST_FAILED,
        TxnState.RECONCILED,
        TxnState.PARTIALLY_REFUNDED,
    }
)
VOIDABLE_STATES = frozenset(
    {TxnState.APPROVED, TxnState.POSTED, TxnState.POST_FAILED, TxnState.RECONCILED}
)


def check_charge_amount(amount: Money, balance: Money, *, supervisor: bool) -> TxnKind:
    """A charge is the full balance (SALE) or a deposit: 0 < amount ≤ balance, more only with a
    supervisor. Returns the kind the charge is recorded as."""
    if amount.cents <= 0:
        raise RuleViolation(
            f"{amount.format()} cannot be charged: the amount must be more than $0.00.",
            "Enter a positive amount, for example the invoice balance.",
        )
    if balance.cents > 0 and amount == balance:
        return TxnKind.SALE
    if amount > balance and not supervisor:
        raise RuleViolation(
            f"{amount.format()} is more than the invoice balance of {balance.format()}.",
            f"Charge at most {balance.format()}, or ask a supervisor to approve the larger amount.",
        )
    return TxnKind.DEPOSIT


def reserved_by_children(children: Iterable[tuple[TxnKind, TxnState, Money]]) -> Money:
    """Money already given back or on its way back: refunds approved or still in flight.

    An in-flight refund (intent, at the terminal, unknown) counts until it settles otherwise, so two
    stations refunding at once can never give back more than was captured.
    """
    total = 0
    for kind, state, amount in children:
        if kind is TxnKind.REFUND and state not in NO_MONEY_STATES:
            total += amount.cents
    return Money(total)


def refundable_remaining(captured: Money, reserved: Money) -> Money:
    """What can still be refunded on a sale that captured ``captured``."""
    return Money(max(0, captured.cents - reserved.cents))


def check_refund(state: TxnState, captured: Money, reserved: Money, amount: Money) -> Money:
    """Validate a refund of ``amount``; returns what will remain refundable after it."""
    if state not in REFUNDABLE_STATES:
        raise RuleViolation(
            f"This transaction is {state.value.replace('_', ' ')}; there is no captured money to refund.",
            "Pick an approved sale to refund.",
        )
    if amount.cents <= 0:
        raise RuleViolation(
            "A refund must be more than $0.00.", "Enter the amount to give back, e.g. 25.00."
        )
    remaining = refundable_remaining(captured, reserved)
    if amount > remaining:
        already = reserved.format()
        raise RefundExceedsRemaining(
            f"{amount.format()} is more than is left to refund: {remaining.format()} "
            f"(captured {captured.format()}, already refunded or in progress {already}).",
            f"Refund at most {remaining.format()}.",
        )
    return remaining - amount


def refund_is_full(captured: Money, reserved_after: Money) -> bool:
    """True when refunds approved so far give back everything that was captured."""
    return reserved_after >= captured


def check_void(
    state: TxnState,
    *,
    batch_closed: bool,
    children: Iterable[tuple[TxnKind, TxnState, Money]] = (),
) -> None:
    """A void cancels a whole sale, only before its batch closes and before any refund."""
    if state is TxnState.VOIDED:
        raise RuleViolation("This sale is already voided.", "Nothing to do.")
    if state not in MONEY_MOVED_STATES or state not in VOIDABLE_STATES:
        if state in (TxnState.PARTIALLY_REFUNDED, TxnState.REFUNDED):
            raise RuleViolation(
                "This sale has refunds against it and cannot be voided.",
                "Refund the remaining amount instead.",
            )
        raise RuleViolation(
            f"This transaction is {state.value.replace('_', ' ')}; only an approved sale can be voided.",
            "Pick an approved sale.",
        )
    if batch_closed:
        raise RuleViolation(
            "The batch with this sale is closed (settled), so it can no longer be voided.",
            "Refund it instead.",
        )
    for kind, child_state, _amount in children:
        if child_state in NO_MONEY_STATES:
            continue
        if kind is TxnKind.VOID:
            raise RuleViolation(
                "A void for this sale is already in progress or done.",
                "Wait for it to finish; if it was interrupted, Recover (Reconcile screen) asks the "
                "terminal what happened.",
            )
        if kind is TxnKind.REFUND:
            raise RuleViolation(
                "This sale has a refund in progress or done and cannot be voided.",
                "Refund the remaining amount instead.",
            )
