"""The worker's view of the ledger: claiming outbox rows, applying results, history and actions.

Blocking SQLAlchemy code; the worker calls it through ``asyncio.to_thread`` so the UI never waits on
the database. Each method is one database transaction, so a crash between two calls leaves every
row in a state the next worker knows how to continue from (``posting`` means "search first").
"""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Iterable, Sequence
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta, tzinfo
from typing import Any

from sqlalchemy import Engine, and_, bindparam, func, insert, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import aliased
from sqlmodel import Session

from posplus_tui.domain.money import Money
from posplus_tui.domain.outbox import outbox_move
from posplus_tui.domain.transactions import IllegalTransition, TxnEvent, TxnState, transition
from posplus_tui.ledger import audit, seals
from posplus_tui.ledger.tables.outbox import OutboxRow
from posplus_tui.ledger.tables.reconcile import (
    ReconcileEventRow,
    ReconcileLock,
    ReconcileMismatch,
    ReconcilePosting,
    ReconcileWorkerBeat,
)
from posplus_tui.ledger.tables.transactions import Transaction
from posplus_tui.services.errors import ServiceError
from posplus_tui.services.reconcile import model as m
from posplus_tui.services.reconcile.events import EventKind, ReconcileEvent
from posplus_tui.services.reconcile.poster import Posting
from posplus_tui.services.reconcile.summary import ReconcileSummary, SummaryRow, summarize

log = logging.getLogger(__name__)

_KIND_TO_ACTION = {"sale": "post_payment", "deposit": "post_payment", "refund": "post_refund"}


class ActionRefused(ServiceError):
    """A supervisor action that does not apply to the row as it is; says why and what to do."""


def _cents(value: Money | None) -> int | None:
    return None if value is None else value.cents


def _money(cents: int | None) -> Money | None:
    return None if cents is None else Money(int(cents))


