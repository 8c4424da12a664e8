"""Recovery in words, and recovery while the app runs.

Recovery settles this station's interrupted requests by asking the terminal about each reference
(discarding intents that were never sent); it never sends a request again. It runs:

- at start (:func:`recover_at_start`, and ``posplus recover`` from a shell);
- by itself while the app runs (:class:`RecoveryLoop`): whenever this station has a request that
  is not settled and no payment holds the terminal, with back-off while the terminal (or the
  database) cannot answer — so an unknown or interrupted payment is settled without a restart;
- on demand, from the Reconcile screen's Recover action (:meth:`RecoveryLoop.run_now`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass

from posplus_tui.domain.transactions import TxnState
from posplus_tui.services.events import PaymentEvent, PaymentEventKind
from posplus_tui.services.hub import EventHub
from posplus_tui.services.payments import PaymentService, RecoveryOutcome, TransactionView

__all__ = ["RecoveryLoop", "RecoveryReport", "recover_at_start"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RecoveryReport:
    outcomes: tuple[RecoveryOutcome, ...]

    @property
    def still_unknown(self) -> tuple[RecoveryOutcome, ...]:
        return tuple(
            o for o in self.outcomes if o.after in (TxnState.UNKNOWN, TxnState.AT_TERMINAL)
        )

    @property
    def settled(self) -> tuple[RecoveryOutcome, ...]:
        return tuple(o for o in self.outcomes if o not in self.still_unknown)

    @property
    def approved(self) -> tuple[RecoveryOutcome, ...]:
        return tuple(o for o in self.outcomes if o.after is TxnState.APPROVED)

    def headline(self) -> str:
        """One sentence for the status bar or a banner ("" when there was nothing to do)."""
        if not self.outcomes:
            return ""
        parts = [f"Recovered {len(self.outcomes)} interrupted request(s)"]
        if self.approved:
            parts.append(f"{len(self.approved)} had been approved and are now recorded")
        if self.still_unknown:
            parts.append(
                f"{len(self.still_unknown)} still unknown: do not charge those cards again; "
                "recovery will ask the terminal again"
            )
        return "; ".join(parts) + "."

    def details(self) -> str:
        """What happened to each request, one per line (for the Reconcile screen)."""
        return "\n".join(
            f"{o.ecr_ref}: {o.before.value.replace('_', ' ')} → "
            f"{o.after.value.replace('_', ' ')}. {o.message}"
            for o in self.outcomes
        )


async def recover_at_start(payments: PaymentService) -> RecoveryReport:
    """What the app runs once its services are built, before the first payment."""
    return RecoveryReport(tuple(await payments.recover()))


class RecoveryLoop:
    """Settles this station's unknown and interrupted requests while the app runs.

    Every ``poll`` seconds (and at once after a payment ends UNKNOWN) it looks for unsettled
    requests; when there are some and the terminal is idle it asks the terminal about them (never
    resending). While some stay unknown, or the database or terminal fails, it waits longer each
    time (``first_delay`` doubling up to ``max_delay``); once everything is settled it is back to
    polling. A request the engine is working on is never touched: the engine holds the terminal.
    """

    def __init__(
        self,
        payments: PaymentService,
        *,
        poll: float = 15.0,
        first_delay: float = 5.0,
        max_delay: float = 300.0,
        busy_retry: float = 1.0,
    ) -> None:
        self.payments = payments
        self.poll = poll
        self.first_delay = first_delay
        self.max_delay = max_delay
        self.busy_retry = busy_retry
        self.failures = 0  # passes in a row that left something unsettled, or failed
        self.last: RecoveryReport | None = None
        self.last_error = ""
        self._wake = asyncio.Event()
        self._hub: EventHub[RecoveryReport] = EventHub("recovery")
        self._lock = asyncio.Lock()
        self._task: asyncio.Task[None] | None = None
        self._unsubscribe = payments.subscribe(self._on_payment)

    def _on_payment(self, event: PaymentEvent) -> None:
        if event.kind is PaymentEventKind.UNKNOWN:
            self.wake()

    def wake(self) -> None:
        """Look again soon (the back-off still applies to requests the terminal could not say)."""
        self._wake.set()

    def subscribe(self, listener: Callable[[RecoveryReport], object]) -> Callable[[], None]:
        """Call ``listener`` with the report of every pass of the loop that settled or tried
        something (not of :meth:`run_now`: its caller has the report)."""
        return self._hub.subscribe(listener)

    async def unsettled(self) -> list[TransactionView]:
        """What is waiting for the terminal's answer: shown as needing a person until settled."""
        return await self.payments.unsettled()

    async def run_now(self) -> RecoveryReport:
        """Recover now (the Reconcile screen's action): ask the terminal about every unsettled
        request of this station. Raises ``TerminalBusy`` while a payment holds the terminal."""
        async with self._lock:
            report = RecoveryReport(tuple(await self.payments.recover(wait=False)))
        self._after(report, notify=False)  # the caller shows it
        return report

    @property
    def delay(self) -> float:
        """How long until the next look: ``poll``, or the back-off while something stays unknown."""
        if self.failures == 0:
            return self.poll
        return min(self.max_delay, self.first_delay * 2.0 ** (self.failures - 1))

    def _after(self, report: RecoveryReport, *, notify: bool = True) -> None:
        self.last = report
        self.last_error = ""
        self.failures = self.failures + 1 if report.still_unknown else 0
        if report.outcomes:
            log.info("recovery: %s", report.headline())
        if report.outcomes and notify:
            self._hub.publish(report)

    async def pass_once(self) -> RecoveryReport | None:
        """One look: ``None`` when nothing was unsettled or the terminal was busy."""
        if not self.payments.idle:
            return None
        if not await self.payments.unsettled():
            self.failures = 0
            return None
        async with self._lock:
            if not self.payments.idle:
                return None
            report = RecoveryReport(tuple(await self.payments.recover(wait=False)))
        self._after(report)
        return report

    async def run(self) -> None:
        """Forever, until cancelled; failures are logged and retried with back-off."""
        wait = self.delay
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), wait)
            self._wake.clear()
            try:
                await self.pass_once()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the database or the terminal is away: try again later
                first = str(exc).splitlines()[0] if str(exc) else ""
                self.last_error = f"{type(exc).__name__}: {first}"[:300]
                log.warning("recovery pass failed: %s", self.last_error)
                self.failures += 1
            # A payment holding the terminal is over in seconds: look again soon, not in minutes.
            wait = min(self.busy_retry, self.delay) if not self.payments.idle else self.delay

    def start(self) -> asyncio.Task[None]:
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self.run(), name="posplus-recovery")
        return self._task

    async def aclose(self) -> None:
        self._unsubscribe()
        if self._task is not None and not self._task.done():
            self._task.cancel()
            with contextlib.suppress(BaseException):
                await self._task
