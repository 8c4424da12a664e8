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
event commits (or rolls back) together with the change it records, and carries the seals of the
money and operator rows that transaction wrote (:mod:`posplus_tui.ledger.seals`).

A signed chain starts with an ``audit_signed`` event naming its key (by a check value, never the
key), and the head carries the same check value: every append reads it with the head (no extra
statement) and a station never appends unsigned or with another key (:class:`AuditKeyError`, in
words). An old unsigned chain is verified, then continued signed from an ``audit_signed`` event
that records where the unsigned part ends (:func:`upgrade`).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import weakref
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Any, Literal, NamedTuple

from sqlalchemy import Connection, Engine, bindparam, insert, select, update
from sqlmodel import Session, col

from posplus_tui.ledger import seals
from posplus_tui.ledger.tables.audit import AuditEvent, AuditHead
from posplus_tui.redaction import redact

GENESIS = "0" * 64

__all__ = [
    "GENESIS",
    "Appended",
    "AuditBreak",
    "AuditKeyError",
    "KeyState",
    "VerifyReport",
    "anchor",
    "append",
    "event_hash",
    "key_check",
    "key_state",
    "ledger_id",
    "set_key",
    "upgrade",
    "verify",
]

#: The event that starts the signed part of a chain (the first event of a new one).
SIGNED_ACTION = "audit_signed"

_KEYS: weakref.WeakKeyDictionary[Engine, bytes] = weakref.WeakKeyDictionary()
#: Each signing key's check value, computed once (every append compares it with the head's).
_CHECKS: weakref.WeakKeyDictionary[Engine, str] = weakref.WeakKeyDictionary()


class AuditKeyError(Exception):
    """This station cannot sign this ledger's audit chain (no key, another key, not signed yet):
    nothing is written rather than an event no verifier would accept. The message says what to
    do."""


def _bytes(key: str | bytes | None) -> bytes | None:
    if not key:
        return None
    return key.encode() if isinstance(key, str) else key


def set_key(engine: Engine, key: str | bytes | None) -> None:
    """Sign this ledger's events with ``key`` (from the secret store) from now on."""
    found = _bytes(key)
    if found is None:
        _KEYS.pop(engine, None)
        _CHECKS.pop(engine, None)
        return
    _KEYS[engine] = found
    _CHECKS[engine] = key_check(found)


def key_check(key: str | bytes) -> str:
    """A short value naming a key without revealing it, kept in the ``audit_signed`` event: a
    station compares its own key with it before signing anything."""
    found = _bytes(key) or b""
    return hmac.new(found, b"posplus audit key check", hashlib.sha256).hexdigest()[:16]


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
_EVENTS = AuditEvent.__table__
# Built once: appending runs inside every money transaction, so it should cost little (three
# statements: bump the head and read it back with the key it is signed with, insert the event,
# set the head's hash).
_BUMP = (
    update(_HEAD)
    .where(_HEAD.c.id == 1)
    .values(seq=_HEAD.c.seq + 1)
    .returning(_HEAD.c.seq, _HEAD.c.hash, _HEAD.c.key_check)
)
_READ_HEAD = select(_HEAD.c.seq, _HEAD.c.hash).where(_HEAD.c.id == 1)
_SET_HEAD = update(_HEAD).where(_HEAD.c.id == 1).values(hash=bindparam("new_hash"))
_SET_HEAD_SIGNED = (
    update(_HEAD)
    .where(_HEAD.c.id == 1)
    .values(hash=bindparam("new_hash"), key_check=bindparam("check"))
)
_INSERT = insert(_EVENTS)
_MARKER = (
    select(_EVENTS.c.seq, _EVENTS.c.details)
    .where(_EVENTS.c.action == SIGNED_ACTION)
    .order_by(_EVENTS.c.seq)
    .limit(1)
)
_LAST = select(AuditEvent).order_by(col(AuditEvent.seq).desc()).limit(1)


def _marker(conn: Connection | Session) -> tuple[int, dict[str, Any]] | None:
    """The first ``audit_signed`` event: its sequence and details."""
    row = conn.execute(_MARKER).first()
    if row is None:
        return None
    try:
        details = json.loads(row.details)
    except ValueError:
        details = {}
    return int(row.seq), details if isinstance(details, dict) else {}


_NO_KEY = (
    "This ledger's audit log is signed with a key this station does not have, so it writes "
    "nothing rather than an event no check would accept. Bring the key from a station that has "
    "it: `posplus audit key export` there, `posplus audit key import` here (README, 'Audit log')."
)
_WRONG_KEY = (
    "The audit key on this station is not the one that signs this ledger's audit log, so it "
    "writes nothing. Import the ledger's key from a station that has it: `posplus audit key "
    "export` there, `posplus audit key import` here (README, 'Audit log')."
)
_NOT_SIGNED_YET = (
    "This ledger's audit log is not signed yet: this station has a key but will not sign half a "
    "chain. Run `posplus audit upgrade` once (it checks the chain, then signs from there on)."
)