def _utc(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


class ReconcileStore:
    """Reconciliation's reads and writes on one ledger engine."""

    #: A worker beats every few seconds while it runs; one silent for this long is gone, and
    #: its claims are free at once (much sooner than the claim lease).
    BEAT_TIMEOUT = timedelta(seconds=15)

    def __init__(self, engine: Engine, *, beat_timeout: timedelta | None = None) -> None:
        self.engine = engine
        self.beat_timeout = beat_timeout or self.BEAT_TIMEOUT

    @property
    def is_postgres(self) -> bool:
        return self.engine.dialect.name == "postgresql"

    # -- claiming ------------------------------------------------------------------------------

    def claim(
        self, worker_id: str, limit: int, now: datetime, stale_before: datetime
    ) -> list[m.OutboxItem]:
        """Claim up to ``limit`` due rows for ``worker_id``.

        PostgreSQL: ``FOR UPDATE SKIP LOCKED`` so two stations never claim the same row. SQLite
        has no row locks: the UPDATE re-checks that each row is still free, so two lanes never
        share a row either (and the single-worker lock keeps other processes out).
        """
        for _ in range(5):
            items, lost_race = self._claim_once(worker_id, limit, now, stale_before)
            if items or not lost_race:
                return items
        return []

    def _claim_once(
        self, worker_id: str, limit: int, now: datetime, stale_before: datetime
    ) -> tuple[list[m.OutboxItem], bool]:
        o = OutboxRow.__table__
        with Session(self.engine) as session:
            free = self._free(session, now, stale_before)
            query = (
                select(o.c.id)
                .where(
                    o.c.state.in_(m.OPEN_STATES),
                    or_(o.c.next_attempt_at.is_(None), o.c.next_attempt_at <= now),
                    free,
                )
                .order_by(o.c.id)
                .limit(limit)
            )
            if self.is_postgres:
                query = query.with_for_update(skip_locked=True)
            candidates = list(session.execute(query).scalars())
            if not candidates:
                session.rollback()
                return [], False
            session.execute(
                update(o)
                .where(o.c.id.in_(candidates), o.c.state.in_(m.OPEN_STATES), free)
                .values(claimed_by=worker_id, claimed_at=now)
            )
            ids = list(
                session.execute(
                    select(o.c.id).where(o.c.id.in_(candidates), o.c.claimed_by == worker_id)
                ).scalars()
            )
            items = self._load(session, ids) if ids else []
            session.commit()
        return items, not ids

    def _load(self, session: Session, ids: Sequence[int]) -> list[m.OutboxItem]:
        o = OutboxRow.__table__
        t = Transaction.__table__
        p = ReconcilePosting.__table__
        parent = aliased(t, name="parent")
        orig = aliased(o, name="orig")
        rows = session.execute(
            select(
                o.c.id,
                o.c.action,
                o.c.marker,
                o.c.state,
                o.c.attempts,
                o.c.st_payment_id,
                o.c.created_at.label("queued_at"),
                t.c.kind,
                t.c.tender,
                t.c.amount_cents,
                t.c.approved_cents,
                t.c.invoice_id,
                t.c.invoice_number,
                t.c.auth_code,
                t.c.brand,
                t.c.last4,
                t.c.created_at,
                t.c.settled_at,
                parent.c.approved_cents.label("parent_cents"),
                parent.c.invoice_id.label("parent_invoice_id"),
                parent.c.invoice_number.label("parent_invoice_number"),
                orig.c.id.label("orig_id"),
                orig.c.state.label("orig_state"),
                orig.c.claimed_by.label("orig_claimed_by"),
                orig.c.st_payment_id.label("orig_payment_id"),
                orig.c.marker.label("orig_marker"),
                p.c.invoice_id.label("p_invoice_id"),
                p.c.balance_before_cents,
                p.c.expected_delta_cents,
                p.c.attempted_at,
                p.c.doubt_checks,
                p.c.doubt_reason,
            )
            .select_from(o)
            .join(t, t.c.id == o.c.transaction_id)
            .outerjoin(parent, parent.c.id == t.c.parent_id)
            .outerjoin(
                orig,
                and_(orig.c.transaction_id == parent.c.id, orig.c.action == "post_payment"),
            )
            .outerjoin(p, p.c.outbox_id == o.c.id)
            .where(o.c.id.in_(ids))
            .order_by(o.c.id)
        ).all()
        items = []
        for r in rows:
            cents = r.approved_cents or r.amount_cents
            invoice_id = r.invoice_id or r.parent_invoice_id or "0"
            invoice_number = r.invoice_number or r.parent_invoice_number or ""
            if r.action == "void_payment" and not cents:
                cents = r.parent_cents or 0
            label = f"{r.brand} ••{r.last4}".strip() if r.last4 else (r.tender or "").upper()
            posting = Posting(
                outbox_id=r.id,
                action=r.action,
                marker=r.marker,
                invoice_id=int(invoice_id) if str(invoice_id).isdigit() else 0,
                invoice_number=invoice_number,
                amount=Money(abs(int(cents))),
                paid_on=_utc(r.settled_at) or _utc(r.created_at) or datetime.now(UTC),
                auth_code=r.auth_code or "",
                description=f"{label} {r.kind}".strip(),
                original_payment_id=r.orig_payment_id,
                original_marker=r.orig_marker,
            )
            items.append(
                m.OutboxItem(
                    posting=posting,
                    state=r.state,
                    attempts=r.attempts or 0,
                    method=r.tender or "",
                    st_payment_id=r.st_payment_id,
                    result_invoice_id=r.p_invoice_id,
                    balance_before=_money(r.balance_before_cents),
                    expected_delta=_money(r.expected_delta_cents),
                    original_outbox_id=r.orig_id,
                    original_state=r.orig_state,
                    original_claimed=r.orig_claimed_by is not None,
                    queued_at=_utc(r.queued_at),
                    attempted_at=_utc(r.attempted_at),
                    doubt_checks=r.doubt_checks or 0,
                    doubt_reason=r.doubt_reason or "",
                )
            )
        return items

    def _free(self, session: Session, now: datetime, stale_before: datetime):  # type: ignore[no-untyped-def]
        """Rows nobody holds: unclaimed, lease run out, or held by a worker that is gone."""
        o = OutboxRow.__table__
        dead = self._dead_holders(session, now)
        free = or_(o.c.claimed_by.is_(None), o.c.claimed_at < stale_before)
        if dead:
            free = or_(free, o.c.claimed_by.in_(dead))
        return free

    def _dead_holders(self, session: Session, now: datetime) -> list[str]:
        """Claim holders that are gone: on this computer by their PID, elsewhere by a heartbeat
        older than :attr:`beat_timeout`."""
        o = OutboxRow.__table__
        b = ReconcileWorkerBeat.__table__
        holders = list(
            session.execute(
                select(o.c.claimed_by)
                .where(o.c.claimed_by.is_not(None), o.c.state.in_(m.OPEN_STATES))
                .distinct()
            ).scalars()
        )
        if not holders:
            return []
        bases = {h: h.split("#", 1)[0] for h in holders}
        beats = {
            r.worker_id: _utc(r.beat_at)
            for r in session.execute(
                select(b.c.worker_id, b.c.beat_at).where(b.c.worker_id.in_(set(bases.values())))
            )
        }
        limit = now - self.beat_timeout
        dead = []
        for holder, base in bases.items():
            beat = beats.get(base)
            if _holder_is_dead(base) or (beat is not None and beat < limit):
                dead.append(holder)
        return dead

    def beat(self, worker_id: str, now: datetime) -> None:
        """This worker is alive (its claims stay its own)."""
        with Session(self.engine) as session:
            _beat(session, worker_id, now)
            session.commit()

    def forget(self, worker_id: str) -> None:
        """A worker that stops cleanly removes its heartbeat."""
        b = ReconcileWorkerBeat.__table__
        with self.engine.begin() as conn:
            conn.execute(b.delete().where(b.c.worker_id == worker_id))

    def heartbeat(self, worker_id: str, outbox_ids: Sequence[int], now: datetime) -> None:
        o = OutboxRow.__table__
        with self.engine.begin() as conn:
            conn.execute(
                update(o)
                .where(o.c.id.in_(list(outbox_ids)), o.c.claimed_by == worker_id)
                .values(claimed_at=now)
            )

    def release(self, worker_id: str) -> None:
        """Give back every row this worker still claims (a clean shutdown)."""
        o = OutboxRow.__table__
        with self.engine.connect() as conn:
            held = conn.execute(
                select(o.c.id).where(_mine(o.c.claimed_by, worker_id)).limit(1)
            ).first()
        if held is None:  # the usual case: nothing to write, no commit to wait for
            return
        with self.engine.begin() as conn:
            conn.execute(
                update(o)
                .where(_mine(o.c.claimed_by, worker_id))
                .values(claimed_by=None, claimed_at=None)
            )

    def open_status(
        self, worker_id: str, now: datetime, stale_before: datetime
    ) -> tuple[int, datetime | None]:
        """Rows this worker could still take (not final, not claimed by another live worker), and
        when the earliest of them is due."""
        o = OutboxRow.__table__
        with Session(self.engine) as session:
            free = self._free(session, now, stale_before)
            count, due = session.execute(
                select(func.count(), func.min(o.c.next_attempt_at)).where(
                    o.c.state.in_(m.OPEN_STATES), or_(free, _mine(o.c.claimed_by, worker_id))
                )
            ).one()
            session.rollback()
        return int(count or 0), _utc(due)

    # -- writing results -----------------------------------------------------------------------

    def apply(self, batch: m.Batch, worker_id: str, now: datetime) -> list[ReconcileEvent]:
        """Write ``batch`` in one database transaction; returns the stored events (with ids).

        Rows are written with one executemany per shape of change, so a batch of 50 costs a
        handful of statements, not hundreds.
        """
        o = OutboxRow.__table__
        with Session(self.engine) as session:
            ids = sorted({u.outbox_id for u in batch.updates})
            owned: set[int] = set()
            if ids:
                owned = set(
                    session.execute(
                        select(o.c.id).where(
                            o.c.id.in_(ids),
                            or_(o.c.claimed_by == worker_id, o.c.claimed_by.is_(None)),
                        )
                    ).scalars()
                )
            for lost in set(ids) - owned:
                log.warning("outbox row %s was taken over by another worker", lost)
            updates = [u for u in batch.updates if u.outbox_id in owned]
            outbox_values: dict[int, dict[str, object]] = {}
            posting_values: dict[int, dict[str, object]] = {}
            txn_events: list[tuple[int, str]] = []
            for u in updates:
                outbox_values.setdefault(u.outbox_id, {}).update(_outbox_values(u, now))
                values = _posting_values(u, now)
                if values:
                    posting_values.setdefault(u.outbox_id, {}).update(values)
                if u.txn_event:
                    txn_events.append((u.outbox_id, u.txn_event))
            _executemany_update(session, o, o.c.id, outbox_values)
            self._posting_records(session, posting_values)
            self._transaction_events(session, txn_events, now)
            for u in updates:
                if u.nothing_to_post is not None:
                    _audit_nothing_to_post(session, u.nothing_to_post, worker_id.split("@")[0])
            stored = self._insert_events(session, batch.events)
            for mm in batch.mismatches:
                self._insert_mismatch(session, mm, now)
            session.commit()
        return stored

    def _posting_record(self, session: Session, u: m.RowUpdate, now: datetime) -> None:
        values = _posting_values(u, now)
        if values:
            self._posting_records(session, {u.outbox_id: values})

    def _posting_records(self, session: Session, rows: dict[int, dict[str, object]]) -> None:
        if not rows:
            return
        p = ReconcilePosting.__table__
        existing = set(
            session.execute(select(p.c.outbox_id).where(p.c.outbox_id.in_(list(rows)))).scalars()
        )
        _executemany_update(
            session, p, p.c.outbox_id, {k: v for k, v in rows.items() if k in existing}
        )
        fresh = [
            {
                "outbox_id": k,
                "invoice_id": None,
                "balance_before_cents": None,
                "balance_after_cents": None,
                "expected_delta_cents": None,
                "invoice_total_cents": None,
                "posted_at": None,
                "verified_at": None,
                "resolved_by": "",
                "note": "",
                "attempted_at": None,
                "doubt_checks": 0,
                "doubt_reason": "",
                **v,
            }
            for k, v in rows.items()
            if k not in existing
        ]
        if fresh:
            session.execute(insert(p), fresh)

    def _transaction_event(
        self, session: Session, outbox_id: int, event: str, now: datetime
    ) -> None:
        self._transaction_events(session, [(outbox_id, event)], now)

    def _transaction_events(
        self, session: Session, pairs: Sequence[tuple[int, str]], now: datetime
    ) -> None:
        """Move ledger transactions along the diagram (posted → reconciled, or post_failed)."""
        if not pairs:
            return
        o = OutboxRow.__table__
        t = Transaction.__table__
        rows = session.execute(
            select(o.c.id, t.c.id.label("txn_id"), t.c.state)
            .select_from(o.join(t, t.c.id == o.c.transaction_id))
            .where(o.c.id.in_(sorted({oid for oid, _ in pairs})))
        ).all()
        current = {r.id: (r.txn_id, TxnState(r.state)) for r in rows}
        start = {txn_id: state for txn_id, state in current.values()}
        state_of = dict(start)
        for outbox_id, event in pairs:
            if outbox_id not in current:
                continue
            txn_id = current[outbox_id][0]
            state = state_of[txn_id]
            steps = [TxnEvent(event)]
            if event == "reconciled" and state in (TxnState.APPROVED, TxnState.POST_FAILED):
                steps = [TxnEvent.POSTED, TxnEvent.RECONCILED]
            try:
                for step in steps:
                    state = transition(state, step)
            except IllegalTransition as exc:
                log.info("transaction %s: %s", txn_id, exc)
                continue
            state_of[txn_id] = state
        params = [
            {"_id": txn_id, "_old": start[txn_id].value, "_new": new.value}
            for txn_id, new in state_of.items()
            if new != start[txn_id]
        ]
        if params:
            session.execute(
                update(t)
                .where(t.c.id == bindparam("_id"), t.c.state == bindparam("_old"))
                .values(state=bindparam("_new"), version=t.c.version + 1, updated_at=now),
                params,
            )
            # A state moved is sealed in the audit chain too (one read-back for the batch).
            seals.note_ids(session, "transactions", [p["_id"] for p in params])

    def _insert_events(
        self, session: Session, events: Iterable[ReconcileEvent]
    ) -> list[ReconcileEvent]:
        pairs = [
            (
                ev,
                ReconcileEventRow(
                    time=ev.time,
                    outbox_id=ev.outbox_id,
                    transaction_ref=ev.transaction_ref[:64],
                    invoice_number=ev.invoice_number[:64],
                    amount_cents=ev.amount.cents,
                    kind=str(ev.kind),
                    message=ev.message,
                    retry_in=ev.retry_in,
                    station=ev.station[:64],
                ),
            )
            for ev in events
        ]
        if not pairs:
            return []
        session.add_all([row for _, row in pairs])
        session.flush()  # one multi-row INSERT … RETURNING gives every id
        return [replace(ev, id=row.id) for ev, row in pairs]

    def _insert_mismatch(self, session: Session, mm: m.MismatchRecord, now: datetime) -> bool:
        t = ReconcileMismatch.__table__
        if session.execute(select(t.c.id).where(t.c.key == mm.key)).first():
            return False
        session.execute(
            insert(t).values(
                key=mm.key[:160],
                kind=mm.kind,
                invoice_id=mm.invoice_id,
                invoice_number=mm.invoice_number,
                st_payment_id=mm.st_payment_id,
                outbox_id=mm.outbox_id,
                marker=mm.marker,
                expected_cents=_cents(mm.expected),
                actual_cents=_cents(mm.actual),
                message=mm.message,
                detected_at=now,
                resolution_note="",
            )
        )
        return True

    def add_mismatches(
        self, records: Sequence[m.MismatchRecord], events: Sequence[ReconcileEvent]
    ) -> list[ReconcileEvent]:
        """Store new mismatches (already-known keys are skipped) and their events."""
        now = datetime.now(UTC)
        out: list[ReconcileEvent] = []
        with Session(self.engine) as session:
            for mm, ev in zip(records, events, strict=True):
                if self._insert_mismatch(session, mm, now):
                    out.extend(self._insert_events(session, [ev]))
            session.commit()
        return out

    def cancel_unposted_original(
        self, void: m.OutboxItem, worker_id: str, now: datetime, station: str
    ) -> list[ReconcileEvent] | None:
        """A void of a sale still waiting in the outbox: neither needs posting. Both rows are
        cancelled in one transaction, only if the sale is still pending and unclaimed."""
        o = OutboxRow.__table__
        if void.original_outbox_id is None:
            return None
        with Session(self.engine) as session:
            result = session.execute(
                update(o)
                .where(
                    o.c.id == void.original_outbox_id,
                    o.c.state == m.PENDING,
                    or_(o.c.claimed_by.is_(None), o.c.claimed_by == worker_id),
                    o.c.attempts == 0,
                )
                .values(
                    state=m.CANCELLED,
                    updated_at=now,
                    last_error="Voided before it was posted: nothing to post to ServiceTitan.",
                )
            )
            if result.rowcount != 1:  # type: ignore[attr-defined]
                session.rollback()
                return None
            session.execute(
                update(o)
                .where(o.c.id == void.outbox_id, o.c.claimed_by == worker_id)
                .values(
                    state=m.CANCELLED,
                    claimed_by=None,
                    claimed_at=None,
                    updated_at=now,
                    last_error="The sale was voided before it reached ServiceTitan: nothing to void there.",
                )
            )
            # the void itself is settled: ServiceTitan never had the sale, so it agrees as it is
            self._transaction_events(session, [(void.outbox_id, "reconciled")], now)
            _audit_nothing_to_post(session, void.posting, station)
            p = void.posting
            common: dict[str, Any] = {
                "transaction_ref": "",
                "invoice_number": p.invoice_number,
                "amount": p.amount,
                "station": station,
            }
            events = [
                ReconcileEvent.now(
                    EventKind.CANCELLED,
                    "Sale voided before it was posted; nothing goes to ServiceTitan.",
                    outbox_id=void.original_outbox_id,
                    **{
                        **common,
                        "transaction_ref": (p.original_marker or "").removeprefix("POSPLUS-"),
                    },
                ),
                ReconcileEvent.now(
                    EventKind.CANCELLED,
                    "Void recorded; the sale never reached ServiceTitan, so nothing to deactivate.",
                    outbox_id=void.outbox_id,
                    **{
                        **common,
                        "transaction_ref": p.marker.removeprefix("POSPLUS-"),
                        "amount": -p.amount,
                    },
                ),
            ]
            stored = self._insert_events(session, events)
            session.commit()
        return stored

    # -- reading -------------------------------------------------------------------------------

    def history(self, limit: int = 500, *, outbox_id: int | None = None) -> list[ReconcileEvent]:
        """The newest ``limit`` events, oldest first (what the screen shows after a restart)."""
        e = ReconcileEventRow.__table__
        query = select(e).order_by(e.c.id.desc()).limit(limit)
        if outbox_id is not None:
            query = query.where(e.c.outbox_id == outbox_id)
        with self.engine.connect() as conn:
            rows = conn.execute(query).all()
        return [
            ReconcileEvent(
                time=_utc(r.time) or datetime.now(UTC),
                transaction_ref=r.transaction_ref,
                invoice_number=r.invoice_number,
                amount=Money(int(r.amount_cents)),
                kind=EventKind(r.kind),
                message=r.message,
                outbox_id=r.outbox_id,
                retry_in=r.retry_in,
                station=r.station,
                id=r.id,
            )
            for r in reversed(rows)
        ]

    def summary(self, day: date, tz: tzinfo | None = None) -> ReconcileSummary:
        """Today's counts and amounts by method and by state."""
        o = OutboxRow.__table__
        t = Transaction.__table__
        tz = tz or datetime.now().astimezone().tzinfo
        start = datetime.combine(day, datetime.min.time(), tz) - timedelta(hours=1)
        end = start + timedelta(hours=26)
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(
                    o.c.created_at,
                    o.c.action,
                    o.c.state,
                    t.c.tender,
                    t.c.amount_cents,
                    t.c.approved_cents,
                )
                .select_from(o.join(t, t.c.id == o.c.transaction_id))
                .where(o.c.created_at >= start, o.c.created_at < end)
            ).all()
        return summarize(
            (
                SummaryRow(
                    created_at=_utc(r.created_at) or datetime.now(UTC),
                    method=r.tender or "",
                    action=r.action,
                    amount=Money(abs(int(r.approved_cents or r.amount_cents or 0))),
                    state=r.state,
                )
                for r in rows
            ),
            day,
            tz,
        )

    def counts(self) -> dict[str, int]:
        """Outbox rows per state (all time)."""
        o = OutboxRow.__table__
        with self.engine.connect() as conn:
            rows = conn.execute(select(o.c.state, func.count()).group_by(o.c.state)).all()
        return {state: int(n) for state, n in rows}

    def postings(self, states: Sequence[str], limit: int = 500) -> list[m.PostingView]:
        """Outbox rows in ``states`` (e.g. those needing attention), oldest first."""
        o = OutboxRow.__table__
        t = Transaction.__table__
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(
                    o.c.id,
                    o.c.marker,
                    o.c.action,
                    o.c.state,
                    o.c.attempts,
                    o.c.last_error,
                    o.c.st_payment_id,
                    o.c.created_at,
                    o.c.updated_at,
                    t.c.invoice_number,
                    t.c.approved_cents,
                    t.c.amount_cents,
                    t.c.tender,
                )
                .select_from(o.join(t, t.c.id == o.c.transaction_id))
                .where(o.c.state.in_(list(states)))
                .order_by(o.c.id)
                .limit(limit)
            ).all()
        out = []
        for r in rows:
            amount = Money(abs(int(r.approved_cents or r.amount_cents or 0)))
            out.append(
                m.PostingView(
                    outbox_id=r.id,
                    transaction_ref=r.marker.removeprefix("POSPLUS-"),
                    action=r.action,
                    state=r.state,
                    invoice_number=r.invoice_number,
                    amount=amount if r.action == "post_payment" else -amount,
                    method=r.tender or "",
                    attempts=r.attempts or 0,
                    last_error=r.last_error or "",
                    st_payment_id=r.st_payment_id or "",
                    created_at=_utc(r.created_at) or datetime.now(UTC),
                    updated_at=_utc(r.updated_at) or datetime.now(UTC),
                )
            )
        return out

    def mismatches(self, *, include_resolved: bool = False) -> list[m.MismatchRecord]:
        t = ReconcileMismatch.__table__
        query = select(t).order_by(t.c.id)
        if not include_resolved:
            query = query.where(t.c.resolved_at.is_(None))
        with self.engine.connect() as conn:
            rows = conn.execute(query).all()
        return [
            m.MismatchRecord(
                key=r.key,
                kind=r.kind,
                message=r.message,
                invoice_id=r.invoice_id,
                invoice_number=r.invoice_number,
                st_payment_id=r.st_payment_id,
                outbox_id=r.outbox_id,
                marker=r.marker,
                expected=_money(r.expected_cents),
                actual=_money(r.actual_cents),
            )
            for r in rows
        ]

    # -- supervisor actions --------------------------------------------------------------------

    def _action_row(self, session: Session, outbox_id: int):  # type: ignore[no-untyped-def]
        o = OutboxRow.__table__
        t = Transaction.__table__
        row = session.execute(
            select(o, t.c.invoice_number, t.c.approved_cents, t.c.amount_cents)
            .select_from(o.join(t, t.c.id == o.c.transaction_id))
            .where(o.c.id == outbox_id)
        ).first()
        if row is None:
            raise ActionRefused(f"There is no posting number {outbox_id}. Refresh the list.")
        return row

    def _action_event(self, row, kind: EventKind, message: str, station: str) -> ReconcileEvent:  # type: ignore[no-untyped-def]
        amount = Money(abs(int(row.approved_cents or row.amount_cents or 0)))
        if row.action != "post_payment":
            amount = -amount
        return ReconcileEvent.now(
            kind,
            message,
            transaction_ref=row.marker.removeprefix("POSPLUS-"),
            invoice_number=row.invoice_number,
            amount=amount,
            outbox_id=row.id,
            station=station,
        )

    def retry_now(self, outbox_id: int, operator: str, station: str = "") -> list[ReconcileEvent]:
        """Put a row back in line now. A row that was never confirmed posted goes back as
        ``posting`` so the worker searches ServiceTitan for it before posting (never twice)."""
        o = OutboxRow.__table__
        now = datetime.now(UTC)
        with Session(self.engine) as session:
            row = self._action_row(session, outbox_id)
            if row.state in (m.VERIFIED, m.CANCELLED):
                raise ActionRefused(
                    f"Posting {outbox_id} is {row.state}; there is nothing to retry."
                )
            if row.state == m.POSTING and row.claimed_by:
                raise ActionRefused(
                    f"Posting {outbox_id} is being posted right now; wait for the result."
                )
            p = ReconcilePosting.__table__
            doubt = session.execute(
                select(p.c.attempted_at, p.c.doubt_reason).where(p.c.outbox_id == outbox_id)
            ).first()
            # back to "posting" (search first) unless its last try was certainly not saved
            in_doubt = row.state == m.POSTING or (
                doubt is not None and doubt.attempted_at is not None and doubt.doubt_reason != ""
            )
            new_state = outbox_move(
                row.state,
                m.POSTED if row.st_payment_id else (m.POSTING if in_doubt else m.PENDING),
            )
            session.execute(
                update(o)
                .where(o.c.id == outbox_id)
                .values(
                    state=new_state,
                    next_attempt_at=None,
                    claimed_by=None,
                    claimed_at=None,
                    attempts=0 if row.state == m.NEEDS_ATTENTION else row.attempts,
                    updated_at=now,
                )
            )
            audit.append(
                session,
                "reconcile.retry_now",
                actor=operator,
                station=station,
                subject=row.marker,
                details={"outbox_id": outbox_id, "from": row.state},
            )
            stored = self._insert_events(
                session,
                [
                    self._action_event(
                        row, EventKind.QUEUED, f"Retry now, asked by {operator}.", station
                    )
                ],
            )
            session.commit()
        return stored

    def mark_posted_by_hand(
        self,
        outbox_id: int,
        operator: str,
        note: str,
        *,
        st_payment_id: str | None = None,
        station: str = "",
    ) -> list[ReconcileEvent]:
        """A person recorded it in ServiceTitan themselves. With the payment id the worker still
        verifies it; without, the row is closed with the note."""
        if not note.strip():
            raise ActionRefused("Write a note saying where and how it was posted by hand.")
        o = OutboxRow.__table__
        now = datetime.now(UTC)
        with Session(self.engine) as session:
            row = self._action_row(session, outbox_id)
            if row.state in (m.VERIFIED, m.CANCELLED):
                raise ActionRefused(f"Posting {outbox_id} is already {row.state}.")
            if row.claimed_by and row.state == m.POSTING:
                raise ActionRefused(
                    f"Posting {outbox_id} is being posted right now; wait for the result."
                )
            state = outbox_move(row.state, m.POSTED if st_payment_id else m.VERIFIED)
            session.execute(
                update(o)
                .where(o.c.id == outbox_id)
                .values(
                    state=state,
                    st_payment_id=st_payment_id or row.st_payment_id,
                    next_attempt_at=None,
                    claimed_by=None,
                    claimed_at=None,
                    last_error=f"Posted by hand ({operator}): {note.strip()}"[:1000],
                    updated_at=now,
                )
            )
            self._posting_record(
                session,
                m.RowUpdate(
                    outbox_id,
                    resolved_by=operator,
                    note=note.strip(),
                    mark_posted_at=True,
                    mark_verified_at=state == m.VERIFIED,
                ),
                now,
            )
            self._transaction_event(session, outbox_id, "posted", now)
            audit.append(
                session,
                "reconcile.mark_posted_by_hand",
                actor=operator,
                station=station,
                subject=row.marker,
                details={"outbox_id": outbox_id, "note": note.strip(), "payment": st_payment_id},
            )
            stored = self._insert_events(
                session,
                [
                    self._action_event(
                        row,
                        EventKind.RESOLVED,
                        f"Marked posted by hand by {operator}: {note.strip()}",
                        station,
                    )
                ],
            )
            session.commit()
        return stored

    def cancel(
        self, outbox_id: int, operator: str, note: str, *, station: str = ""
    ) -> list[ReconcileEvent]:
        """Stop posting a row that never reached ServiceTitan."""
        if not note.strip():
            raise ActionRefused("Write a note saying why this posting is cancelled.")
        o = OutboxRow.__table__
        now = datetime.now(UTC)
        with Session(self.engine) as session:
            row = self._action_row(session, outbox_id)
            if row.state in (m.POSTED, m.VERIFIED, m.MISMATCH) or row.st_payment_id:
                raise ActionRefused(
                    f"Posting {outbox_id} is already in ServiceTitan (payment "
                    f"{row.st_payment_id or '?'}); void or refund the sale instead of cancelling."
                )
            if row.state == m.POSTING:
                raise ActionRefused(
                    f"Posting {outbox_id} may already be in ServiceTitan (its last reply was lost). "
                    "Use Retry now first: the worker searches ServiceTitan for it."
                )
            if row.state == m.CANCELLED:
                raise ActionRefused(f"Posting {outbox_id} is already cancelled.")
            session.execute(
                update(o)
                .where(o.c.id == outbox_id, o.c.state == row.state)
                .values(
                    state=m.CANCELLED,
                    claimed_by=None,
                    claimed_at=None,
                    last_error=f"Cancelled by {operator}: {note.strip()}"[:1000],
                    updated_at=now,
                )
            )
            self._posting_record(
                session, m.RowUpdate(outbox_id, resolved_by=operator, note=note.strip()), now
            )
            audit.append(
                session,
                "reconcile.cancel",
                actor=operator,
                station=station,
                subject=row.marker,
                details={"outbox_id": outbox_id, "note": note.strip()},
            )
            stored = self._insert_events(
                session,
                [
                    self._action_event(
                        row,
                        EventKind.CANCELLED,
                        f"Cancelled by {operator}: {note.strip()}",
                        station,
                    )
                ],
            )
            session.commit()
        return stored

    # -- the single-worker lock (SQLite) -------------------------------------------------------

    def acquire_lock(self, holder: str, ttl: float, name: str = "outbox") -> str | None:
        """Take or renew the lease; returns ``None`` on success, else the live holder's name.

        A holder on this computer whose process is gone is taken over at once (a killed worker
        does not make the next one wait for the lease to run out).
        """
        lk = ReconcileLock.__table__
        now = datetime.now(UTC)
        expires = now + timedelta(seconds=ttl)
        with Session(self.engine) as session:
            row = session.execute(select(lk).where(lk.c.name == name)).first()
            if row is None:
                try:
                    session.execute(
                        insert(lk).values(
                            name=name, holder=holder, acquired_at=now, expires_at=expires
                        )
                    )
                    session.commit()
                except IntegrityError:  # another worker inserted it first
                    session.rollback()
                    current = session.execute(select(lk.c.holder).where(lk.c.name == name))
                    return str(current.scalar() or "another worker")
                return None
            live = (_utc(row.expires_at) or now) > now and row.holder != holder
            if live and not _holder_is_dead(row.holder):
                session.rollback()
                return str(row.holder)
            # conditional on the holder we saw: of two workers taking over, one wins
            won = session.execute(
                update(lk)
                .where(lk.c.name == name, lk.c.holder == row.holder)
                .values(holder=holder, acquired_at=now, expires_at=expires)
            ).rowcount  # type: ignore[attr-defined]
            session.commit()
            if won != 1:
                current = session.execute(select(lk.c.holder).where(lk.c.name == name))
                return str(current.scalar() or "another worker")
        return None

    def release_other_claims(self, worker_id: str) -> int:
        """Drop every claim not held by ``worker_id``: called on SQLite right after taking the
        single-worker lock, when any other claim belongs to a worker that is gone (killed)."""
        o = OutboxRow.__table__
        with self.engine.begin() as conn:
            result = conn.execute(
                update(o)
                .where(o.c.claimed_by.is_not(None), ~_mine(o.c.claimed_by, worker_id))
                .values(claimed_by=None, claimed_at=None)
            )
        return int(result.rowcount or 0)

    def release_dead_claims(self) -> int:
        """Drop claims of workers on this computer whose process is gone (killed), so a
        restarted station does not wait for their lease to run out."""
        o = OutboxRow.__table__
        with self.engine.connect() as conn:
            holders = list(
                conn.execute(
                    select(o.c.claimed_by).where(o.c.claimed_by.is_not(None)).distinct()
                ).scalars()
            )
        dead = [h for h in holders if _holder_is_dead(h.split("#", 1)[0])]
        if not dead:
            return 0
        with self.engine.begin() as conn:
            result = conn.execute(
                update(o).where(o.c.claimed_by.in_(dead)).values(claimed_by=None, claimed_at=None)
            )
        return int(result.rowcount or 0)

    def release_lock(self, holder: str, name: str = "outbox") -> None:
        lk = ReconcileLock.__table__
        with self.engine.begin() as conn:
            conn.execute(
                update(lk)
                .where(lk.c.name == name, lk.c.holder == holder)
                .values(expires_at=datetime.now(UTC) - timedelta(seconds=1))
            )


