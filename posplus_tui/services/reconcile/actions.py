"""A supervisor's actions on one outbox row: retry now, mark posted by hand, cancel."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import select, update
from sqlmodel import Session

from posplus_tui.domain.money import Money
from posplus_tui.domain.outbox import outbox_move
from posplus_tui.ledger import audit
from posplus_tui.ledger.tables.outbox import OutboxRow
from posplus_tui.ledger.tables.reconcile import ReconcilePosting
from posplus_tui.ledger.tables.transactions import Transaction
from posplus_tui.services.errors import ServiceError
from posplus_tui.services.reconcile import model as m
from posplus_tui.services.reconcile.events import EventKind, ReconcileEvent
from posplus_tui.services.reconcile.results import ResultStore


class ActionRefused(ServiceError):
    """A supervisor action that does not apply to the row as it is; says why and what to do."""


class ActionStore(ResultStore):
    """Supervisor actions, each audited and recorded as an event."""

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
