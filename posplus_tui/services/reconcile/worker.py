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
import contextvars
import logging
import os
import socket
import time
import uuid
from collections import defaultdict
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from posplus_tui.domain.money import Money
from posplus_tui.services.errors import ServiceError
from posplus_tui.services.reconcile import model as m
from posplus_tui.services.reconcile.backoff import DEFAULT_BACKOFF, Backoff
from posplus_tui.services.reconcile.events import EventBus, EventKind, ReconcileEvent
from posplus_tui.services.reconcile.poster import (
    InvoiceState,
    NeedsAttention,
    OutcomeUnknown,
    Poster,
    PosterError,
    PostResult,
    RetryLater,
    SetupProblem,
)

log = logging.getLogger(__name__)

#: ServiceTitan's ``ids`` filters take at most 50 ids: one batch, one read.
MAX_BATCH = 50
#: The claim id of the lane running in this task (``<worker id>#<lane>``).
_CLAIM: contextvars.ContextVar[str] = contextvars.ContextVar("reconcile_claim")


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


class ReconcileStopped(ServiceError):
    """The worker cannot go on until a person fixes something (``fix``)."""


def make_worker_id(station: str) -> str:
    """Unique per worker instance: station, host, pid and a random tail (claims name it)."""
    return f"{station}@{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