def _audit_nothing_to_post(session: Session, posting: Posting, station: str) -> None:
    """A void whose sale never reached ServiceTitan: recorded as settled with nothing posted."""
    audit.append(
        session,
        "reconcile.nothing_to_post",
        actor="reconcile",
        station=station,
        subject=posting.marker,
        details={
            "outbox_id": posting.outbox_id,
            "action": posting.action,
            "sale": posting.original_marker or "",
            "amount_cents": posting.amount.cents,
            "why": "the sale was voided before it was posted to ServiceTitan",
        },
    )


def _outbox_values(u: m.RowUpdate, now: datetime) -> dict[str, object]:
    values: dict[str, object] = {"updated_at": now}
    if u.state is not None:
        values["state"] = u.state
    if u.attempts is not None:
        values["attempts"] = u.attempts
    if u.next_attempt_at is not None:
        values["next_attempt_at"] = u.next_attempt_at
    elif u.clear_next_attempt:
        values["next_attempt_at"] = None
    if u.release:
        values["claimed_by"] = None
        values["claimed_at"] = None
    if u.st_payment_id is not None:
        values["st_payment_id"] = u.st_payment_id
    if u.last_error is not None:
        values["last_error"] = u.last_error[:1000]
    elif u.clear_error:
        values["last_error"] = None
    return values


