"""Appending to and verifying the audit chain.

Each event's hash is SHA-256 over its canonical JSON (sequence, time, actor, station, action,
subject, details) and the previous event's hash. :func:`append` first bumps the single
``audit_head`` row — a row lock on PostgreSQL, the write lock on SQLite — so appends from several
stations are serialized and the chain never forks. It runs inside the caller's session, so an
event commits (or rolls back) together with the change it records.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, NamedTuple

from sqlalchemy import Engine, bindparam, insert, select, update
from sqlmodel import Session, col

from posplus_tui.ledger.tables.audit import AuditEvent, AuditHead

GENESIS = "0" * 64

__all__ = ["GENESIS", "Appended", "AuditBreak", "VerifyReport", "append", "event_hash", "verify"]


def _canonical(details: dict[str, Any]) -> str:
    return json.dumps(
        details, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str
    )


def event_hash(
    *,
    seq: int,
    at: str,
    actor: str,
    station: str,
    action: str,
    subject: str,
    details: str,
    prev_hash: str,
) -> str:
    body = json.dumps(
        [seq, at, actor, station, action, subject, details, prev_hash],
        separators=(",", ":"),
        ensure_ascii=False,
    )
    return hashlib.sha256(body.encode("utf-8")).hexdigest()


class Appended(NamedTuple):
    seq: int
    hash: str


_HEAD = AuditHead.__table__
# Built once: appending runs inside every money transaction, so it should cost little.
_BUMP = update(_HEAD).where(_HEAD.c.id == 1).values(seq=_HEAD.c.seq + 1)
_READ_HEAD = select(_HEAD.c.seq, _HEAD.c.hash).where(_HEAD.c.id == 1)
_SET_HEAD = update(_HEAD).where(_HEAD.c.id == 1).values(hash=bindparam("new_hash"))
_INSERT = insert(AuditEvent.__table__)


def append(
    session: Session,
    action: str,
    *,
    actor: str = "",
    station: str = "",
    subject: str = "",
    details: dict[str, Any] | None = None,
    at: datetime | None = None,
) -> Appended:
    """Add one event to the chain inside ``session`` (committed with the caller's change)."""
    conn = session.connection()
    conn.execute(_BUMP)  # first, so the lock is taken before the head is read
    seq, prev = conn.execute(_READ_HEAD).one()
    when = (at or datetime.now(UTC)).astimezone(UTC).isoformat(timespec="microseconds")
    body = _canonical(details or {})
    actor, station, action, subject = actor[:80], station[:40], action[:40], subject[:80]
    digest = event_hash(
        seq=seq,
        at=when,
        actor=actor,
        station=station,
        action=action,
        subject=subject,
        details=body,
        prev_hash=prev,
    )
    conn.execute(
        _INSERT,
        {
            "seq": seq,
            "at": when,
            "actor": actor,
            "station": station,
            "action": action,
            "subject": subject,
            "details": body,
            "prev_hash": prev,
            "hash": digest,
        },
    )
    conn.execute(_SET_HEAD, {"new_hash": digest})
    return Appended(seq, digest)


@dataclass(frozen=True)
class AuditBreak:
    seq: int
    reason: str


@dataclass(frozen=True)
class VerifyReport:
    events: int
    first_break: AuditBreak | None

    @property
    def ok(self) -> bool:
        return self.first_break is None

    def describe(self) -> str:
        if self.ok:
            return f"audit chain intact: {self.events} events, every link verified."
        assert self.first_break is not None
        return (
            f"audit chain BROKEN at event #{self.first_break.seq}: {self.first_break.reason}. "
            f"{self.events} events checked up to there; everything from #{self.first_break.seq} "
            "on cannot be trusted."
        )


def verify(engine: Engine, *, batch: int = 5000) -> VerifyReport:
    """Walk the chain in order and report the first event whose link or hash does not match."""
    prev = GENESIS
    expected_seq = 1
    count = 0
    with Session(engine) as session:
        head_seq, head_hash = session.execute(
            select(col(AuditHead.seq), col(AuditHead.hash)).where(col(AuditHead.id) == 1)
        ).one()
        last = 0
        while True:
            rows = (
                session.execute(
                    select(AuditEvent)
                    .where(col(AuditEvent.seq) > last)
                    .order_by(col(AuditEvent.seq))
                    .limit(batch)
                )
                .scalars()
                .all()
            )
            if not rows:
                break
            for ev in rows:
                if ev.seq != expected_seq:
                    return VerifyReport(
                        count, AuditBreak(expected_seq, f"event #{expected_seq} is missing")
                    )
                if ev.prev_hash != prev:
                    return VerifyReport(
                        count,
                        AuditBreak(ev.seq, "it does not carry the hash of the event before it"),
                    )
                digest = event_hash(
                    seq=ev.seq,
                    at=ev.at,
                    actor=ev.actor,
                    station=ev.station,
                    action=ev.action,
                    subject=ev.subject,
                    details=ev.details,
                    prev_hash=ev.prev_hash,
                )
                if digest != ev.hash:
                    return VerifyReport(
                        count, AuditBreak(ev.seq, "its contents were changed after it was written")
                    )
                prev = ev.hash
                expected_seq += 1
                count += 1
                last = ev.seq
        if head_seq != count or head_hash != prev:
            return VerifyReport(
                count,
                AuditBreak(
                    count + 1,
                    f"the chain ends at #{count} but the head says #{head_seq}: "
                    "events at the end were deleted",
                ),
            )
    return VerifyReport(count, None)