def _check_key(expected: str, mine: str | None, prev: str, action: str) -> Literal["ok", "start"]:
    """Under the head's lock: may this station append to this chain? ``expected`` is the head's
    key check ('' while unsigned), ``mine`` this station's. ``"start"`` when a signed chain
    begins here (a new chain and a key); raises :class:`AuditKeyError` otherwise."""
    if expected and mine is not None and hmac.compare_digest(expected, mine):
        return "ok"
    if not expected and mine is None:
        return "ok"  # an unsigned chain, continued unsigned (``posplus audit upgrade`` signs it)
    if not expected:
        if action == SIGNED_ACTION:
            return "ok"  # the upgrade of an unsigned chain
        if prev == GENESIS:
            return "start"
        raise AuditKeyError(_NOT_SIGNED_YET)
    raise AuditKeyError(_WRONG_KEY if mine is not None else _NO_KEY)


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
    """Add one event to the chain inside ``session`` (committed with the caller's change), with
    the seals of the rows the session wrote. Every text passes the masker first, except for
    ``scrub=False`` (digests the ledger computes itself: a hex digest can hold a run of digits
    that looks like a card number). Raises :class:`AuditKeyError` when this station cannot sign
    this chain."""
    session.flush()  # the rows written so far are sealed by this event
    sealed = seals.take(session)
    conn = session.connection()
    key = _key_of(conn)
    mine = _CHECKS.get(conn.engine) if key is not None else None
    # First, so the lock is taken before the head is read.
    seq, prev, expected = conn.execute(_BUMP).one()
    when = (at or datetime.now(UTC)).astimezone(UTC).isoformat(timespec="microseconds")
    signs = action == SIGNED_ACTION and key is not None  # an upgrade names its key in the head
    if _check_key(expected, mine, prev, action) == "start":
        assert key is not None
        prev = _write(
            conn, seq, prev, when, SIGNED_ACTION, station=redact(station)[:40],
            subject="audit log", body=_canonical(_start_details(key, 0, GENESIS)), key=key,
        )  # fmt: skip
        seq = conn.execute(_BUMP).one()[0]
        signs = True
    payload = _scrub(details or {}) if scrub else dict(details or {})
    if sealed:
        payload[seals.SEALS_KEY] = sealed
    digest = _write(
        conn,
        seq,
        prev,
        when,
        action[:40],
        actor=redact(actor)[:80],
        station=redact(station)[:40],
        subject=redact(subject)[:80],
        body=_canonical(payload),
        key=key,
    )
    if signs:
        conn.execute(_SET_HEAD_SIGNED, {"new_hash": digest, "check": mine})
    else:
        conn.execute(_SET_HEAD, {"new_hash": digest})
    return Appended(seq, digest)


def _start_details(key: bytes, unsigned_through: int, unsigned_head: str) -> dict[str, Any]:
    return {
        "key_check": key_check(key),
        "unsigned_through": unsigned_through,
        "unsigned_head": unsigned_head,
    }


