"""What the screens and the CLI read: history, the day's summary, counts, postings, mismatches."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta, tzinfo

from sqlalchemy import func, select

from posplus_tui.domain.money import Money
from posplus_tui.ledger.tables.outbox import OutboxRow
from posplus_tui.ledger.tables.reconcile import ReconcileEventRow, ReconcileMismatch
from posplus_tui.ledger.tables.transactions import Transaction
from posplus_tui.services.reconcile import model as m
from posplus_tui.services.reconcile.claims import ClaimStore
from posplus_tui.services.reconcile.events import EventKind, ReconcileEvent
from posplus_tui.services.reconcile.summary import ReconcileSummary, SummaryRow, summarize
from posplus_tui.services.reconcile.values import as_utc, money_or_none


class QueryStore(ClaimStore):
    """Read-only views of the outbox and its postings."""

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
                time=as_utc(r.time) or datetime.now(UTC),
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
                    created_at=as_utc(r.created_at) or datetime.now(UTC),
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
                    created_at=as_utc(r.created_at) or datetime.now(UTC),
                    updated_at=as_utc(r.updated_at) or datetime.now(UTC),
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
                expected=money_or_none(r.expected_cents),
                actual=money_or_none(r.actual_cents),
            )
            for r in rows
        ]
