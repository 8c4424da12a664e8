"""Watching ServiceTitan: follow the invoices and payments export feeds.

The sync keeps a local invoice index (so a lookup by number, job number, customer name, phone or id
answers instantly) and flags, as mismatches a supervisor sees:

- a payment on an invoice we charged that uses another payment type, or our type without our
  marker (entered by hand);
- a payment under our type that the ledger does not know (or a second one carrying a marker the
  ledger already has posted: a duplicate);
- an invoice whose total changed after we charged it, or that was deleted after we charged it.

The feeds' ``continueFrom`` tokens are saved in the ledger in the same database transaction as the
rows they delivered, so a restart picks up exactly where it stopped.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Engine, Row, insert, select, update
from sqlmodel import Session

from posplus_tui.domain.money import Money
from posplus_tui.domain.outbox import OutboxState
from posplus_tui.ledger.tables.outbox import OutboxRow
from posplus_tui.ledger.tables.reconcile import ReconcilePosting, SyncCursor
from posplus_tui.ledger.tables.transactions import Transaction
from posplus_tui.services.invoice_index import upsert_index
from posplus_tui.services.reconcile.events import EventBus, EventKind, ReconcileEvent
from posplus_tui.services.reconcile.marker import find_marker
from posplus_tui.services.reconcile.model import MismatchRecord
from posplus_tui.services.reconcile.payment_type import TypeCandidate, resolve_payment_type
from posplus_tui.services.reconcile.store import ReconcileStore
from posplus_tui.servicetitan import (
    ExportPage,
    Invoice,
    Payment,
    ServiceTitanClient,
    ServiceTitanError,
)

log = logging.getLogger(__name__)

INVOICES_FEED = "export/invoices"
PAYMENTS_FEED = "export/payments"
#: States of outbox rows whose payment is (or may be) in ServiceTitan.
_IN_ST = (OutboxState.POSTING, OutboxState.POSTED, OutboxState.VERIFIED, OutboxState.MISMATCH)


@dataclass
class SyncReport:
    invoices: int = 0
    payments: int = 0
    mismatches: list[MismatchRecord] = field(default_factory=list)


class SyncService:
    """Follows the export feeds; :meth:`sync_once` for one pass, :meth:`run` to keep following."""

    def __init__(
        self,
        engine: Engine,
        client: ServiceTitanClient,
        *,
        payment_type_name: str = "POS+",
        bus: EventBus | None = None,
        station: str = "",
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.engine = engine
        self.client = client
        self.payment_type_name = payment_type_name
        self.bus = bus or EventBus()
        self.station = station
        self.clock = clock
        self.store = ReconcileStore(engine)
        self._type_id: int | None = None
        self._stopping = asyncio.Event()
        self._invoice_listeners: list[Callable[[list[str]], None]] = []

    def on_invoices(self, listener: Callable[[list[str]], None]) -> Callable[[], None]:
        """Call ``listener`` with the ids of the invoices each page of the feed delivered (payment
        links check their invoice still owes what they ask); returns an unsubscribe function."""
        self._invoice_listeners.append(listener)
        return lambda: (
            self._invoice_listeners.remove(listener)
            if listener in self._invoice_listeners
            else None
        )

    # -- cursors ---------------------------------------------------------------------------------

    def cursor(self, feed: str) -> str | None:
        t = SyncCursor.__table__
        with self.engine.connect() as conn:
            token = conn.execute(select(t.c.token).where(t.c.feed == feed)).scalar()
        return token or None

    @staticmethod
    def _save_cursor(session: Session, feed: str, token: str | None, now: datetime) -> None:
        if not token:
            return
        t = SyncCursor.__table__
        if session.execute(select(t.c.feed).where(t.c.feed == feed)).first():
            session.execute(update(t).where(t.c.feed == feed).values(token=token, updated_at=now))
        else:
            session.execute(insert(t).values(feed=feed, token=token, updated_at=now))

    # -- one pass --------------------------------------------------------------------------------

    async def payment_type_id(self) -> int:
        if self._type_id is None:
            types = await self.client.list_payment_types(include_inactive=True)
            resolved = resolve_payment_type(
                self.payment_type_name, [TypeCandidate(str(t.id), t.name, t.active) for t in types]
            )
            self._type_id = int(resolved.id)
        return self._type_id

    async def sync_once(self, *, max_pages: int = 1000) -> SyncReport:
        """Read both feeds to their current end; returns what was seen and flagged."""
        report = SyncReport()
        type_id = await self.payment_type_id()
        await self._follow(INVOICES_FEED, self.client.export_invoices, report, max_pages, type_id)
        await self._follow(PAYMENTS_FEED, self.client.export_payments, report, max_pages, type_id)
        return report

    async def _follow(self, feed, fetch, report: SyncReport, max_pages: int, type_id: int) -> None:  # type: ignore[no-untyped-def]
        """Read ``feed`` page by page, each page written in its own transaction with the token
        that follows it. The next page is fetched while the last one is written (the feed is
        sequential, the writes are too, one after the other in page order), so over a real
        network the build costs little more than the pull."""
        token = await asyncio.to_thread(self.cursor, feed)
        writing: asyncio.Future[list[ReconcileEvent]] | None = None
        written: ExportPage[Any] | None = None  # the page ``writing`` writes
        try:
            for _ in range(max_pages):
                page = await fetch(token)
                if writing is not None and written is not None:
                    done, writing = writing, None
                    self._page_written(feed, written, await done)
                writing = asyncio.ensure_future(
                    asyncio.to_thread(self._apply_page, feed, page, type_id, report)
                )
                written = page
                token = page.continue_from or token
                if not page.has_more:
                    break
            if writing is not None and written is not None:
                done, writing = writing, None
                self._page_written(feed, written, await done)
        finally:
            if writing is not None and written is not None:
                # A fetch failed or the sync was stopped: the page being written still ends
                # (its rows and its token commit together, or neither) before this returns.
                await asyncio.wait({writing})
                if not writing.cancelled() and writing.exception() is None:
                    self._page_written(feed, written, writing.result())

    def _page_written(self, feed: str, page: ExportPage[Any], events: list[ReconcileEvent]) -> None:
        """A page is in the ledger: its events go out, and invoice listeners hear its ids."""
        self.bus.publish_many(events)
        if feed == INVOICES_FEED and page.items:
            ids = sorted({str(inv.id) for inv in page.items})
            for listener in list(self._invoice_listeners):
                try:
                    listener(ids)
                except Exception:  # a listener must not stop the sync
                    log.exception("invoice listener failed")

    def _apply_page(
        self, feed: str, page: ExportPage[Any], type_id: int, report: SyncReport
    ) -> list[ReconcileEvent]:
        now = self.clock()
        with Session(self.engine) as session:
            if feed == INVOICES_FEED:
                latest: dict[int, Invoice] = {}
                for inv in page.items:  # the feed may repeat rows: the last one wins
                    latest[inv.id] = inv
                report.invoices += upsert_index(session, latest.values(), now)
                found = self._invoice_mismatches(session, list(latest.values()))
            else:
                latest_p: dict[int, Payment] = {}
                for p in page.items:
                    latest_p[p.id] = p
                report.payments += len(latest_p)
                found = self._payment_mismatches(session, list(latest_p.values()), type_id)
            self._save_cursor(session, feed, page.continue_from, now)
            session.commit()
        if not found:
            return []
        events = [self._event(mm) for mm in found]
        stored = self.store.add_mismatches(found, events)
        new_keys = {e.message for e in stored}
        report.mismatches.extend(mm for mm in found if mm.message in new_keys)
        return stored

    # -- detection -------------------------------------------------------------------------------

    @staticmethod
    def _charged(session: Session, invoice_ids: Sequence[int]) -> dict[int, list[Row[Any]]]:
        """Our outbox rows (in ServiceTitan or on their way) for these invoice ids."""
        if not invoice_ids:
            return {}
        o = OutboxRow.__table__
        t = Transaction.__table__
        p = ReconcilePosting.__table__
        keys = [str(i) for i in invoice_ids]
        rows = session.execute(
            select(
                t.c.invoice_id,
                t.c.invoice_number,
                o.c.id,
                o.c.marker,
                o.c.state,
                o.c.st_payment_id,
                o.c.action,
                p.c.invoice_total_cents,
                t.c.created_at,
            )
            .select_from(o.join(t, t.c.id == o.c.transaction_id))
            .outerjoin(p, p.c.outbox_id == o.c.id)
            .where(t.c.invoice_id.in_(keys))
        ).all()
        out: dict[int, list[Row[Any]]] = {}
        for r in rows:
            out.setdefault(int(r.invoice_id), []).append(r)
        return out

    def _invoice_mismatches(
        self, session: Session, invoices: list[Invoice]
    ) -> list[MismatchRecord]:
        charged = self._charged(session, [inv.id for inv in invoices])
        found: list[MismatchRecord] = []
        for inv in invoices:
            rows = [
                r
                for r in charged.get(inv.id, [])
                if r.state in _IN_ST or r.state == OutboxState.PENDING
            ]
            if not rows:
                continue
            number = inv.number or str(inv.id)
            if not inv.active:
                found.append(
                    MismatchRecord(
                        key=f"invoice_deleted:{inv.id}",
                        kind="invoice_deleted",
                        message=(
                            f"Invoice {number} was deleted in ServiceTitan after it was charged at "
                            "the counter. Check where the payment went."
                        ),
                        invoice_id=inv.id,
                        invoice_number=number,
                    )
                )
                continue
            snapshots = [r.invoice_total_cents for r in rows if r.invoice_total_cents is not None]
            if not snapshots:
                continue
            charged_total = Money(int(snapshots[-1]))
            if inv.total != charged_total:
                found.append(
                    MismatchRecord(
                        key=f"total_changed:{inv.id}:{inv.total.cents}",
                        kind="total_changed",
                        message=(
                            f"Invoice {number} total changed after it was charged: "
                            f"{charged_total} when charged, {inv.total} now."
                        ),
                        invoice_id=inv.id,
                        invoice_number=number,
                        expected=charged_total,
                        actual=inv.total,
                    )
                )
        return found

    def _payment_mismatches(
        self, session: Session, payments: list[Payment], type_id: int
    ) -> list[MismatchRecord]:
        o = OutboxRow.__table__
        invoice_ids = sorted({s.invoice_id for p in payments for s in p.splits})
        charged = self._charged(session, invoice_ids)
        markers = {
            m for p in payments if (m := find_marker(p.memo, p.export_id, p.auth_code)) is not None
        }
        known: dict[str, tuple[int, str | None, str]] = {}
        marker_list = sorted(markers)
        for start in range(0, len(marker_list), 500):
            chunk = marker_list[start : start + 500]
            for r in session.execute(
                select(o.c.id, o.c.marker, o.c.st_payment_id, o.c.state).where(
                    o.c.marker.in_(chunk)
                )
            ):
                known[r.marker] = (r.id, r.st_payment_id, r.state)
        our_payment_ids = {
            r.st_payment_id for rows in charged.values() for r in rows if r.st_payment_id
        }
        found: list[MismatchRecord] = []
        for p in payments:
            if p.active is False:
                continue
            marker = find_marker(p.memo, p.export_id, p.auth_code)
            ours_type = p.type_id == type_id
            invoices = [s.invoice_id for s in p.splits]
            on_charged = [i for i in invoices if charged.get(i)]
            first = p.splits[0].invoice_id if p.splits else None
            number = ""
            if on_charged:
                number = charged[on_charged[0]][0].invoice_number or ""
            common = {
                "invoice_id": on_charged[0] if on_charged else first,
                "invoice_number": number,
                "st_payment_id": str(p.id),
                "actual": p.total,
            }
            if marker and marker in known:
                outbox_id, st_id, _state = known[marker]
                if st_id and st_id != str(p.id) and str(p.id) not in our_payment_ids:
                    if p.refunded_payment_id is not None and p.total.is_negative:
                        continue
                    found.append(
                        MismatchRecord(
                            key=f"duplicate:{p.id}",
                            kind="duplicate",
                            message=(
                                f"ServiceTitan payment {p.id} ({p.total}) carries {marker}, which "
                                f"the ledger posted as payment {st_id}: a duplicate. Deactivate "
                                "one of them in ServiceTitan."
                            ),
                            outbox_id=outbox_id,
                            marker=marker,
                            **common,  # type: ignore[arg-type]
                        )
                    )
                continue
            if str(p.id) in our_payment_ids:
                continue
            if on_charged and not self._after_charge(p, charged[on_charged[0]]):
                on_charged = []  # an earlier payment (part paid before the counter): not ours to judge
            if on_charged and not ours_type:
                found.append(
                    MismatchRecord(
                        key=f"foreign_type:{p.id}",
                        kind="foreign_type",
                        message=(
                            f"Payment {p.id} of {p.total} under “{p.type_name or p.type_id}” is on "
                            f"invoice {number or on_charged[0]}, which was charged at the counter. "
                            "Check the customer was not charged twice."
                        ),
                        **common,  # type: ignore[arg-type]
                    )
                )
            elif on_charged and ours_type:
                found.append(
                    MismatchRecord(
                        key=f"by_hand:{p.id}",
                        kind="by_hand",
                        message=(
                            f"Payment {p.id} of {p.total} under our payment type was entered by "
                            f"hand on invoice {number or on_charged[0]}, which was charged at the "
                            "counter. Check it is not a second record of the same payment."
                        ),
                        **common,  # type: ignore[arg-type]
                    )
                )
            elif ours_type:
                found.append(
                    MismatchRecord(
                        key=f"unknown_ours:{p.id}",
                        kind="unknown_ours",
                        message=(
                            f"Payment {p.id} of {p.total} is under our payment type but the "
                            "ledger has no such transaction"
                            + (f" ({marker})" if marker else "")
                            + ". Only this app should post under that type: find who entered it."
                        ),
                        marker=marker or "",
                        **common,  # type: ignore[arg-type]
                    )
                )
        return found

    @staticmethod
    def _after_charge(p: Payment, rows: list[Row[Any]]) -> bool:
        """Was ``p`` entered (or changed) after we first charged this invoice?"""
        charged_at: datetime | None = min(
            (r.created_at for r in rows if r.created_at is not None), default=None
        )
        when = p.modified_on or p.paid_on
        if charged_at is None or when is None:
            return True
        if charged_at.tzinfo is None:
            charged_at = charged_at.replace(tzinfo=UTC)
        return when >= charged_at - timedelta(minutes=1)

    def _event(self, mm: MismatchRecord) -> ReconcileEvent:
        return ReconcileEvent.now(
            EventKind.MISMATCH,
            mm.message,
            transaction_ref=mm.marker.removeprefix("POSPLUS-"),
            invoice_number=mm.invoice_number,
            amount=mm.actual if mm.actual is not None else Money(0),
            outbox_id=mm.outbox_id,
            station=self.station,
        )

    # -- following ---------------------------------------------------------------------------------

    async def run(self, *, poll_seconds: float = 300.0) -> None:
        """Keep following the feeds (ServiceTitan asks for 5–10 minutes between polls at the end)."""
        self._stopping.clear()
        while not self._stopping.is_set():
            try:
                await self.sync_once()
            except asyncio.CancelledError:
                raise
            except ServiceTitanError as exc:
                log.warning("sync: %s", exc)
            except Exception:
                log.exception("sync: unexpected error; continuing")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), timeout=poll_seconds)

    def stop(self) -> None:
        self._stopping.set()