def _write(
    conn: Connection,
    seq: int,
    prev: str,
    when: str,
    action: str,
    *,
    actor: str = "",
    station: str = "",
    subject: str = "",
    body: str,
    key: bytes | None,
) -> str:
    digest = event_hash(
        seq=seq,
        at=when,
        actor=actor,
        station=station,
        action=action,
        subject=subject,
        details=body,
        prev_hash=prev,
        key=key,
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
    return digest


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
    against the seals the chain holds for them (:mod:`posplus_tui.ledger.seals`). With a key,
    events up to where an upgraded chain started being signed are checked unsigned, every
    later one signed."""
    return _verify(engine, batch=batch, key=key, anchors=anchors)


def _verify(
    engine: Engine,
    *,
    batch: int = 5000,
    key: str | bytes | None = None,
    anchors: Path | None = None,
    unsealed: list[tuple[str, int]] | None = None,
    tables: Iterable[str] = seals.SEALED,
) -> VerifyReport:
    signing = _bytes(key) or _key_of(engine)
    prev = GENESIS
    expected_seq = 1
    count = 0
    hashes: dict[int, str] = {}
    sealed: seals.Seals = {}
    with Session(engine) as session:
        head_seq, head_hash = session.execute(_READ_HEAD).one()
        unsigned_through = 0
        marker = _marker(session) if signing else None
        if marker is not None:
            found = marker[1].get("unsigned_through")
            # Only events before the marker may be unsigned; the marker itself is always checked
            # signed, so a forged one (claiming the whole chain unsigned) breaks right there.
            unsigned_through = min(max(found, 0), marker[0] - 1) if isinstance(found, int) else 0
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
                    key=None if ev.seq <= unsigned_through else signing,
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
                seals.remember(sealed, ev.action, ev.details)
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
                if seq > 0 and not hmac.compare_digest(hashes[seq], anchored):
                    return VerifyReport(
                        count,
                        AuditBreak(
                            seq,
                            f"its hash differs from the one anchored in {anchors.name}: the "
                            "chain was rewritten",
                        ),
                    )
        problem = seals.cross_check(session, sealed, unsealed=unsealed, tables=tables)
        if problem is not None:
            return VerifyReport(count, AuditBreak(count + 1, problem))
    return VerifyReport(count, None)


# -- which key signs the chain, and signing an old one ---------------------------------------------


class KeyState(StrEnum):
    EMPTY = "empty"  # no event yet: the first one starts a signed chain
    UNSIGNED = "unsigned"  # an old chain: `posplus audit upgrade`
    SIGNED = "signed"  # signed with this station's key
    MISSING = "missing"  # signed, and this station has no key
    WRONG = "wrong"  # signed with another key than this station's

    def describe(self) -> str:
        return {
            KeyState.EMPTY: "The audit log is empty: its first event starts a signed chain.",
            KeyState.UNSIGNED: (
                "This ledger's audit log is not signed (it was started without a key): anyone "
                "who can write the database could rewrite it. Run `posplus audit upgrade` once."
            ),
            KeyState.SIGNED: "The audit log is signed with this station's key.",
            KeyState.MISSING: _NO_KEY,
            KeyState.WRONG: _WRONG_KEY,
        }[self]


def key_state(engine: Engine, key: str | bytes | None) -> KeyState:
    """Whether this station, holding ``key`` (or none), can sign this ledger's chain."""
    mine = _bytes(key)
    with Session(engine) as session:
        marker = _marker(session)
        if marker is not None:
            if mine is None:
                return KeyState.MISSING
            expected = str(marker[1].get("key_check", ""))
            return (
                KeyState.SIGNED
                if hmac.compare_digest(expected, key_check(mine))
                else KeyState.WRONG
            )
        last = session.execute(_LAST).scalars().first()
    if last is None:
        return KeyState.EMPTY
    fields: dict[str, Any] = {
        "seq": last.seq, "at": last.at, "actor": last.actor, "station": last.station,
        "action": last.action, "subject": last.subject, "details": last.details,
        "prev_hash": last.prev_hash,
    }  # fmt: skip
    if hmac.compare_digest(event_hash(**fields), last.hash):
        return KeyState.UNSIGNED
    if mine is not None and hmac.compare_digest(event_hash(**fields, key=mine), last.hash):
        return KeyState.SIGNED  # signed before chains named their key: named on next start
    return KeyState.WRONG if mine is not None else KeyState.MISSING


def name_the_key(engine: Engine) -> None:
    """A chain signed before chains named their key gets its ``audit_signed`` event (all of it
    signed), and the head the key's check value, so that no station appends to it unsigned or
    with another key. Call only when :func:`key_state` says SIGNED for this engine's key."""
    key = _key_of(engine)
    if key is None:
        return
    check = key_check(key)
    with Session(engine) as session:
        stored = session.execute(select(_HEAD.c.key_check).where(_HEAD.c.id == 1)).scalar_one()
        if stored == check:
            return
        conn = session.connection()
        seq, prev, _expected = conn.execute(_BUMP).one()
        if _marker(conn) is None:  # under the lock now
            when = datetime.now(UTC).isoformat(timespec="microseconds")
            body = _canonical(_start_details(key, 0, GENESIS))
            prev = _write(
                conn, seq, prev, when, SIGNED_ACTION, subject="audit log", body=body, key=key
            )
        else:
            conn.execute(update(_HEAD).where(_HEAD.c.id == 1).values(seq=_HEAD.c.seq - 1))
        conn.execute(_SET_HEAD_SIGNED, {"new_hash": prev, "check": check})
        session.commit()


@dataclass(frozen=True)
class Upgraded:
    """The result of :func:`upgrade`: the check of the unsigned chain, and what was signed."""

    report: VerifyReport
    signed_from: int = 0  # the ``audit_signed`` event's sequence (0: nothing done)
    rows_sealed: int = 0  # rows written before seals existed, sealed now

    @property
    def ok(self) -> bool:
        return self.report.ok and self.signed_from > 0

    def describe(self) -> str:
        if not self.report.ok:
            return (
                f"{self.report.describe()} The audit log was NOT upgraded: a broken chain is "
                "not signed over."
            )
        return (
            f"The audit log's {self.report.events} unsigned events were checked and are intact; "
            f"from event #{self.signed_from} on, every event is signed with this station's key"
            + (
                f" ({self.rows_sealed} money, operator and saved-card rows written before rows were sealed "
                "are sealed as they are now)"
                if self.rows_sealed
                else ""
            )
            + ". Give the key to the other stations: `posplus audit key export`."
        )


_SEAL_CHUNK = 500


def upgrade(
    engine: Engine,
    key: str | bytes,
    *,
    anchors: Path | None = None,
    actor: str = "",
    station: str = "",
) -> Upgraded:
    """Continue an unsigned chain signed: verify it unsigned first (links, head, anchors, the
    seals it has), then append the ``audit_signed`` event that records where the unsigned part
    ends (its hash, signed, pins every event before it), seal the rows written before seals
    existed, and sign every later event with ``key``. Raises :class:`AuditKeyError` when the
    chain is not an unsigned one."""
    mine = _bytes(key)
    assert mine is not None, "upgrade needs a key"
    state = key_state(engine, None)
    if state is not KeyState.UNSIGNED:
        if state is KeyState.EMPTY:
            raise AuditKeyError(
                "The audit log is empty: nothing to upgrade (its first event starts it signed)."
            )
        raise AuditKeyError("The audit log is already signed: nothing to upgrade.")
    unsealed: list[tuple[str, int]] = []
    report = _verify(engine, key=None, anchors=anchors, unsealed=unsealed)
    if not report.ok:
        return Upgraded(report)
    with Session(engine) as session:
        conn = session.connection()
        seq, prev = conn.execute(_READ_HEAD).one()
        set_key(engine, mine)
        started = append(
            session,
            SIGNED_ACTION,
            actor=actor,
            station=station,
            subject="audit log",
            details={**_start_details(mine, seq, prev), "rows_sealed": len(unsealed)},
            scrub=False,
        )
        if started.seq != seq + 1 or seq != report.events:
            session.rollback()
            set_key(engine, None)
            raise AuditKeyError(
                "Another station wrote to the audit log while it was being checked: run "
                "`posplus audit upgrade` again (with the other stations stopped)."
            )
        for start in range(0, len(unsealed), _SEAL_CHUNK):
            chunk = unsealed[start : start + _SEAL_CHUNK]
            for table in seals.SEALED:
                seals.note_ids(session, table, [row_id for t, row_id in chunk if t == table])
            append(
                session,
                seals.SEAL_ACTION,
                actor=actor,
                station=station,
                subject=f"{len(chunk)} rows",
            )
        session.commit()
    if anchors is not None:
        anchor(engine, anchors)
    return Upgraded(report, started.seq, len(unsealed))


# -- the head, anchored outside the ledger ---------------------------------------------------------


def ledger_id(engine: Engine) -> str:
    """A short name for one ledger (its URL without the password), for the anchor file."""
    shown = engine.url.render_as_string(hide_password=True)
    return hashlib.sha256(shown.encode()).hexdigest()[:16]


def head(engine: Engine) -> tuple[int, str]:
    with engine.connect() as conn:
        seq, digest = conn.execute(_READ_HEAD).one()
    return int(seq), str(digest)


def seal_older(
    engine: Engine,
    key: str | bytes,
    *,
    anchors: Path | None = None,
    actor: str = "",
    station: str = "",
) -> Upgraded:
    """On a signed chain, seal the rows of tables this version seals for the first time
    (:data:`seals.LATER`, e.g. cards on file) written before it: verify the chain with ``key``
    first (every table sealed before must still match), then one signed ``row_sealed`` event per
    chunk. A row of such a table written after its first sealed row is still reported."""
    mine = _bytes(key)
    assert mine is not None, "sealing needs the key"
    unsealed: list[tuple[str, int]] = []
    report = _verify(engine, key=mine, anchors=anchors, unsealed=unsealed, tables=seals.LATER)
    if not report.ok or not unsealed:
        return Upgraded(report)
    set_key(engine, mine)
    with Session(engine) as session:
        seq = session.connection().execute(_READ_HEAD).one()[0]
        if seq != report.events:
            raise AuditKeyError(
                "Another station wrote to the audit log while it was being checked: run "
                "`posplus audit upgrade` again (with the other stations stopped)."
            )
        first = 0
        for start in range(0, len(unsealed), _SEAL_CHUNK):
            chunk = unsealed[start : start + _SEAL_CHUNK]
            for table in seals.LATER:
                seals.note_ids(session, table, [row_id for t, row_id in chunk if t == table])
            done = append(
                session,
                seals.SEAL_ACTION,
                actor=actor,
                station=station,
                subject=f"{len(chunk)} rows",
            )
            first = first or done.seq
        session.commit()
    if anchors is not None:
        anchor(engine, anchors)
    return Upgraded(report, first, len(unsealed))


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
