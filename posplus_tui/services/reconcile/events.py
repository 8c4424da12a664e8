"""The reconciliation stream: one event per step, fanned out to whoever listens.

The worker stores every event in the ledger (in the same database transaction as the state change it
describes) and then publishes it here, so the reconciliation screen can show live progress and,
after a restart, the history read back from the ledger.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum

from posplus_tui.domain.money import Money

log = logging.getLogger(__name__)


class EventKind(StrEnum):
    """Every step a posting goes through, as the clerk and supervisor see it."""

    QUEUED = "queued"
    POSTING = "posting"
    POSTED = "posted"
    VERIFIED = "verified"
    RETRY = "retry"
    NEEDS_ATTENTION = "needs_attention"
    MISMATCH = "mismatch"
    CANCELLED = "cancelled"
    RESOLVED = "resolved"
    SETUP_ERROR = "setup_error"


@dataclass(frozen=True)
class ReconcileEvent:
    """One step: when, which transaction, which invoice, how much, and what happened in words."""

    time: datetime
    transaction_ref: str
    invoice_number: str
    amount: Money
    kind: EventKind
    message: str
    outbox_id: int | None = None
    retry_in: float | None = None
    station: str = ""
    id: int | None = field(default=None, compare=False)

    @classmethod
    def now(
        cls,
        kind: EventKind,
        message: str,
        *,
        transaction_ref: str = "",
        invoice_number: str = "",
        amount: Money | None = None,
        outbox_id: int | None = None,
        retry_in: float | None = None,
        station: str = "",
    ) -> ReconcileEvent:
        return cls(
            time=datetime.now(UTC),
            transaction_ref=transaction_ref,
            invoice_number=invoice_number,
            amount=amount if amount is not None else Money(0),
            kind=EventKind(kind),
            message=message,
            outbox_id=outbox_id,
            retry_in=retry_in,
            station=station,
        )


Callback = Callable[[ReconcileEvent], None] | Callable[[ReconcileEvent], Awaitable[None]]


class EventBus:
    """Publish/subscribe for :class:`ReconcileEvent`: callbacks and async iterators.

    A slow async-iterator subscriber never blocks the worker: its queue is bounded and the oldest
    events are dropped (the history in the ledger stays complete).
    """

    def __init__(self, queue_size: int = 10_000) -> None:
        self._callbacks: list[Callback] = []
        self._queues: list[asyncio.Queue[ReconcileEvent | None]] = []
        self._queue_size = queue_size
        self._tasks: set[asyncio.Task[None]] = set()

    def subscribe(self, callback: Callback) -> Callable[[], None]:
        """Call ``callback(event)`` for every event; returns a function that unsubscribes."""
        self._callbacks.append(callback)

        def unsubscribe() -> None:
            with contextlib.suppress(ValueError):
                self._callbacks.remove(callback)

        return unsubscribe

    async def stream(self) -> AsyncIterator[ReconcileEvent]:
        """``async for event in bus.stream(): ...`` until :meth:`close`."""
        queue: asyncio.Queue[ReconcileEvent | None] = asyncio.Queue(self._queue_size)
        self._queues.append(queue)
        try:
            while True:
                event = await queue.get()
                if event is None:
                    return
                yield event
        finally:
            with contextlib.suppress(ValueError):
                self._queues.remove(queue)

    def publish(self, event: ReconcileEvent) -> None:
        """Deliver ``event`` to every subscriber (call from the event loop's thread)."""
        for queue in list(self._queues):
            if queue.full():
                with contextlib.suppress(asyncio.QueueEmpty):
                    queue.get_nowait()
            queue.put_nowait(event)
        for callback in list(self._callbacks):
            try:
                result = callback(event)
                if inspect.isawaitable(result):
                    task = asyncio.ensure_future(result)
                    self._tasks.add(task)
                    task.add_done_callback(self._task_done)
            except Exception:  # a broken listener must never stop the worker
                log.exception("reconcile event subscriber failed")

    def publish_many(self, events: list[ReconcileEvent]) -> None:
        for event in events:
            self.publish(event)

    def close(self) -> None:
        """End every ``stream()`` iterator."""
        for queue in list(self._queues):
            if queue.full():
                with contextlib.suppress(asyncio.QueueEmpty):
                    queue.get_nowait()
            queue.put_nowait(None)

    def _task_done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("reconcile event subscriber failed", exc_info=task.exception())
