"""Claiming outbox rows: leases, worker beats, the single-worker lock, releasing dead claims.

Blocking SQLAlchemy code; each method is one database transaction (see ``store``).
"""

from __future__ import annotations

import os
import socket
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine, and_, func, insert, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import aliased
from sqlmodel import Session

from posplus_tui.domain.money import Money
from posplus_tui.ledger.tables.outbox import OutboxRow
from posplus_tui.ledger.tables.reconcile import ReconcileLock, ReconcilePosting, ReconcileWorkerBeat
from posplus_tui.ledger.tables.transactions import Transaction
from posplus_tui.services.reconcile import model as m
from posplus_tui.services.reconcile.poster import Posting
from posplus_tui.services.reconcile.values import as_utc, money_or_none


class ClaimStore:
    """Reconciliation's claims on one ledger engine: who holds which outbox row."""

    #: A worker beats every few seconds while it runs; one silent for this long is gone, and
    #: its claims are free at once (much sooner than the claim lease).
    BEAT_TIMEOUT = timedelta(seconds=15)

    def __init__(self, engine: Engine, *, beat_timeout: timedelta | None = None) -> None:
        self.engine = engine
        self.beat_timeout = beat_timeout or self.BEAT_TIMEOUT

    @property
    def is_postgres(self) -> bool:
        return self.engine.dialect.name == "postgresql"

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
                paid_on=as_utc(r.settled_at) or as_utc(r.created_at) or datetime.now(UTC),
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
                    balance_before=money_or_none(r.balance_before_cents),
                    expected_delta=money_or_none(r.expected_delta_cents),
                    original_outbox_id=r.orig_id,
                    original_state=r.orig_state,
                    original_claimed=r.orig_claimed_by is not None,
                    queued_at=as_utc(r.queued_at),
                    attempted_at=as_utc(r.attempted_at),
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
            r.worker_id: as_utc(r.beat_at)
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
        return int(count or 0), as_utc(due)

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
            live = (as_utc(row.expires_at) or now) > now and row.holder != holder
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