class ReconcileWorker:
    """Drains the outbox. Use :meth:`drain_once` (headless ``--once``) or :meth:`run` (follow)."""

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

    # -- public --------------------------------------------------------------------------------

    def wake(self) -> None:
        """Something new is in the outbox: stop waiting and look now."""
        self._wake.set()

    def stop(self) -> None:
        self._stopping = True
        self._wake.set()

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
        self._stopping = False
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
            _CLAIM.set(f"{self.worker_id}#{k}")
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

    def _claim_id(self) -> str:
        return _CLAIM.get(self.worker_id)

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

    # -- the batch -----------------------------------------------------------------------------

    async def _process(self, items: list[m.OutboxItem]) -> None:
        batch = m.Batch()
        ready: list[m.OutboxItem] = []
        # A void claimed together with its never-tried sale: neither goes to ServiceTitan.
        by_id = {i.outbox_id: i for i in items}
        dropped: set[int] = set()
        for item in items:
            sale = by_id.get(item.original_outbox_id or -1)
            if (
                item.posting.action == "void_payment"
                and sale is not None
                and sale.state == m.PENDING
                and sale.attempts == 0
            ):
                events = await asyncio.to_thread(
                    self.store.cancel_unposted_original,
                    item,
                    self._claim_id(),
                    self.clock(),
                    self.station,
                )
                if events is not None:
                    self.progress.cancelled += 2
                    self.bus.publish_many(events)
                    dropped.update({item.outbox_id, sale.outbox_id})
        for item in items:
            if item.outbox_id in dropped:
                continue
            if item.posting.action in ("post_refund", "void_payment"):
                verdict = await self._check_original(item, batch)
                if verdict is None:
                    continue
                item = verdict
            ready.append(item)

        to_verify = [i for i in ready if i.state == m.POSTED]
        in_doubt = [i for i in ready if i.state == m.POSTING]
        fresh = [i for i in ready if i.state == m.PENDING]

        # 2. rows whose earlier POST may have landed: search before anything else, and post
        # again only once every source agrees it is absent (see _settle_doubt)
        if in_doubt:
            found = await self._gather(self._search, in_doubt, batch)
            unseen: list[m.OutboxItem] = []
            for item, result in zip(in_doubt, found, strict=True):
                if isinstance(result, PostResult):
                    to_verify.append(self._posted(item, result, batch, balance_before=None))
                elif result is None:
                    unseen.append(item)
            if unseen:
                seen, absent = await self._settle_doubt(unseen, batch)
                for item, result in seen:
                    to_verify.append(self._posted(item, result, batch, balance_before=None))
                fresh.extend(absent)
        # 3. post the fresh rows, after one read of their invoices
        if fresh:
            fresh = await self._pre_read(fresh, batch)
        if fresh:
            await self._commit(batch)
            batch = m.Batch()
            results = await self._gather(self._post_one, fresh, batch)
            for item, result in zip(fresh, results, strict=True):
                if isinstance(result, PostResult):
                    to_verify.append(
                        self._posted(item, result, batch, balance_before=item.balance_before)
                    )
        # 4. verify; written in one transaction with the posting results (a crash before it
        # leaves the rows "posting", and the next worker finds them by their marker)
        if to_verify:
            await self._verify(to_verify, batch)
        await self._commit(batch)

    async def _check_original(self, item: m.OutboxItem, batch: m.Batch) -> m.OutboxItem | None:
        """Refunds and voids wait for their sale; a void of a sale never posted cancels both."""
        is_void = item.posting.action == "void_payment"
        state = item.original_state
        if item.original_outbox_id is None or state in (m.POSTED, m.VERIFIED, m.MISMATCH):
            if item.posting.original_payment_id or not is_void:
                return item
            self._attention(
                item,
                batch,
                "The ServiceTitan payment of the original sale is not known, so it cannot be "
                "deactivated automatically.",
                "Deactivate the sale's payment in ServiceTitan by hand, then mark this void "
                "posted by hand with a note.",
            )
            return None
        if is_void and state == m.PENDING and not item.original_claimed:
            events = await asyncio.to_thread(
                self.store.cancel_unposted_original,
                item,
                self._claim_id(),
                self.clock(),
                self.station,
            )
            if events is not None:
                self.progress.cancelled += 2
                self.bus.publish_many(events)
                return None
        if is_void and state == m.CANCELLED:
            self._finish(
                item,
                batch,
                m.CANCELLED,
                EventKind.CANCELLED,
                "The sale was never posted to ServiceTitan, so there is nothing to void there.",
            )
            # the void's own transaction is settled too (nothing to post), and audited
            batch.updates[-1].txn_event = "reconciled"
            batch.updates[-1].nothing_to_post = item.posting
            return None
        if state in (m.NEEDS_ATTENTION, m.CANCELLED):
            what = "void" if is_void else "refund"
            self._attention(
                item,
                batch,
                f"The original sale is not in ServiceTitan (it is {state.replace('_', ' ')}).",
                f"Resolve the sale first (retry it or mark it posted by hand), then retry this {what}.",
            )
            return None
        # the sale is still on its way: come back shortly, without counting an attempt
        batch.updates.append(
            m.RowUpdate(
                item.outbox_id,
                next_attempt_at=self.clock() + timedelta(seconds=self.dependency_wait),
            )
        )
        return None

    async def _settle_doubt(
        self, items: list[m.OutboxItem], batch: m.Batch
    ) -> tuple[list[tuple[m.OutboxItem, PostResult]], list[m.OutboxItem]]:
        """Rows whose marker search found nothing: are they really absent?

        Absent only when, after the doubt window, the search has come back empty at least twice,
        the payment export feed read to its end does not carry the marker, and the invoice
        balance is where it was before the attempt (or every move of it is explained by payments
        ServiceTitan lists). Returns (found in the feed, proved absent); every other row stays
        ``posting`` and is looked at again, or goes to a person once the sources keep disagreeing.
        """
        now = self.clock()
        voids = [i for i in items if i.posting.action == "void_payment"]
        # a void is a PATCH that reads the payment first: repeating it cannot double anything
        items = [i for i in items if i.posting.action != "void_payment"]
        if not items:
            return [], voids
        since = min((i.attempted_at or i.queued_at or now) for i in items)
        try:
            in_feed = await self.poster.find_in_feed([i.posting for i in items], since)
            ids = sorted({i.result_invoice_id or i.posting.invoice_id for i in items})
            invoices = await self.poster.read_invoices(ids)
        except PosterError as exc:
            for item in items:
                self._handle_error(item, exc, batch, during="search")
            return [], voids
        seen: list[tuple[m.OutboxItem, PostResult]] = []
        absent: list[m.OutboxItem] = list(voids)
        for item in items:
            hit = in_feed.get(item.outbox_id)
            if hit is not None:
                self.progress.found_existing += 1
                seen.append((item, hit))
                continue
            checks = item.doubt_checks + 1
            started = item.attempted_at or (now - timedelta(seconds=self.doubt_wait))
            waited = (now - started).total_seconds()
            balance = await self._balance_agrees(item, invoices)
            if balance is None and waited >= self.doubt_wait and checks >= 2:
                batch.events.append(
                    self._event(
                        item,
                        EventKind.RETRY,
                        f"{item.posting.marker} is not in ServiceTitan: {checks} searches over "
                        f"{waited:.0f} s, the payment export and the invoice balance agree. "
                        "Posting it again.",
                    )
                )
                absent.append(replace(item, doubt_checks=checks))
                continue
            if balance is not None and waited >= self.doubt_patience:
                self._doubt_to_person(item, batch, balance)
                continue
            left = self.doubt_wait - waited
            delay = max(0.02, min(self.doubt_wait / 2, left) if left > 0 else self.doubt_wait / 2)
            why = (
                f"Not found in ServiceTitan yet ({checks} searches); "
                + (
                    "still inside the time it may take to show. "
                    if balance is None
                    else f"but {balance} "
                )
                + "Not posting again until every check agrees."
            )
            self.progress.retried += 1
            batch.updates.append(
                m.RowUpdate(
                    item.outbox_id,
                    state=m.POSTING,
                    doubt_checks=checks,
                    next_attempt_at=now + timedelta(seconds=delay),
                    last_error=why,
                )
            )
            batch.events.append(
                self._event(
                    item, EventKind.RETRY, f"{why} Look again in {delay:.0f} s.", retry_in=delay
                )
            )
        return seen, absent

    async def _balance_agrees(
        self, item: m.OutboxItem, invoices: dict[int, InvoiceState | None]
    ) -> str | None:
        """``None`` when the invoice balance says our posting is not there; else, in words, why
        the balance suggests it may be."""
        invoice_id = item.result_invoice_id or item.posting.invoice_id
        inv = invoices.get(invoice_id)
        if inv is None:
            return "the invoice can no longer be read, so its balance cannot confirm it."
        before = item.balance_before
        if before is not None and inv.balance == before:
            return None
        try:
            applied = await self.poster.payments_on_invoice(invoice_id)
        except PosterError as exc:
            return f"its payments could not be read ({exc.message})."
        listed = Money.total(
            [
                amt
                for p in applied
                if p.active
                for (inv_id, amt) in p.applied
                if inv_id == invoice_id
            ]
        )
        if inv.total - listed == inv.balance:
            return None  # every move of the balance is a payment ServiceTitan lists, not ours
        if before is not None and inv.balance == before + self._delta(item):
            return (
                f"the invoice balance moved from {before} to {inv.balance}, exactly by this "
                "amount, and no listed payment explains it."
            )
        return (
            f"the invoice balance is {inv.balance} (it was {before if before is not None else '?'} "
            f"before the attempt) and its listed payments do not explain it "
            f"(total {inv.total} less payments {listed} is {inv.total - listed})."
        )

    def _doubt_to_person(self, item: m.OutboxItem, batch: m.Batch, balance: str) -> None:
        """The search finds nothing but the balance says otherwise, for longer than ServiceTitan
        should take: a person decides, told what happened and what each source said."""
        what = item.doubt_reason or "the app stopped while posting, before the reply was recorded"
        number = item.posting.invoice_number or item.posting.invoice_id
        self._attention(
            item,
            batch,
            doubt_reason=what,
            server_message=f"Not sure whether {self._what(item)} is in ServiceTitan. The attempt: {what.rstrip('.')}. "
            f"ServiceTitan does not list a payment carrying {item.posting.marker}, but {balance}",
            action=f"Do not post it again by hand and do not refund the customer. Open invoice {number} "
            f"in ServiceTitan: if a payment of {abs(item.posting.amount)} is there, use “Mark "
            "posted by hand” with its payment id; if there is none, use Retry now (the app "
            "searches again before posting).",
        )

    async def _search(self, item: m.OutboxItem, batch: m.Batch) -> PostResult | Exception | None:
        try:
            result = await self.poster.find(item.posting)
        except PosterError as exc:
            self._handle_error(item, exc, batch, during="search")
            return exc
        if result is not None:
            self.progress.found_existing += 1
        return result

    async def _pre_read(self, items: list[m.OutboxItem], batch: m.Batch) -> list[m.OutboxItem]:
        """Read the balances of the invoices about to be posted to (one call per 50)."""
        ids = sorted({i.posting.invoice_id for i in items})
        try:
            states = await self.poster.read_invoices(ids)
        except PosterError as exc:
            for item in items:
                self._handle_error(item, exc, batch, during="read")
            return []
        out: list[m.OutboxItem] = []
        for item in items:
            inv = states.get(item.posting.invoice_id)
            if inv is None and item.posting.action == "post_payment":
                self._attention(
                    item,
                    batch,
                    f"Invoice {item.posting.invoice_number or item.posting.invoice_id} no longer "
                    "exists in ServiceTitan (deleted or merged).",
                    "Find the invoice that replaced it, then post this payment there by hand and "
                    "mark it posted with a note — or refund the customer.",
                )
                continue
            if item.attempts == 0 and item.state == m.PENDING:
                queued = self._event(item, EventKind.QUEUED, f"Queued {self._what(item)}.")
                if item.queued_at is not None:
                    queued = replace(queued, time=item.queued_at)
                batch.events.append(queued)
            attempts = item.attempts + 1
            item = replace(
                item,
                attempts=attempts,
                balance_before=inv.balance if inv else None,
                state=m.POSTING,
            )
            batch.updates.append(
                m.RowUpdate(
                    item.outbox_id,
                    state=m.POSTING,
                    attempts=attempts,
                    release=False,
                    balance_before=item.balance_before,
                    invoice_total=inv.total if inv else None,
                    result_invoice_id=item.posting.invoice_id,
                    # committed before the POST: a crash from here on leaves a dated doubt
                    attempted_at=self.clock(),
                    doubt_checks=0,
                    doubt_reason="",
                )
            )
            batch.events.append(
                self._event(
                    item, EventKind.POSTING, f"Posting {self._what(item)} (try {attempts})."
                )
            )
            out.append(item)
        return out

    async def _post_one(self, item: m.OutboxItem, batch: m.Batch) -> PostResult | Exception:
        try:
            return await self.poster.post(item.posting)
        except PosterError as exc:
            self._handle_error(item, exc, batch, during="post")
            return exc

    def _posted(
        self, item: m.OutboxItem, result: PostResult, batch: m.Batch, balance_before: Money | None
    ) -> m.OutboxItem:
        before = result.balance_before if result.balance_before is not None else balance_before
        if result.invoice_id != item.posting.invoice_id and result.balance_before is None:
            before = None
        self.progress.posted += 1
        if result.found_existing:
            why = (
                f"after: {item.doubt_reason.rstrip('.')}"
                if item.doubt_reason
                else "the worker posting it stopped before recording the reply"
            )
            message = (
                f"Found {self._what(item)} already in ServiceTitan as payment {result.payment_id} "
                f"({why}); not posted again."
            )
        else:
            message = f"Posted {self._what(item)} as ServiceTitan payment {result.payment_id}."
        if result.note:
            message += f" {result.note}"
        batch.updates.append(
            m.RowUpdate(
                item.outbox_id,
                state=m.POSTED,
                release=False,
                st_payment_id=result.payment_id,
                result_invoice_id=result.invoice_id,
                balance_before=before,
                expected_delta=result.balance_delta,
                mark_posted_at=True,
                clear_error=True,
                txn_event="posted",
            )
        )
        batch.events.append(self._event(item, EventKind.POSTED, message))
        return replace(
            item,
            state=m.POSTED,
            st_payment_id=result.payment_id,
            result_invoice_id=result.invoice_id,
            balance_before=before,
            expected_delta=result.balance_delta,
        )

    async def _verify(self, items: list[m.OutboxItem], batch: m.Batch) -> None:
        """One read per 50 invoices; fall back to reading the payments only when numbers differ."""
        ids = sorted({i.result_invoice_id or i.posting.invoice_id for i in items})
        try:
            invoices = await self.poster.read_invoices(ids)
        except PosterError as exc:
            for item in items:
                self._verify_later(item, batch, exc)
            return
        groups: dict[int, list[m.OutboxItem]] = defaultdict(list)
        for item in items:
            groups[item.result_invoice_id or item.posting.invoice_id].append(item)
        for invoice_id, group in groups.items():
            inv = invoices.get(invoice_id)
            if inv is None:
                for item in group:
                    self._mismatch(
                        item,
                        batch,
                        f"Posted, but invoice {self._invoice_label(item)} can no longer be read "
                        "back from ServiceTitan (deleted?).",
                        expected=None,
                        actual=None,
                    )
                continue
            known = [i for i in group if i.balance_before is not None]
            befores = {i.balance_before for i in known}
            if len(known) == len(group) and len(befores) == 1:
                before = known[0].balance_before
                assert before is not None
                expected = before + Money.total([self._delta(i) for i in group])
                if inv.balance == expected:
                    for item in group:
                        self._verified(item, batch, inv, f"balance moved {before} → {inv.balance}")
                    continue
            await self._verify_by_payments(group, inv, batch)

    async def _verify_by_payments(
        self, group: list[m.OutboxItem], inv: InvoiceState, batch: m.Batch
    ) -> None:
        """Numbers differ (or no pre-read): check our payments and the invoice's own arithmetic."""
        try:
            ours = await self.poster.get_payments(
                [i.st_payment_id for i in group if i.st_payment_id]
            )
            applied = await self.poster.payments_on_invoice(inv.invoice_id)
        except PosterError as exc:
            for item in group:
                self._verify_later(item, batch, exc)
            return
        applied_total = Money.total(
            [
                amt
                for p in applied
                if p.active
                for (inv_id, amt) in p.applied
                if inv_id == inv.invoice_id
            ]
        )
        consistent = inv.total - applied_total == inv.balance
        for item in group:
            pay = ours.get(item.st_payment_id or "")
            want_active = item.posting.action != "void_payment"
            delta = self._delta(item)
            before = item.balance_before
            if pay is None:
                self._mismatch(
                    item,
                    batch,
                    f"ServiceTitan payment {item.st_payment_id} for {self._what(item)} is missing.",
                    expected=delta,
                    actual=Money(0),
                )
                continue
            if pay.active != want_active:
                self._mismatch(
                    item,
                    batch,
                    f"ServiceTitan payment {pay.id} is {'inactive' if want_active else 'still active'}.",
                    expected=abs(item.posting.amount),
                    actual=pay.total,
                )
                continue
            mine = Money.total([amt for (inv_id, amt) in pay.applied if inv_id == inv.invoice_id])
            if want_active and abs(mine) != abs(item.posting.amount):
                self._mismatch(
                    item,
                    batch,
                    f"ServiceTitan payment {pay.id} applies {mine} to invoice "
                    f"{self._invoice_label(item)}, the ledger says {item.posting.amount}.",
                    expected=item.posting.amount,
                    actual=mine,
                )
                continue
            if not consistent:
                self._mismatch(
                    item,
                    batch,
                    f"Invoice {self._invoice_label(item)} balance is {inv.balance}; its total "
                    f"{inv.total} less its payments {applied_total} would be "
                    f"{inv.total - applied_total}.",
                    expected=inv.total - applied_total,
                    actual=inv.balance,
                )
                continue
            note = f"payment {pay.id} is on the invoice; balance now {inv.balance}"
            if before is not None:
                note += f" (was {before}; other payments moved it too)"
            self._verified(item, batch, inv, note)

    # -- outcomes ------------------------------------------------------------------------------

    def _handle_error(
        self, item: m.OutboxItem, exc: PosterError, batch: m.Batch, *, during: str
    ) -> None:
        if isinstance(exc, NeedsAttention):
            # refused by a documented answer while posting: certain, nothing was saved
            certain = "" if during == "post" else None
            self._attention(item, batch, exc.server_message, exc.action, doubt_reason=certain)
        elif isinstance(exc, SetupProblem):
            # nothing this row did wrong: put it back untouched and let the worker pause
            batch.updates.append(
                m.RowUpdate(
                    item.outbox_id,
                    state=m.POSTING if item.state == m.POSTING and during == "post" else None,
                    next_attempt_at=self.clock() + timedelta(seconds=30),
                    last_error=str(exc),
                )
            )
            self._prepared = False
            self._setup_problem = exc
        elif isinstance(exc, OutcomeUnknown):
            # leave it ``posting``: it is searched for across the doubt window before any repost
            delay = max(self.unknown_backoff.delay(item.attempts), self.doubt_wait / 2)
            self._retry(
                item,
                batch,
                m.POSTING,
                delay,
                f"{exc.message} Will search before posting again.",
                doubt_reason=exc.message if during == "post" else None,
            )
        elif isinstance(exc, RetryLater):
            delay = self.backoff.delay(max(1, item.attempts), retry_after=exc.retry_after)
            # a failed search or read changes nothing: the row keeps the state it had
            state = item.state if during in ("search", "read") else m.PENDING
            certain = "" if during == "post" else None  # a 429 or refused connection: not saved
            self._retry(item, batch, state, delay, exc.message, doubt_reason=certain)
        else:  # pragma: no cover - PosterError subclasses are the four above
            self._retry(item, batch, item.state, self.backoff.delay(item.attempts), exc.message)

    def _retry(
        self,
        item: m.OutboxItem,
        batch: m.Batch,
        state: str,
        delay: float,
        why: str,
        *,
        doubt_reason: str | None = None,
    ) -> None:
        if item.attempts >= self.max_attempts:
            if state == m.POSTING:
                self._attention(
                    item,
                    batch,
                    f"ServiceTitan kept failing after {item.attempts} tries and may or may not "
                    f"have recorded this payment: {why}",
                    f"Do not post it by hand yet: use Retry now once ServiceTitan answers (the app "
                    f"searches for {item.posting.marker} first), or search ServiceTitan for it.",
                )
            else:
                self._attention(
                    item,
                    batch,
                    f"ServiceTitan kept failing after {item.attempts} tries: {why}",
                    "Check that ServiceTitan is reachable, then use Retry now.",
                )
            return
        self.progress.retried += 1
        batch.updates.append(
            m.RowUpdate(
                item.outbox_id,
                state=state,
                next_attempt_at=self.clock() + timedelta(seconds=delay),
                last_error=why,
                doubt_reason=doubt_reason,
            )
        )
        batch.events.append(
            self._event(item, EventKind.RETRY, f"{why} Retry in {delay:.0f} s.", retry_in=delay)
        )

    def _attention(
        self,
        item: m.OutboxItem,
        batch: m.Batch,
        server_message: str,
        action: str,
        *,
        doubt_reason: str | None = None,
    ) -> None:
        self.progress.needs_attention += 1
        text = f"{server_message} What to do: {action}"
        batch.updates.append(
            m.RowUpdate(
                item.outbox_id,
                state=m.NEEDS_ATTENTION,
                last_error=text,
                txn_event="post_failed",
                doubt_reason=doubt_reason,
            )
        )
        batch.events.append(self._event(item, EventKind.NEEDS_ATTENTION, text))

    def _finish(
        self, item: m.OutboxItem, batch: m.Batch, state: str, kind: EventKind, message: str
    ) -> None:
        if state == m.CANCELLED:
            self.progress.cancelled += 1
        batch.updates.append(m.RowUpdate(item.outbox_id, state=state, last_error=message))
        batch.events.append(self._event(item, kind, message))

    def _verified(self, item: m.OutboxItem, batch: m.Batch, inv: InvoiceState, how: str) -> None:
        self.progress.verified += 1
        batch.updates.append(
            m.RowUpdate(
                item.outbox_id,
                state=m.VERIFIED,
                balance_after=inv.balance,
                mark_verified_at=True,
                clear_error=True,
                txn_event="reconciled",
            )
        )
        batch.events.append(
            self._event(item, EventKind.VERIFIED, f"Verified {self._what(item)}: {how}.")
        )

    def _mismatch(
        self,
        item: m.OutboxItem,
        batch: m.Batch,
        message: str,
        *,
        expected: Money | None,
        actual: Money | None,
    ) -> None:
        self.progress.mismatches += 1
        batch.updates.append(m.RowUpdate(item.outbox_id, state=m.MISMATCH, last_error=message))
        batch.mismatches.append(
            m.MismatchRecord(
                key=f"verify:{item.outbox_id}",
                kind="verify",
                message=message,
                invoice_id=item.result_invoice_id or item.posting.invoice_id,
                invoice_number=item.posting.invoice_number,
                st_payment_id=item.st_payment_id or "",
                outbox_id=item.outbox_id,
                marker=item.posting.marker,
                expected=expected,
                actual=actual,
            )
        )
        batch.events.append(self._event(item, EventKind.MISMATCH, message))

    def _verify_later(self, item: m.OutboxItem, batch: m.Batch, exc: PosterError) -> None:
        delay = self.backoff.delay(2, retry_after=getattr(exc, "retry_after", None))
        self.progress.retried += 1
        batch.updates.append(
            m.RowUpdate(
                item.outbox_id,
                state=m.POSTED,
                next_attempt_at=self.clock() + timedelta(seconds=delay),
                last_error=f"Verification postponed: {exc.message}",
            )
        )
        batch.events.append(
            self._event(
                item,
                EventKind.RETRY,
                f"Posted; reading the invoice back failed ({exc.message}). Retry in {delay:.0f} s.",
                retry_in=delay,
            )
        )

    # -- helpers -------------------------------------------------------------------------------

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
