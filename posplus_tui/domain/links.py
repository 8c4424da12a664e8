"""The life of a payment link in the ledger: its states and the one function that moves it.

A link is the intent of a card-not-present payment. Its row is written (INTENT) and committed
before the provider is asked to create it; an ambiguous create leaves it UNKNOWN until the provider
is asked by our reference (never created again blindly). Once paid, the payment itself is an
ordinary approved transaction (tender ``link``) that goes to ServiceTitan through the outbox.

    INTENT ──created──▶ CREATED ──sent──▶ SENT ──paid──▶ PAID ──refund──▶ PARTIALLY_REFUNDED / REFUNDED
      │  └─lost─▶ UNKNOWN ──found──▶ CREATED       │ └─expired / deactivated─▶ EXPIRED / DEACTIVATED
      └─refused─▶ FAILED     └─not found─▶ FAILED  └──(a late payment still wins: EXPIRED/DEACTIVATED ──paid──▶ PAID)

Pure, like :mod:`posplus_tui.domain.transactions`.
"""

from __future__ import annotations

import enum

__all__ = [
    "LINK_HOLDING_STATES",
    "LINK_OPEN_STATES",
    "LINK_TRANSITIONS",
    "IllegalLinkMove",
    "LinkEvent",
    "LinkStatus",
    "link_transition",
]


class LinkStatus(enum.StrEnum):
    INTENT = "intent"  # written and committed; the provider not asked yet
    UNKNOWN = "unknown"  # asked; the answer was lost: settle by our reference
    FAILED = "failed"  # the provider refused, or has no link with our reference
    CREATED = "created"  # the provider made it: a URL exists
    SENT = "sent"  # e-mailed, texted or shown as a QR code (may be sent again)
    PAID = "paid"
    EXPIRED = "expired"
    DEACTIVATED = "deactivated"
    PARTIALLY_REFUNDED = "partially_refunded"
    REFUNDED = "refunded"


class LinkEvent(enum.StrEnum):
    CREATED = "created"
    LOST = "lost"
    REFUSED = "refused"
    NOT_FOUND = "not_found"
    SENT = "sent"
    PAID = "paid"
    EXPIRED = "expired"
    DEACTIVATED = "deactivated"
    PARTIAL_REFUND = "partial_refund"
    FULL_REFUND = "full_refund"


class IllegalLinkMove(ValueError):
    def __init__(self, state: LinkStatus, event: LinkEvent) -> None:
        allowed = sorted(e.value for e in LINK_TRANSITIONS.get(state, {}))
        hint = f"allowed: {', '.join(allowed)}" if allowed else "it is final"
        super().__init__(f"a link {state.value} cannot take {event.value} ({hint})")
        self.state = state
        self.event = event


S, E = LinkStatus, LinkEvent
_CLOSE = {E.PAID: S.PAID, E.EXPIRED: S.EXPIRED, E.DEACTIVATED: S.DEACTIVATED}

LINK_TRANSITIONS: dict[LinkStatus, dict[LinkEvent, LinkStatus]] = {
    S.INTENT: {E.CREATED: S.CREATED, E.LOST: S.UNKNOWN, E.REFUSED: S.FAILED},
    S.UNKNOWN: {E.CREATED: S.CREATED, E.LOST: S.UNKNOWN, E.NOT_FOUND: S.FAILED},
    S.FAILED: {},
    S.CREATED: {E.SENT: S.SENT, **_CLOSE},
    S.SENT: {E.SENT: S.SENT, **_CLOSE},
    # The provider is the source of truth: a payment that completed before the switch-off wins.
    S.EXPIRED: {E.PAID: S.PAID},
    S.DEACTIVATED: {E.PAID: S.PAID},
    S.PAID: {E.PARTIAL_REFUND: S.PARTIALLY_REFUNDED, E.FULL_REFUND: S.REFUNDED},
    S.PARTIALLY_REFUNDED: {E.PARTIAL_REFUND: S.PARTIALLY_REFUNDED, E.FULL_REFUND: S.REFUNDED},
    S.REFUNDED: {},
}


def link_transition(state: LinkStatus | str, event: LinkEvent | str) -> LinkStatus:
    """The state after ``event``; raises :class:`IllegalLinkMove` for a pair the diagram forbids."""
    state, event = LinkStatus(state), LinkEvent(event)
    try:
        return LINK_TRANSITIONS[state][event]
    except KeyError:
        raise IllegalLinkMove(state, event) from None


#: The customer may still pay through it: the poller watches these, a deactivate applies.
LINK_OPEN_STATES = frozenset({S.CREATED, S.SENT})
#: Its amount is held on the invoice (it may be, or become, payable): no double collection.
LINK_HOLDING_STATES = frozenset({S.INTENT, S.UNKNOWN, S.CREATED, S.SENT})
