"""The payment in flight at this station, held by the station rather than by a screen.

A screen that starts a charge, refund or void hands the service call to the :class:`PaymentDesk`,
which runs it as its own task. Leaving the screen (an area key, sign-out, Esc) therefore never
cancels the request: it runs to its end while the clerk moves on, the status bar follows it, and
one key brings the clerk back to it. Only closing the app stops the task, and then the engine
records the request as UNKNOWN, settled by the terminal's status at the next start.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from posplus_tui.domain.money import Money
from posplus_tui.services.errors import TerminalBusy
from posplus_tui.services.events import PaymentEvent, PaymentListener
from posplus_tui.services.hub import EventHub

__all__ = ["DeskListener", "InFlight", "PaymentDesk"]

log = logging.getLogger(__name__)

#: What the desk runs: a payment-service call that reports progress to ``on_event``.
Run = Callable[[PaymentListener], Awaitable[Any]]
DeskListener = Callable[["InFlight"], None]

#: Event kinds in the words the status bar uses while the request is at the terminal.
_WAITING = {
    "intent_recorded": "recorded",
    "sent": "sent to the terminal",
    "cancel_requested": "cancelling…",
    "unknown": "no clear answer, asking the terminal",
}


@dataclass
class InFlight:
    """One request at the terminal, from the moment it is handed over until the clerk has seen
    its outcome."""

    title: str
    what: str  # "Payment", "Deposit", "Refund", "Void"
    amount: Money
    invoice_id: str
    invoice_number: str
    started: float = 0.0  # on the station's monotonic clock
    words: str = "starting"
    last_event: PaymentEvent | None = None
    result: Any = None
    error: BaseException | None = None
    done: bool = False
    #: The outcome has been on a screen in front of the clerk: the status bar lets it go.
    seen: bool = False

    @property
    def outcome_words(self) -> str:
        """The end in a few words: APPROVED, DECLINED, NOT CONFIRMED …"""
        if self.error is not None:
            return "NOT SENT"
        result = self.result
        if result is None:
            return self.words
        if getattr(result, "approved", False):
            return "PARTLY APPROVED" if getattr(result, "is_partial", False) else "APPROVED"
        state = str(getattr(result.state, "value", result.state))
        return {
            "declined": "DECLINED",
            "cancelled": "CANCELLED",
            "unknown": "NOT CONFIRMED",
            "at_terminal": "NOT CONFIRMED",
        }.get(state, "NOT TAKEN")


class PaymentDesk:
    """Holds at most one request in flight for the station (the terminal takes one at a time)."""

    def __init__(self, monotonic: Callable[[], float] = time.monotonic) -> None:
        self._monotonic = monotonic
        self.current: InFlight | None = None
        self._task: asyncio.Task[None] | None = None
        self._hub: EventHub[InFlight] = EventHub("payment desk")

    @property
    def busy(self) -> bool:
        """A request is at the terminal now."""
        return self.current is not None and not self.current.done

    def subscribe(self, listener: DeskListener) -> Callable[[], None]:
        return self._hub.subscribe(listener)

    def _changed(self, flight: InFlight) -> None:
        self._hub.publish(flight)  # a broken screen never breaks a payment

    def start(
        self,
        run: Run,
        *,
        title: str,
        what: str,
        amount: Money,
        invoice_id: str,
        invoice_number: str,
    ) -> InFlight:
        """Hand a request to the station. Refused while another one is at the terminal."""
        if self.busy:
            held = self.current
            assert held is not None
            raise TerminalBusy(
                f"The terminal is busy with {held.title}.",
                "Wait for it to finish (F4 shows it), then try again.",
            )
        flight = InFlight(
            title=title,
            what=what,
            amount=amount,
            invoice_id=str(invoice_id),
            invoice_number=invoice_number,
            started=self._monotonic(),
        )
        self.current = flight
        self._task = asyncio.create_task(self._drive(flight, run), name="posplus-payment")
        self._changed(flight)
        return flight

    async def _drive(self, flight: InFlight, run: Run) -> None:
        def on_event(event: PaymentEvent) -> None:
            kind = str(getattr(event.kind, "value", event.kind))
            if kind == "terminal" and event.terminal_state:
                flight.words = event.terminal_state
            elif kind in _WAITING:
                flight.words = _WAITING[kind]
            flight.last_event = event
            self._changed(flight)

        try:
            flight.result = await run(on_event)
        except asyncio.CancelledError:
            flight.words = "stopped with the app"
            raise
        except Exception as exc:  # refused before sending (rules, busy, no terminal …)
            flight.error = exc
        finally:
            flight.done = True
            self._changed(flight)

    def mark_seen(self, flight: InFlight) -> None:
        if flight.done and not flight.seen:
            flight.seen = True
            self._changed(flight)

    async def wait(self) -> None:
        """Until the request in flight (if any) has finished."""
        task = self._task
        if task is not None and not task.done():
            with contextlib.suppress(BaseException):
                await asyncio.shield(task)

    async def aclose(self) -> None:
        """The app is closing: stop the request (the engine records it UNKNOWN, and the next
        start asks the terminal what happened) and wait until that is written."""
        task = self._task
        if task is not None and not task.done():
            task.cancel()
            with contextlib.suppress(BaseException):
                await task
