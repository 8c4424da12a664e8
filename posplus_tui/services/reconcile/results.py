"""Applying the worker's results: outbox and posting rows, transaction moves, events, mismatches."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import bindparam, insert, or_, select, update
from sqlmodel import Session

from posplus_tui.domain.transactions import IllegalTransition, TxnEvent, TxnState, transition
from posplus_tui.ledger import audit
from posplus_tui.ledger.tables.outbox import OutboxRow
from posplus_tui.ledger.tables.reconcile import (
    ReconcileEventRow,
    ReconcileMismatch,
    ReconcilePosting,
)
from posplus_tui.ledger.tables.transactions import Transaction
from posplus_tui.services.reconcile import model as m
from posplus_tui.services.reconcile.claims import ClaimStore
from posplus_tui.services.reconcile.events import EventKind, ReconcileEvent
from posplus_tui.services.reconcile.poster import Posting
from posplus_tui.services.reconcile.values import cents_or_none

log = logging.getLogger(__name__)


class ResultStore(ClaimStore):
    """Writes what a posting attempt found, in one transaction per batch."""

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
                expected_cents=cents_or_none(mm.expected),
                actual_cents=cents_or_none(mm.actual),
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
