"""The reconcile worker's settings and the small helpers every step uses (see ``worker``)."""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import os
import socket
import uuid
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from posplus_tui.domain.money import Money
from posplus_tui.services.reconcile import model as m
from posplus_tui.services.reconcile.backoff import DEFAULT_BACKOFF, Backoff
from posplus_tui.services.reconcile.events import EventBus, EventKind, ReconcileEvent
from posplus_tui.services.reconcile.poster import Poster, SetupProblem

#: ServiceTitan's ``ids`` filters take at most 50 ids: one batch, one read.
MAX_BATCH = 50
#: The claim id of the lane running in this task (``<worker id>#<lane>``).
CLAIM: contextvars.ContextVar[str] = contextvars.ContextVar("reconcile_claim")


class WorkerStore(Protocol):
    """What the worker needs from the ledger (blocking calls, run in a thread)."""

    def claim(
        self, worker_id: str, limit: int, now: datetime, stale_before: datetime
    ) -> list[m.OutboxItem]: ...

    def apply(self, batch: m.Batch, worker_id: str, now: datetime) -> list[ReconcileEvent]: ...

    def cancel_unposted_original(
        self, void: m.OutboxItem, worker_id: str, now: datetime, station: str
    ) -> list[ReconcileEvent] | None: ...

    def open_status(
        self, worker_id: str, now: datetime, stale_before: datetime
    ) -> tuple[int, datetime | None]: ...

    def heartbeat(self, worker_id: str, outbox_ids: Sequence[int], now: datetime) -> None: ...

    def beat(self, worker_id: str, now: datetime) -> None: ...

    def forget(self, worker_id: str) -> None: ...

    def release(self, worker_id: str) -> None: ...


def make_worker_id(station: str) -> str:
    """Unique per worker instance: station, host, pid and a random tail (claims name it)."""
    return f"{station}@{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


class WorkerBase:
    """The worker's settings, its progress and the helpers its steps share."""

    def __init__(
        self,
        store: WorkerStore,
        poster: Poster,
        *,
        bus: EventBus | None = None,
        station: str = "",
        batch_size: int = MAX_BATCH,
        concurrency: int = 8,
        backoff: Backoff = DEFAULT_BACKOFF,
        unknown_backoff: Backoff | None = None,
        max_attempts: int = 25,
        lanes: int = 2,
        doubt_wait: float = 100.0,
        doubt_patience: float | None = None,
        lease_seconds: float = 120.0,
        beat_seconds: float = 3.0,
        dependency_wait: float = 2.0,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.store = store
        self.poster = poster
        self.bus = bus or EventBus()
        self.station = station
        self.worker_id = make_worker_id(station or "posplus")
        self.batch_size = max(1, min(MAX_BATCH, batch_size))
        self.concurrency = max(1, concurrency)
        self.backoff = backoff
        self.unknown_backoff = unknown_backoff or Backoff(base=0.5, factor=2, cap=30, jitter=0.2)
        self.max_attempts = max_attempts
        #: Batches in flight at once: one lane's database work overlaps another's requests.
        self.lanes = max(1, lanes)
        #: After a lost reply, how long the server may still be working on the request
        #: (ServiceTitan's own timeout is 100 s): the marker search waits at least this long,
        #: or a payment saved late would be posted a second time.
        self.doubt_wait = doubt_wait
        #: How long the sources may disagree (the search finds nothing, the balance moved)
        #: before a person is asked: lists and exports can lag the balance.
        self.doubt_patience = doubt_patience if doubt_patience is not None else 4 * doubt_wait
        self.lease = timedelta(seconds=lease_seconds)
        #: How often the worker says it is alive (the store frees the claims of a silent one).
        self.beat_seconds = beat_seconds
        self.dependency_wait = dependency_wait
        self.clock = clock
        self.progress = m.DrainProgress()
        self._wake = asyncio.Event()
        self._prepared = False
        self._stopping = False
        self._setup_problem: SetupProblem | None = None

    def _claim_id(self) -> str:
        return CLAIM.get(self.worker_id)

    async def _gather(self, fn, items: list[m.OutboxItem], batch: m.Batch) -> list[Any]:  # type: ignore[no-untyped-def]
        sem = asyncio.Semaphore(self.concurrency)

        async def one(item: m.OutboxItem):  # type: ignore[no-untyped-def]
            async with sem:
                return await fn(item, batch)

        return await asyncio.gather(*(one(i) for i in items))

    async def _commit(self, batch: m.Batch) -> None:
        if not batch:
            return
        stored = await asyncio.to_thread(self.store.apply, batch, self._claim_id(), self.clock())
        self.bus.publish_many(stored)

    async def _heartbeat(self, ids: list[int]) -> None:
        claim = self._claim_id()
        interval = max(1.0, self.lease.total_seconds() / 3)
        while True:
            await asyncio.sleep(interval)
            with contextlib.suppress(Exception):
                await asyncio.to_thread(self.store.heartbeat, claim, ids, self.clock())

    async def _sleep(self, seconds: float) -> None:
        self._wake.clear()
        if self._stopping:  # stop() came while a step ran: its wake-up was just cleared
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), timeout=seconds)

    async def _publish_setup_error(self, message: str, fix: str) -> None:
        event = ReconcileEvent.now(EventKind.SETUP_ERROR, f"{message} {fix}", station=self.station)
        with contextlib.suppress(Exception):
            stored = await asyncio.to_thread(
                self.store.apply, m.Batch(events=[event]), self.worker_id, self.clock()
            )
            self.bus.publish_many(stored)
            return
        self.bus.publish(event)

    def _event(
        self, item: m.OutboxItem, kind: EventKind, message: str, *, retry_in: float | None = None
    ) -> ReconcileEvent:
        p = item.posting
        amount = -abs(p.amount) if p.action != "post_payment" else abs(p.amount)
        return ReconcileEvent.now(
            kind,
            message,
            transaction_ref=p.marker.removeprefix("POSPLUS-"),
            invoice_number=p.invoice_number,
            amount=amount,
            outbox_id=p.outbox_id,
            retry_in=retry_in,
            station=self.station,
        )

    def _recent(self, item: m.OutboxItem) -> bool:
        """Posted (or found) within the time lists may take to show it."""
        if item.attempted_at is None:
            return False
        return (self.clock() - item.attempted_at).total_seconds() < self.doubt_patience

    @staticmethod
    def _delta(item: m.OutboxItem) -> Money:
        return (
            item.expected_delta if item.expected_delta is not None else item.posting.balance_delta
        )

    @staticmethod
    def _what(item: m.OutboxItem) -> str:
        p = item.posting
        noun = {"post_payment": "payment", "post_refund": "refund", "void_payment": "void"}.get(
            p.action, p.action
        )
        return f"{noun} of {abs(p.amount)} on invoice {p.invoice_number or p.invoice_id}"

    @staticmethod
    def _invoice_label(item: m.OutboxItem) -> str:
        if item.result_invoice_id and item.result_invoice_id != item.posting.invoice_id:
            return f"(adjustment id {item.result_invoice_id})"
        return item.posting.invoice_number or str(item.posting.invoice_id)