def _posting_values(u: m.RowUpdate, now: datetime) -> dict[str, object]:
    values: dict[str, object] = {}
    if u.result_invoice_id is not None:
        values["invoice_id"] = u.result_invoice_id
    if u.balance_before is not None:
        values["balance_before_cents"] = u.balance_before.cents
    if u.balance_after is not None:
        values["balance_after_cents"] = u.balance_after.cents
    if u.expected_delta is not None:
        values["expected_delta_cents"] = u.expected_delta.cents
    if u.invoice_total is not None:
        values["invoice_total_cents"] = u.invoice_total.cents
    if u.mark_posted_at:
        values["posted_at"] = now
    if u.mark_verified_at:
        values["verified_at"] = now
    if u.resolved_by is not None:
        values["resolved_by"] = u.resolved_by[:64]
    if u.note is not None:
        values["note"] = u.note
    if u.attempted_at is not None:
        values["attempted_at"] = u.attempted_at
    if u.doubt_checks is not None:
        values["doubt_checks"] = u.doubt_checks
    if u.doubt_reason is not None:
        values["doubt_reason"] = u.doubt_reason
    return values


def _executemany_update(session: Session, table, key, rows: dict[int, dict[str, object]]) -> None:  # type: ignore[no-untyped-def]
    """One UPDATE … WHERE key = ? executemany per set of columns changed."""
    shapes: dict[tuple[str, ...], list[dict[str, object]]] = {}
    for row_id, values in rows.items():
        cols = tuple(sorted(values))
        shapes.setdefault(cols, []).append({"_key": row_id, **{f"v_{c}": values[c] for c in cols}})
    for cols, params in shapes.items():
        if not cols:
            continue
        session.execute(
            update(table)
            .where(key == bindparam("_key"))
            .values({c: bindparam(f"v_{c}") for c in cols}),
            params,
        )


def _beat(session: Session, worker_id: str, now: datetime) -> None:
    b = ReconcileWorkerBeat.__table__
    done = session.execute(update(b).where(b.c.worker_id == worker_id).values(beat_at=now)).rowcount  # type: ignore[attr-defined]
    if not done:
        try:
            with session.begin_nested():
                session.execute(insert(b).values(worker_id=worker_id[:80], beat_at=now))
        except IntegrityError:  # another lane of the same worker inserted it first
            pass


def _mine(column, worker_id: str):  # type: ignore[no-untyped-def]
    """Claims of this worker: its id, or one of its lanes (``<id>#<lane>``)."""
    return or_(column == worker_id, column.startswith(f"{worker_id}#", autoescape=True))


def _holder_is_dead(holder: str) -> bool:
    """``station@host:pid:tag`` on this host whose process no longer runs."""
    try:
        _, rest = holder.rsplit("@", 1)
        host, pid, _tag = rest.rsplit(":", 2)
        pid_number = int(pid)
    except ValueError:
        return False
    if host != socket.gethostname():
        return False
    try:
        os.kill(pid_number, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False
