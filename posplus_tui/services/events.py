"""Progress events from the payment engine, for the UI to follow a payment as it happens.

Plain frozen dataclasses: the UI never needs the drivers or the ledger to read them. Listen with a
callback (``PaymentService.subscribe``, or ``on_event=`` on one call) or an async iterator
(``PaymentService.events()``).
"""

from __future__ import annotations

import asyncio
import enum
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from posplus_tui.domain.money import Money

__all__ = ["EventHub", "PaymentEvent", "PaymentEventKind", "PaymentListener"]


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


class EventHub:
    """Fan-out to callbacks and async-iterator subscribers. A failing listener never breaks a payment."""

    def __init__(self) -> None:
        self._listeners: list[PaymentListener] = []
        self._queues: list[asyncio.Queue[PaymentEvent]] = []

    def subscribe(self, listener: PaymentListener) -> Callable[[], None]:
        self._listeners.append(listener)

        def unsubscribe() -> None:
            if listener in self._listeners:
                self._listeners.remove(listener)

        return unsubscribe

    async def stream(self) -> AsyncIterator[PaymentEvent]:
        queue: asyncio.Queue[PaymentEvent] = asyncio.Queue()
        self._queues.append(queue)
        try:
            while True:
                yield await queue.get()
        finally:
            self._queues.remove(queue)

    def emit(self, event: PaymentEvent, extra: PaymentListener | None = None) -> None:
        for listener in [*self._listeners, *([extra] if extra else [])]:
            try:
                listener(event)
            except Exception:  # a broken screen must not lose a payment
                continue
        for queue in self._queues:
            queue.put_nowait(event)
