"""Seals: every change to a money or operator row is written into the audit chain.

A seal is the digest of a row's sealed columns (a transaction's money facts and state, an
operator's access facts), or ``deleted``. Every write path seals the rows it writes, in the same
database transaction, at no extra round trip where it can:

- rows written through the ORM are sealed by a session hook at flush;
- a guarded Core ``UPDATE`` (``mark_sent``, the reconcile worker's state moves) seals its rows
  with :func:`note_rows` (from ``RETURNING``) or :func:`note_ids` (one ``SELECT`` per batch).

The seals wait in the session until the next audit event of that transaction, which carries
them (``_sealed`` in its details, signed with the chain's key); a transaction that writes sealed
rows and no event gets one ``row_sealed`` event at commit. ``audit verify`` then compares every
row with its last seal: an amount or a state changed, a clerk promoted, a row deleted or added
behind the app's back no longer matches.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import event, inspect, select
from sqlalchemy.orm import Session

from posplus_tui.ledger.tables import CardOnFile, Operator, Transaction

SEAL_ACTION = "row_sealed"
DELETED = "deleted"
#: The key of an event's details that carries the seals of the rows its transaction wrote.
SEALS_KEY = "_sealed"

_TRANSACTION_V1 = (
    "ecr_ref",
    "kind",
    "tender",
    "amount_cents",
    "approved_cents",
    "invoice_id",
    "operator_id",
    "supervisor_id",
    "parent_id",
    "last4",
)
_OPERATOR = ("name", "role", "pin_hash", "disabled")
#: A saved card moved to another customer, its token swapped or a revoked card brought back
#: would charge the wrong card without a trace.
_CARD = (
    "customer_id",
    "token",
    "brand",
    "last4",
    "expiry",
    "saved_by",
    "revoked",
    "revoked_at",
    "revoked_by",
)

#: table name → (model, sealed columns). A state moved, a batch marked closed (which decides
#: whether a void is still allowed) or a card swapped is as much a fraud as an amount changed.
SEALED: dict[str, tuple[type[Any], tuple[str, ...]]] = {
    "transactions": (
        Transaction,
        (*_TRANSACTION_V1, "state", "station", "batch_closed_at", "card_on_file_id"),
    ),
    "operators": (Operator, _OPERATOR),
    "cards_on_file": (CardOnFile, _CARD),
}
#: Tables sealed only after chains were first signed: a signed ledger may hold rows of them
#: written before (``posplus audit upgrade`` seals those, see :func:`cross_check`).
LATER = frozenset({"cards_on_file"})
#: The columns the first seals (one ``row_sealed`` event per row, no state) covered: ledgers
#: written before every write path was sealed still verify.
_V1: dict[str, tuple[str, ...]] = {"transactions": _TRANSACTION_V1, "operators": _OPERATOR}
_BY_MODEL = {model: (table, cols) for table, (model, cols) in SEALED.items()}

_OBJECTS = "posplus_seal_objects"
_PENDING = "posplus_seals"


def _plain(value: Any) -> Any:
    """One spelling per value on every database: a time as naive UTC (SQLite gives back what was
    written without its zone; PostgreSQL may give it in the session's zone)."""
    if isinstance(value, datetime):
        if value.tzinfo is not None:
            value = value.astimezone(UTC).replace(tzinfo=None)
        return value.isoformat(timespec="microseconds")
    return value


def digest(row: Any, columns: tuple[str, ...]) -> str:
    """The seal of an ORM row (or anything with the columns as attributes)."""
    return _digest([getattr(row, c) for c in columns])


def _digest(values: list[Any]) -> str:
    body = json.dumps(
        [_plain(v) for v in values], separators=(",", ":"), ensure_ascii=False, default=str
    )
    return hashlib.sha256(body.encode()).hexdigest()


def _digest_v1(values: list[Any]) -> str:
    body = json.dumps(values, separators=(",", ":"), ensure_ascii=False, default=str)
    return hashlib.sha256(body.encode()).hexdigest()


def _pending(session: Session) -> dict[tuple[str, int], str]:
    found: dict[tuple[str, int], str] = session.info.setdefault(_PENDING, {})
    return found


def note_rows(session: Session, table: str, rows: Iterable[Mapping[Any, Any]]) -> None:
    """Seal rows a Core statement wrote, from their values (``id`` and the sealed columns, e.g.
    ``UPDATE … RETURNING`` :func:`columns`)."""
    cols = SEALED[table][1]
    pending = _pending(session)
    for row in rows:
        pending[(table, int(row["id"]))] = _digest([row[c] for c in cols])


def note_ids(session: Session, table: str, ids: Iterable[int]) -> None:
    """Seal rows a Core statement wrote, reading them back (one ``SELECT`` for all)."""
    wanted = sorted(set(ids))
    if not wanted:
        return
    model = SEALED[table][0]
    t = model.__table__
    rows = session.execute(select(*columns(table)).where(t.c.id.in_(wanted))).mappings()
    note_rows(session, table, rows)


def columns(table: str) -> list[Any]:
    """The ``id`` and sealed columns of ``table``, for ``RETURNING`` or ``SELECT``."""
    model, cols = SEALED[table]
    t = model.__table__
    return [t.c.id, *(t.c[c] for c in cols)]


def take(session: Session) -> list[list[Any]]:
    """The seals waiting in ``session`` (``[table, id, digest]``), handed to the audit event
    being appended; none wait afterwards."""
    pending = session.info.pop(_PENDING, None)
    if not pending:
        return []
    return [[table, row_id, seal] for (table, row_id), seal in sorted(pending.items())]


def _changed(obj: Any, cols: tuple[str, ...]) -> bool:
    state = inspect(obj)
    return any(state.attrs[c].history.has_changes() for c in cols)


@event.listens_for(Session, "before_flush")
def _note(session: Session, _context: Any, _instances: Any) -> None:
    """Which sealed rows this flush writes (histories are gone after the flush)."""
    objects: list[tuple[Any, bool]] = session.info.setdefault(_OBJECTS, [])
    for obj in session.new:
        if type(obj) in _BY_MODEL:
            objects.append((obj, False))
    for obj in session.dirty:
        found = _BY_MODEL.get(type(obj))
        if found is not None and _changed(obj, found[1]):
            objects.append((obj, False))
    for obj in session.deleted:
        if type(obj) in _BY_MODEL:
            objects.append((obj, True))


@event.listens_for(Session, "after_flush")
def _seal(session: Session, _context: Any) -> None:
    objects = session.info.pop(_OBJECTS, [])
    if not objects:
        return
    pending = _pending(session)
    for obj, deleted in objects:
        table, cols = _BY_MODEL[type(obj)]
        if obj.id is not None:
            pending[(table, obj.id)] = DELETED if deleted else digest(obj, cols)


@event.listens_for(Session, "before_commit")
def _seal_at_commit(session: Session) -> None:
    """Seals no audit event of this transaction carried get an event of their own."""
    session.flush()
    pending = session.info.get(_PENDING)
    if not pending:
        return
    from posplus_tui.ledger import audit as chain

    subject = f"{len(pending)} rows"
    if len(pending) == 1:
        (table, row_id) = next(iter(pending))
        subject = f"{table}#{row_id}"
    chain.append(session, SEAL_ACTION, subject=subject)  # type: ignore[arg-type]  # sqlmodel's Session is a subclass


@event.listens_for(Session, "after_rollback")
def _forget(session: Session) -> None:
    session.info.pop(_PENDING, None)
    session.info.pop(_OBJECTS, None)


# -- verifying ---------------------------------------------------------------------------------

#: (table, id) → (version, digest): the last seal of each row the chain holds.
Seals = dict[tuple[str, int], tuple[int, str]]


def remember(sealed: Seals, action: str, details: str) -> None:
    """Keep the last seal of each row an event carries (verify reads the chain in order)."""
    if SEALS_KEY not in details and action != SEAL_ACTION:
        return  # most events carry none: no JSON to parse
    try:
        d = json.loads(details)
        if not isinstance(d, dict):
            return
        for table, row_id, seal in d.get(SEALS_KEY) or ():
            sealed[(str(table), int(row_id))] = (2, str(seal))
        if "table" in d and "id" in d and "digest" in d:  # a first-version seal event
            sealed[(str(d["table"]), int(d["id"]))] = (1, str(d["digest"]))
    except (ValueError, KeyError, TypeError):
        return


def _matches(table: str, row: Mapping[Any, Any], seal: tuple[int, str]) -> bool:
    version, want = seal
    if version == 1:
        return want == _digest_v1([row[c] for c in _V1[table]])
    return want == _digest([row[c] for c in SEALED[table][1]])


def cross_check(
    session: Session,
    sealed: Seals,
    *,
    unsealed: list[tuple[str, int]] | None = None,
    tables: Iterable[str] = SEALED,
) -> str | None:
    """The first row that does not match its last seal, in words; ``None`` when all do. With
    ``unsealed`` (the upgrade of an old ledger), rows of ``tables`` written before the first
    sealed row of their table (before this version sealed rows) are listed there instead of
    reported; an unsealed row after a sealed one is still a row written outside the app."""
    tolerated = set(tables)
    for table in SEALED:
        seen: set[int] = set()
        first_sealed = min((i for t, i in sealed if t == table), default=None)
        cols = columns(table)
        for row in session.execute(select(*cols).order_by(cols[0])).mappings():
            row_id = int(row["id"])
            seen.add(row_id)
            seal = sealed.get((table, row_id))
            if seal is None:
                older = first_sealed is None or row_id < first_sealed
                if unsealed is not None and older and table in tolerated:
                    unsealed.append((table, row_id))
                    continue
                hint = ""
                if older and table in LATER:
                    hint = (
                        " (if it was written before this version sealed that table, "
                        "run `posplus audit upgrade`)"
                    )
                return f"{table} row #{row_id} was written outside the app (no audit event){hint}"
            if seal[1] == DELETED or not _matches(table, row, seal):
                return (
                    f"{table} row #{row_id} was changed outside the app (it differs from its "
                    "audit event)"
                )
        for (t, row_id), (_version, want) in sealed.items():
            if t == table and want != DELETED and row_id not in seen:
                return f"{table} row #{row_id} was deleted outside the app"
    return None
