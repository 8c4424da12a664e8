"""Appending to and verifying the audit chain.

Each event's hash is HMAC-SHA-256, keyed with the ledger's audit key (kept in the secret store,
never in the database; see :func:`set_key`), over its canonical JSON (sequence, time, actor,
station, action, subject, details) and the previous event's hash. Without a key it is plain
SHA-256 (tests, tools); a verifier holding the key refuses such events, so whoever can write
the database but not read the keyring cannot re-hash the chain. The head is also anchored
outside the ledger (:func:`anchor`: an append-only file, and the batch-close report), so cutting
the tail and moving the head back is seen too. :func:`append` first bumps the single
``audit_head`` row — a row lock on PostgreSQL, the write lock on SQLite — so appends from several
stations are serialized and the chain never forks. It runs inside the caller's session, so an
event commits (or rolls back) together with the change it records.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import weakref
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, NamedTuple

from sqlalchemy import Connection, Engine, bindparam, insert, select, update
from sqlmodel import Session, col

from posplus_tui.ledger.tables.audit import AuditEvent, AuditHead
from posplus_tui.redaction import redact

GENESIS = "0" * 64

__all__ = [
    "GENESIS",
    "Appended",
    "AuditBreak",
    "VerifyReport",
    "anchor",
    "append",
    "event_hash",
    "ledger_id",
    "set_key",
    "verify",
]

_KEYS: weakref.WeakKeyDictionary[Engine, bytes] = weakref.WeakKeyDictionary()


def set_key(engine: Engine, key: str | bytes | None) -> None:
    """Sign this ledger's events with ``key`` (from the secret store) from now on."""
    if not key:
        _KEYS.pop(engine, None)
        return
    _KEYS[engine] = key.encode() if isinstance(key, str) else key


def _key_of(bind: Engine | Connection) -> bytes | None:
    engine = bind.engine if isinstance(bind, Connection) else bind
    return _KEYS.get(engine)


def _scrub(value: Any) -> Any:
    """Every text in an event passes the masker before it is hashed: card data or a secret in a
    hash-chained event could never be removed without breaking the chain."""
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {str(k): _scrub(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_scrub(v) for v in value]
    return value


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
    key: bytes | None = None,
) -> str:
    body = json.dumps(
        [seq, at, actor, station, action, subject, details, prev_hash],
        separators=(",", ":"),
        ensure_ascii=False,
    ).encode("utf-8")
    if key:
        return hmac.new(key, body, hashlib.sha256).hexdigest()
    return hashlib.sha256(body).hexdigest()


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
    scrub: bool = True,
) -> Appended:
    """Add one event to the chain inside ``session`` (committed with the caller's change).
    Every text passes the masker first, except for ``scrub=False`` (digests the ledger computes
    itself: a hex digest can hold a run of digits that looks like a card number)."""
    conn = session.connection()
    conn.execute(_BUMP)  # first, so the lock is taken before the head is read
    seq, prev = conn.execute(_READ_HEAD).one()
    when = (at or datetime.now(UTC)).astimezone(UTC).isoformat(timespec="microseconds")
    body = _canonical(_scrub(details or {}) if scrub else (details or {}))
    actor, station, subject = redact(actor)[:80], redact(station)[:40], redact(subject)[:80]
    action = action[:40]
    digest = event_hash(
        seq=seq,
        at=when,
        actor=actor,
        station=station,
        action=action,
        subject=subject,
        details=body,
        prev_hash=prev,
        key=_key_of(conn),
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


def verify(
    engine: Engine,
    *,
    batch: int = 5000,
    key: str | bytes | None = None,
    anchors: Path | None = None,
) -> VerifyReport:
    """Walk the chain in order and report the first event whose link or hash does not match;
    then the head against the anchors kept outside the ledger, and the money and operator rows
    against the seals the chain holds for them (:mod:`posplus_tui.ledger.seals`)."""
    from posplus_tui.ledger import seals

    signing = (key.encode() if isinstance(key, str) else key) if key else _key_of(engine)
    prev = GENESIS
    expected_seq = 1
    count = 0
    hashes: dict[int, str] = {}
    sealed: dict[tuple[str, int], str] = {}
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
                    key=signing,
                )
                if not hmac.compare_digest(digest, ev.hash):
                    return VerifyReport(
                        count,
                        AuditBreak(
                            ev.seq,
                            "its contents were changed after it was written (or it was not "
                            "signed with this ledger's audit key)",
                        ),
                    )
                if ev.action == seals.SEAL_ACTION:
                    seals.remember(sealed, ev.details)
                hashes[ev.seq] = ev.hash
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
        if anchors is not None:
            for seq, anchored in read_anchors(anchors, ledger_id(engine)):
                if seq > count:
                    return VerifyReport(
                        count,
                        AuditBreak(
                            count + 1,
                            f"the chain ends at #{count} but it reached #{seq} before (anchored "
                            f"outside the ledger in {anchors.name}): events at the end were "
                            "deleted",
                        ),
                    )
                if not hmac.compare_digest(hashes[seq], anchored):
                    return VerifyReport(
                        count,
                        AuditBreak(
                            seq,
                            f"its hash differs from the one anchored in {anchors.name}: the "
                            "chain was rewritten",
                        ),
                    )
        problem = seals.cross_check(session, sealed)
        if problem is not None:
            return VerifyReport(count, AuditBreak(count + 1, problem))
    return VerifyReport(count, None)


# -- the head, anchored outside the ledger ---------------------------------------------------------


def ledger_id(engine: Engine) -> str:
    """A short name for one ledger (its URL without the password), for the anchor file."""
    shown = engine.url.render_as_string(hide_password=True)
    return hashlib.sha256(shown.encode()).hexdigest()[:16]


def head(engine: Engine) -> tuple[int, str]:
    with engine.connect() as conn:
        seq, digest = conn.execute(_READ_HEAD).one()
    return int(seq), str(digest)


def anchor(engine: Engine, path: Path) -> tuple[int, str]:
    """Append the chain's head to ``path`` (created 0600, only ever appended to) and return it:
    the same line is printed on the batch-close report."""
    seq, digest = head(engine)
    path.parent.mkdir(parents=True, exist_ok=True)
    when = datetime.now(UTC).isoformat(timespec="seconds")
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        os.write(fd, f"{when} {ledger_id(engine)} {seq} {digest}\n".encode())
        os.fsync(fd)
    finally:
        os.close(fd)
    return seq, digest


def read_anchors(path: Path, ledger: str) -> list[tuple[int, str]]:
    """The ``(seq, hash)`` anchored for ``ledger`` in ``path`` (none when there is no file)."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        return []
    found = []
    for line in lines:
        parts = line.split()
        if len(parts) == 4 and parts[1] == ledger and parts[2].isdigit():
            found.append((int(parts[2]), parts[3]))
    return found
