"""What the app and the CLI use: one object that runs the worker in the background, streams its
events, and offers the summary, the history and the supervisor's actions.

On SQLite only one worker may drain the outbox (the file has no row locks): the service holds a
lease in ``reconcile_locks`` while it runs. On PostgreSQL every station runs a worker and the
workers share the rows with ``FOR UPDATE SKIP LOCKED``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from datetime import date, datetime
from typing import Any

from posplus_tui.domain.outbox import OUTBOX_ATTENTION_STATES
from posplus_tui.domain.roles import Action
from posplus_tui.ledger import Ledger
from posplus_tui.services.card_guard import refuse_card_data
from posplus_tui.services.errors import SupervisorRequired
from posplus_tui.services.operators import OperatorInfo
from posplus_tui.services.reconcile import model as m
from posplus_tui.services.reconcile.events import EventBus, EventKind, ReconcileEvent
from posplus_tui.services.reconcile.poster import Poster
from posplus_tui.services.reconcile.store import ReconcileStore
from posplus_tui.services.reconcile.summary import ReconcileSummary
from posplus_tui.services.reconcile.worker import ReconcileStopped, ReconcileWorker

log = logging.getLogger(__name__)

#: Payment events after which there is something new in the outbox.
_WAKE_KINDS = {"approved", "partial", "recovered"}
LOCK_TTL = 30.0


def _only_supervisors() -> SupervisorRequired:
    return SupervisorRequired(
        "Only a supervisor can change a posting.",
        "Ask a supervisor to sign in, or to approve with their PIN.",
    )


class ReconcileService:
    """The reconcile worker, its event stream, and the supervisor's actions on postings."""

    def __init__(
        self,
        ledger: Ledger,
        poster: Poster,
        *,
        station: str = "",
        bus: EventBus | None = None,
        operators: Any = None,
        lock_ttl: float = LOCK_TTL,
        **worker_options: Any,
    ) -> None:
        self.ledger = ledger
        self.store = ReconcileStore(ledger.engine)
        self.bus = bus or EventBus()
        self.station = station
        self.operators = operators
        self.lock_ttl = lock_ttl
        self.worker = ReconcileWorker(
            self.store, poster, bus=self.bus, station=station, **worker_options
        )
        self._task: asyncio.Task[None] | None = None
        self._unsubscribe: list[Callable[[], None]] = []

    # -- events ----------------------------------------------------------------------------------

    def subscribe(self, callback: Callable[[ReconcileEvent], Any]) -> Callable[[], None]:
        return self.bus.subscribe(callback)

    def events(self) -> AsyncIterator[ReconcileEvent]:
        return self.bus.stream()

    def follow_payments(self, payments: Any) -> None:
        """Wake the worker as soon as the payment engine approves something."""

        def on_payment(event: Any) -> None:
            if str(getattr(event, "kind", "")) in _WAKE_KINDS:
                self.worker.wake()

        self._unsubscribe.append(payments.subscribe(on_payment))

    # -- running ---------------------------------------------------------------------------------

    @property
    def needs_lock(self) -> bool:
        return not self.store.is_postgres

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    async def start(self) -> None:
        """Run the worker as a background task (the in-app worker and ``--follow``)."""
        if self.running:
            return
        self.worker.resume()
        self._task = asyncio.create_task(self._follow(), name="posplus-reconcile")

    async def stop(self) -> None:
        self.worker.stop()
        for unsubscribe in self._unsubscribe:
            unsubscribe()
        self._unsubscribe.clear()
        if self._task is not None:
            try:
                await asyncio.wait_for(asyncio.shield(self._task), timeout=10)
            except (TimeoutError, asyncio.CancelledError):
                self._task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await self._task
            self._task = None

    async def run_forever(self) -> None:
        await self._follow()

    async def _follow(self) -> None:
        announced = False
        while not self.worker._stopping:
            if self.needs_lock:
                holder = await asyncio.to_thread(
                    self.store.acquire_lock, self.worker.worker_id, self.lock_ttl
                )
                if holder is not None:
                    if not announced:
                        self.bus.publish(
                            ReconcileEvent.now(
                                EventKind.SETUP_ERROR,
                                f"Another posplus ({holder.split(':')[0]}) is posting this "
                                "ledger's payments; this one waits and takes over if it stops.",
                                station=self.station,
                            )
                        )
                        announced = True
                    await self.worker._sleep(self.lock_ttl / 2)
                    continue
                await asyncio.to_thread(self.store.release_other_claims, self.worker.worker_id)
            else:
                await asyncio.to_thread(self.store.release_dead_claims)
            renew = asyncio.create_task(self._renew_lock()) if self.needs_lock else None
            try:
                await self.worker.run()
            finally:
                if renew is not None:
                    renew.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await renew
                if self.needs_lock:
                    with contextlib.suppress(Exception):
                        await asyncio.to_thread(self.store.release_lock, self.worker.worker_id)
            return

    async def _renew_lock(self) -> None:
        while True:
            await asyncio.sleep(self.lock_ttl / 3)
            try:
                holder = await asyncio.to_thread(
                    self.store.acquire_lock, self.worker.worker_id, self.lock_ttl
                )
            except Exception:
                log.exception("reconcile: renewing the worker lock failed")
                continue
            if holder is not None:  # someone took over (our lease ran out): stop posting
                log.error("reconcile: lost the worker lock to %s; stopping", holder)
                self.worker.stop()
                return

    async def drain_once(
        self,
        *,
        wait_for_retries: bool = True,
        deadline: float | None = None,
        on_progress: Callable[[m.DrainProgress], None] | None = None,
    ) -> m.DrainProgress:
        """Post everything now and return the totals (``posplus reconcile --once``)."""
        if self.needs_lock:
            holder = await asyncio.to_thread(
                self.store.acquire_lock, self.worker.worker_id, self.lock_ttl
            )
            if holder is not None:
                raise ReconcileStopped(
                    f"Another posplus is already posting this ledger's payments ({holder}).",
                    "Wait for it to finish, or stop it, then run this again.",
                )
            await asyncio.to_thread(self.store.release_other_claims, self.worker.worker_id)
        else:
            await asyncio.to_thread(self.store.release_dead_claims)
        renew = asyncio.create_task(self._renew_lock()) if self.needs_lock else None
        try:
            return await self.worker.drain_once(
                wait_for_retries=wait_for_retries, deadline=deadline, on_progress=on_progress
            )
        finally:
            if renew is not None:
                renew.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await renew
            with contextlib.suppress(Exception):
                await asyncio.to_thread(self.store.release, self.worker.worker_id)
            if self.needs_lock:
                with contextlib.suppress(Exception):
                    await asyncio.to_thread(self.store.release_lock, self.worker.worker_id)

    def wake(self) -> None:
        self.worker.wake()

    # -- what the screen reads ---------------------------------------------------------------------

    async def history(
        self, limit: int = 500, *, outbox_id: int | None = None
    ) -> list[ReconcileEvent]:
        return await asyncio.to_thread(self.store.history, limit, outbox_id=outbox_id)

    async def summary(self, day: date | None = None) -> ReconcileSummary:
        return await asyncio.to_thread(
            self.store.summary, day or datetime.now().astimezone().date()
        )

    async def counts(self) -> dict[str, int]:
        return await asyncio.to_thread(self.store.counts)

    async def mismatches(self, *, include_resolved: bool = False) -> list[m.MismatchRecord]:
        return await asyncio.to_thread(self.store.mismatches, include_resolved=include_resolved)

    async def postings(
        self, states: tuple[str, ...] = tuple(OUTBOX_ATTENTION_STATES)
    ) -> list[m.PostingView]:
        return await asyncio.to_thread(self.store.postings, states)

    # -- supervisor actions --------------------------------------------------------------------------

    def _actor(self, operator: Any, approval: Any, outbox_id: int = 0) -> str:
        """Who changes a posting: a supervisor, or an operator with a supervisor's approval for
        exactly this action on this posting. Checked against the ledger by the operator service
        (the role is never trusted from the caller: without an operator service, or with an
        object that is not a signed-in operator, nobody may); the approval is used up here."""
        if self.operators is None or not isinstance(operator, OperatorInfo):
            raise _only_supervisors()
        supervisor = self.operators.authorize_sync(
            operator, Action.RESOLVE_POSTING, approval, target=str(outbox_id)
        )
        assert supervisor is not None  # a supervisor action always names its approver
        if supervisor.id == operator.id:
            return str(supervisor.name)
        self.operators.spend(approval)
        return f"{operator.name} (approved by {supervisor.name})"

    async def retry_now(self, outbox_id: int, *, operator: Any, approval: Any = None) -> None:
        actor = await asyncio.to_thread(self._actor, operator, approval, outbox_id)
        events = await asyncio.to_thread(self.store.retry_now, outbox_id, actor, self.station)
        self.bus.publish_many(events)
        self.worker.wake()

    async def mark_posted_by_hand(
        self,
        outbox_id: int,
        note: str,
        *,
        operator: Any,
        approval: Any = None,
        st_payment_id: str | None = None,
    ) -> None:
        refuse_card_data(note, "note")
        actor = await asyncio.to_thread(self._actor, operator, approval, outbox_id)
        events = await asyncio.to_thread(
            lambda: self.store.mark_posted_by_hand(
                outbox_id, actor, note, st_payment_id=st_payment_id, station=self.station
            )
        )
        self.bus.publish_many(events)
        self.worker.wake()

    async def cancel(
        self, outbox_id: int, note: str, *, operator: Any, approval: Any = None
    ) -> None:
        refuse_card_data(note, "note")
        actor = await asyncio.to_thread(self._actor, operator, approval, outbox_id)
        events = await asyncio.to_thread(
            lambda: self.store.cancel(outbox_id, actor, note, station=self.station)
        )
        self.bus.publish_many(events)
