"""The reconcile worker: drains the outbox through a :class:`Poster`, exactly once, and verifies.

One batch (≤ 50 rows, the API's ids limit) goes through four steps, each ending in one database
transaction whose events are then published:

1. **claim** rows that are due (``FOR UPDATE SKIP LOCKED`` on PostgreSQL; on SQLite this worker holds
   the single-worker lock);
2. **check** rows left ``posting`` by an earlier attempt whose outcome is unknown (a lost reply, a
   crash): search ServiceTitan for the marker, and post only if it is not there;
3. **post** the rest concurrently, after one batched read of the invoices' balances;
4. **verify** with one batched read of the invoices: the balance must have moved by exactly our
   amount, else a mismatch with both numbers.

429/5xx back off and retry; validation errors stop the row as ``needs_attention`` with the
server's words and what to do. Nothing is ever posted twice: a row whose POST might have landed is
never re-posted before a search says it did not.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Callable

from posplus_tui.services.errors import ServiceError
from posplus_tui.services.reconcile import model as m
from posplus_tui.services.reconcile.batch import BatchSteps
from posplus_tui.services.reconcile.poster import OutcomeUnknown, RetryLater, SetupProblem
from posplus_tui.services.reconcile.worker_base import CLAIM

log = logging.getLogger(__name__)


class ReconcileStopped(ServiceError):
    """The worker cannot go on until a person fixes something (``fix``)."""


class ReconcileWorker(BatchSteps):
    """Drains the outbox. Use :meth:`drain_once` (headless ``--once``) or :meth:`run` (follow)."""

    def wake(self) -> None:
        """Something new is in the outbox: stop waiting and look now."""
        self._wake.set()

    def stop(self) -> None:
        """Finish the step in hand and return from :meth:`run`; holds until :meth:`resume`, so
        a stop that comes while the follower is still starting (taking the lock) is kept."""
        self._stopping = True
        self._wake.set()

    def resume(self) -> None:
        """Allow :meth:`run` again after :meth:`stop` (a service started anew)."""
        self._stopping = False

    async def prepare(self) -> None:
        """Resolve the payment type and check the channel; raises :class:`ReconcileStopped`."""
        tries = 8
        for attempt in range(1, tries + 1):
            try:
                await self.poster.prepare()
                break
            except SetupProblem as exc:
                await self._publish_setup_error(exc.message, exc.fix)
                raise ReconcileStopped(exc.message, exc.fix) from exc
            except (RetryLater, OutcomeUnknown) as exc:
                if attempt == tries:
                    raise ReconcileStopped(
                        "ServiceTitan could not be reached to check the payment type "
                        f"({exc.message}).",
                        "Check the internet connection; payments wait safely in the outbox.",
                    ) from exc
                await asyncio.sleep(
                    self.backoff.delay(attempt, retry_after=getattr(exc, "retry_after", None))
                )
        self._prepared = True

    async def drain_once(
        self,
        *,
        wait_for_retries: bool = True,
        deadline: float | None = None,
        on_progress: Callable[[m.DrainProgress], None] | None = None,
    ) -> m.DrainProgress:
        """Post everything in the outbox now, then return the totals.

        With ``wait_for_retries`` it also waits out back-offs until every row it can reach is final
        (posted and verified, needs attention, mismatch, cancelled) or ``deadline`` (monotonic) passes.
        """
        if not self._prepared:
            await self.prepare()
        self.progress = m.DrainProgress(started=time.monotonic())
        async with self._beating():
            return await self._drain_until_done(wait_for_retries, deadline, on_progress)

    async def _drain_until_done(
        self,
        wait_for_retries: bool,
        deadline: float | None,
        on_progress: Callable[[m.DrainProgress], None] | None,
    ) -> m.DrainProgress:
        while not self._stopping:
            handled = await self._drain_lanes(on_progress)
            if handled:
                continue
            now = self.clock()
            open_rows, next_due = await asyncio.to_thread(
                self.store.open_status, self.worker_id, now, now - self.lease
            )
            self.progress.remaining = open_rows
            if on_progress:
                on_progress(self.progress)
            if not open_rows or not wait_for_retries:
                break
            if deadline is not None and time.monotonic() >= deadline:
                break
            wait = 1.0 if next_due is None else (next_due - now).total_seconds()
            await self._sleep(min(max(wait, 0.02), 5.0))
        return self.progress

    async def run(self, *, poll_seconds: float = 5.0) -> None:
        """Follow the outbox until :meth:`stop`: the in-app background task and ``--follow``.

        A setup problem pauses the worker (with a SETUP_ERROR event) and it tries again later;
        any other error is logged and the loop goes on.
        """
        async with self._beating():
            await self._follow(poll_seconds)
        with contextlib.suppress(Exception):
            await asyncio.to_thread(self.store.release, self.worker_id)

    async def _follow(self, poll_seconds: float) -> None:
        backoff_after_setup = 30.0
        while not self._stopping:
            try:
                if not self._prepared:
                    await self.prepare()
                handled = await self._drain_lanes(None)
                if handled:
                    continue
                now = self.clock()
                _, next_due = await asyncio.to_thread(
                    self.store.open_status, self.worker_id, now, now - self.lease
                )
                wait = poll_seconds
                if next_due is not None:
                    wait = min(poll_seconds, max(0.02, (next_due - now).total_seconds()))
                await self._sleep(wait)
            except ReconcileStopped:
                self._prepared = False
                await self._sleep(backoff_after_setup)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("reconcile worker: unexpected error; continuing")
                await self._sleep(poll_seconds)

    @contextlib.asynccontextmanager
    async def _beating(self) -> AsyncIterator[None]:
        """Beat while draining, so a worker that dies is seen as gone within seconds."""

        async def beat() -> None:
            while True:
                with contextlib.suppress(Exception):
                    await asyncio.to_thread(self.store.beat, self.worker_id, self.clock())
                await asyncio.sleep(self.beat_seconds)

        task = asyncio.create_task(beat())
        try:
            yield
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            with contextlib.suppress(Exception):
                await asyncio.to_thread(self.store.forget, self.worker_id)

    async def _drain_lanes(self, on_progress: Callable[[m.DrainProgress], None] | None) -> int:
        """Run batches in ``lanes`` parallel loops until nothing is due; returns rows handled."""

        async def lane(k: int) -> int:
            CLAIM.set(f"{self.worker_id}#{k}")
            total = 0
            while not self._stopping:
                handled = await self.run_batch()
                if on_progress:
                    on_progress(self.progress)
                if not handled:
                    break
                total += handled
            return total

        if self.lanes == 1:
            return await lane(0)
        results = await asyncio.gather(*(lane(k) for k in range(self.lanes)))
        return sum(results)

    async def run_batch(self) -> int:
        """Claim, check, post and verify one batch; returns how many rows it handled."""
        now = self.clock()
        items = await asyncio.to_thread(
            self.store.claim, self._claim_id(), self.batch_size, now, now - self.lease
        )
        if not items:
            return 0
        self.progress.claimed += len(items)
        heart = asyncio.create_task(self._heartbeat([i.outbox_id for i in items]))
        self._setup_problem = None
        try:
            await self._process(items)
        finally:
            heart.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await heart
            # every path releases its rows; this is the safety net (a row is never held on)
            with contextlib.suppress(Exception):
                await asyncio.to_thread(self.store.release, self._claim_id())
        problem = self._setup_problem
        if problem is not None:
            await self._publish_setup_error(problem.message, problem.fix)
            raise ReconcileStopped(problem.message, problem.fix)
        return len(items)
