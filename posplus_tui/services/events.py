"""Progress events from the payment engine, for the UI to follow a payment as it happens.

Plain frozen dataclasses: the UI never needs the drivers or the ledger to read them. Listen with a
callback (``PaymentService.subscribe``, or ``on_event=`` on one call) or an async iterator
(``PaymentService.events()``), both through the services' one :class:`~posplus_tui.services.hub.EventHub`.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from posplus_tui.domain.money import Money

__all__ = ["PaymentEvent", "PaymentEventKind", "PaymentListener"]


class PaymentEventKind(enum.StrEnum):
    INTENT_RECORDED = "intent_recorded"  # the request is safely in the ledger
    SENT = "sent"  # handed to the terminal
    TERMINAL = "terminal"  # what the terminal is doing: waiting for card, PIN, authorising …
    APPROVED = "approved"
    PARTIAL = "partial"  # approved for less than asked
    DECLINED = "declined"
    CANCELLED = "cancelled"
    FAILED = "failed"  # the terminal refused before any money moved
    UNKNOWN = "unknown"  # outcome unknown: being checked with the terminal, never resent
    CANCEL_REQUESTED = "cancel_requested"
    RECOVERED = "recovered"  # recovery settled an interrupted request
    BATCH_CLOSED = "batch_closed"


@dataclass(frozen=True)
class PaymentEvent:
    kind: PaymentEventKind
    ecr_ref: str
    message: str
    amount: Money | None = None
    #: for TERMINAL events: the terminal's state in words ("waiting for card" …)
    terminal_state: str = ""
    time: datetime = field(default_factory=lambda: datetime.now(UTC))


PaymentListener = Callable[[PaymentEvent], None]
