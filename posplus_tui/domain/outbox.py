"""The life of an outbox row: the one place its states are spelled, and the moves between them.

An outbox row is the promise to post one approved payment, refund or void to ServiceTitan (see
``ARCHITECTURE.md``, step 4). Like :mod:`posplus_tui.domain.transactions` it is a table:
:func:`outbox_move` is pure and total — every (state, next state) pair is allowed or raises
:class:`IllegalOutboxMove` — and the groups the worker, the status bar and the summary count by
are derived here, not re-typed where they are used.

    PENDING ──claim──▶ POSTING ──posted──▶ POSTED ──read back──▶ VERIFIED
       │                  │  ▲                │
       │                  │  └── retry ───────┼──▶ MISMATCH (balance moved otherwise)
       │                  └──▶ NEEDS_ATTENTION (a supervisor decides: retry, or posted by hand)
       └──▶ CANCELLED (a sale voided before it reached ServiceTitan)
"""

from __future__ import annotations

import enum

__all__ = [
    "OUTBOX_ATTENTION_STATES",
    "OUTBOX_FINAL_STATES",
    "OUTBOX_MOVES",
    "OUTBOX_OPEN_STATES",
    "OUTBOX_POSTED_STATES",
    "IllegalOutboxMove",
    "OutboxAction",
    "OutboxState",
    "outbox_move",
]


class OutboxAction(enum.StrEnum):
    """What the row asks of ServiceTitan."""

    POST_PAYMENT = "post_payment"
    POST_REFUND = "post_refund"
    VOID_PAYMENT = "void_payment"


class OutboxState(enum.StrEnum):
    PENDING = "pending"  # written with the approval; nothing sent to ServiceTitan yet
    POSTING = "posting"  # claimed by a worker; a POST may be on its way (never assume it failed)
    POSTED = "posted"  # ServiceTitan took it; the invoice is still to be read back
    VERIFIED = "verified"  # the invoice balance moved as expected
    NEEDS_ATTENTION = "needs_attention"  # the worker stopped trying: a supervisor decides
    MISMATCH = "mismatch"  # posted, but the invoice does not show what we posted
    CANCELLED = "cancelled"  # nothing to post any more (the sale was voided before posting)


St = OutboxState

#: Where each state may go. Staying put is allowed (a retry that changes only the attempt count).
OUTBOX_MOVES: dict[OutboxState, frozenset[OutboxState]] = {
    St.PENDING: frozenset(
        {St.PENDING, St.POSTING, St.POSTED, St.VERIFIED, St.NEEDS_ATTENTION, St.CANCELLED}
    ),
    St.POSTING: frozenset(
        {
            St.POSTING,
            St.PENDING,
            St.POSTED,
            St.VERIFIED,
            St.NEEDS_ATTENTION,
            St.MISMATCH,
            St.CANCELLED,
        }
    ),
    St.POSTED: frozenset({St.POSTED, St.VERIFIED, St.MISMATCH, St.NEEDS_ATTENTION}),
    # A supervisor's retry sends it back to the worker; "posted by hand" records the fact.
    St.NEEDS_ATTENTION: frozenset(
        {St.NEEDS_ATTENTION, St.PENDING, St.POSTING, St.POSTED, St.VERIFIED, St.CANCELLED}
    ),
    # A retry looks for the payment in ServiceTitan again (POSTING), never posts it blindly.
    St.MISMATCH: frozenset({St.MISMATCH, St.POSTING, St.POSTED, St.VERIFIED}),
    St.VERIFIED: frozenset(),
    St.CANCELLED: frozenset(),
}

#: Still on the way to ServiceTitan: the worker claims these, the status bar counts them.
OUTBOX_OPEN_STATES = frozenset({St.PENDING, St.POSTING, St.POSTED})
#: In ServiceTitan (as far as we know).
OUTBOX_POSTED_STATES = frozenset({St.POSTED, St.VERIFIED})
#: A person has to look: the status bar's "need attention".
OUTBOX_ATTENTION_STATES = frozenset({St.NEEDS_ATTENTION, St.MISMATCH})
#: Nothing more will happen to these on their own.
OUTBOX_FINAL_STATES = frozenset({St.VERIFIED, St.NEEDS_ATTENTION, St.MISMATCH, St.CANCELLED})


class IllegalOutboxMove(ValueError):
    """A move the life of an outbox row does not allow."""

    def __init__(self, state: OutboxState, target: OutboxState) -> None:
        allowed = sorted(s.value for s in OUTBOX_MOVES[state])
        hint = f"it may become: {', '.join(allowed)}" if allowed else "it is final"
        super().__init__(f"an outbox row {state.value} cannot become {target.value} ({hint})")
        self.state = state
        self.target = target


def outbox_move(state: str, target: str) -> OutboxState:
    """``target`` as an :class:`OutboxState` if a row in ``state`` may move there; else raises
    :class:`IllegalOutboxMove` (or ``ValueError`` for a state that does not exist)."""
    current, nxt = OutboxState(state), OutboxState(target)
    if nxt not in OUTBOX_MOVES[current]:
        raise IllegalOutboxMove(current, nxt)
    return nxt
