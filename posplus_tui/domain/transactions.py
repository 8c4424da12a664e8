"""Transaction kinds and states, and the one function that moves a transaction between states.

The life of a payment (see ``ARCHITECTURE.md``) as a table: :func:`transition` is pure and total —
every (state, event) pair either has a next state or raises :class:`IllegalTransition` — so the
services can never write a state the diagram does not allow.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping

__all__ = [
    "FINAL_STATES",
    "IN_FLIGHT_STATES",
    "MONEY_MOVED_STATES",
    "NO_MONEY_STATES",
    "TRANSITIONS",
    "IllegalTransition",
    "Tender",
    "TxnEvent",
    "TxnKind",
    "TxnState",
    "transition",
]


class TxnKind(enum.StrEnum):
    """What a transaction does to the customer's money."""

    SALE = "sale"  # the full balance of an invoice
    DEPOSIT = "deposit"  # part of the balance (or, with a supervisor, more)
    REFUND = "refund"  # money back, full or partial, linked to a sale
    VOID = "void"  # cancels a sale before the batch closes, linked to it

    @property
    def is_charge(self) -> bool:
        return self in (TxnKind.SALE, TxnKind.DEPOSIT)


class Tender(enum.StrEnum):
    """How the money is taken."""

    CARD = "card"  # card presented at the terminal (chip, tap, swipe)
    KEYED = "keyed"  # typed on the terminal's keypad (never in the app)
    CARD_ON_FILE = "card_on_file"  # a saved terminal token, no card present
    ACH = "ach"  # keyed bank account (routing + account pass through to the terminal)
    LINK = "link"  # paid by the customer on a payment link's hosted page (card not present)


class TxnState(enum.StrEnum):
    INTENT = "intent"  # written and committed; nothing sent yet
    AT_TERMINAL = "at_terminal"  # committed as sent; the terminal may be working on it
    UNKNOWN = "unknown"  # sent, outcome not known: settle by asking the terminal, never resend
    APPROVED = "approved"
    DECLINED = "declined"
    CANCELLED = "cancelled"
    FAILED = "failed"  # the terminal refused before any money moved
    NOT_FOUND = "not_found"  # the terminal has no record of it: it never reached the host
    DISCARDED = "discarded"  # an intent never sent (crash before sending), dropped on recovery
    POSTED = "posted"  # the outbox posted it to ServiceTitan
    POST_FAILED = "post_failed"  # posting failed; retried, visible
    RECONCILED = "reconciled"  # the invoice balance moved as expected
    PARTIALLY_REFUNDED = "partially_refunded"
    REFUNDED = "refunded"
    VOIDED = "voided"


class TxnEvent(enum.StrEnum):
    SENT = "sent"
    APPROVED = "approved"
    DECLINED = "declined"
    CANCELLED = "cancelled"
    FAILED = "failed"
    LOST = "lost"  # time-out, dropped line, crash while at the terminal
    NOT_FOUND = "not_found"
    DISCARD = "discard"
    POSTED = "posted"
    POST_FAILED = "post_failed"
    RECONCILED = "reconciled"
    PARTIAL_REFUND = "partial_refund"
    FULL_REFUND = "full_refund"
    VOIDED = "voided"


class IllegalTransition(ValueError):
    """A (state, event) pair the life of a payment does not allow."""

    def __init__(self, state: TxnState, event: TxnEvent) -> None:
        allowed = sorted(e.value for e in TRANSITIONS.get(state, {}))
        hint = f"allowed events: {', '.join(allowed)}" if allowed else "it is a final state"
        super().__init__(
            f"a transaction in state {state.value} cannot take event {event.value} ({hint})"
        )
        self.state = state
        self.event = event


S, E = TxnState, TxnEvent

#: Posting events do not change a sale whose refund/void status is already the more important fact.
_POSTING_KEEPS = {E.POSTED: None, E.POST_FAILED: None, E.RECONCILED: None}
_MONEY_BACK = {
    E.PARTIAL_REFUND: S.PARTIALLY_REFUNDED,
    E.FULL_REFUND: S.REFUNDED,
    E.VOIDED: S.VOIDED,
}
_SETTLE = {
    E.APPROVED: S.APPROVED,
    E.DECLINED: S.DECLINED,
    E.CANCELLED: S.CANCELLED,
    E.FAILED: S.FAILED,
    E.LOST: S.UNKNOWN,
    E.NOT_FOUND: S.NOT_FOUND,
}


def _keep(state: TxnState, events: Mapping[TxnEvent, None]) -> dict[TxnEvent, TxnState]:
    return dict.fromkeys(events, state)


TRANSITIONS: dict[TxnState, dict[TxnEvent, TxnState]] = {
    S.INTENT: {E.SENT: S.AT_TERMINAL, E.DISCARD: S.DISCARDED, E.FAILED: S.FAILED},
    S.AT_TERMINAL: dict(_SETTLE),
    S.UNKNOWN: dict(_SETTLE),  # LOST keeps it UNKNOWN: the terminal still could not say
    S.APPROVED: {E.POSTED: S.POSTED, E.POST_FAILED: S.POST_FAILED, **_MONEY_BACK},
    S.POST_FAILED: {E.POSTED: S.POSTED, E.POST_FAILED: S.POST_FAILED, **_MONEY_BACK},
    S.POSTED: {
        E.POSTED: S.POSTED,
        E.POST_FAILED: S.POST_FAILED,
        E.RECONCILED: S.RECONCILED,
        **_MONEY_BACK,
    },
    S.RECONCILED: {E.RECONCILED: S.RECONCILED, E.POSTED: S.RECONCILED, **_MONEY_BACK},
    S.PARTIALLY_REFUNDED: {
        **_keep(S.PARTIALLY_REFUNDED, _POSTING_KEEPS),
        E.PARTIAL_REFUND: S.PARTIALLY_REFUNDED,
        E.FULL_REFUND: S.REFUNDED,
    },
    S.REFUNDED: _keep(S.REFUNDED, _POSTING_KEEPS),
    S.VOIDED: _keep(S.VOIDED, _POSTING_KEEPS),
    S.DECLINED: {},
    S.CANCELLED: {},
    S.FAILED: {},
    # The terminal is the source of truth: a request it could not find at first (asked while it was
    # still on its way, e.g. by a recovery run elsewhere) but later reports approved is approved.
    S.NOT_FOUND: {E.APPROVED: S.APPROVED},
    S.DISCARDED: {},
}


def transition(state: TxnState, event: TxnEvent) -> TxnState:
    """The state after ``event``; raises :class:`IllegalTransition` for a pair the diagram forbids."""
    state, event = TxnState(state), TxnEvent(event)
    try:
        return TRANSITIONS[state][event]
    except KeyError:
        raise IllegalTransition(state, event) from None


#: Sent (or maybe sent) and not yet settled: recovery asks the terminal about these.
IN_FLIGHT_STATES = frozenset({S.AT_TERMINAL, S.UNKNOWN})
#: The host took the money (a refund or void child in these states gave money back).
MONEY_MOVED_STATES = frozenset(
    {S.APPROVED, S.POSTED, S.POST_FAILED, S.RECONCILED, S.PARTIALLY_REFUNDED, S.REFUNDED, S.VOIDED}
)
#: Settled without moving money.
NO_MONEY_STATES = frozenset({S.DECLINED, S.CANCELLED, S.FAILED, S.NOT_FOUND, S.DISCARDED})
FINAL_STATES = frozenset(s for s, nxt in TRANSITIONS.items() if not nxt)
