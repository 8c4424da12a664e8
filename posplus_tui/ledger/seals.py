"""Seals: every change to a money or operator row is an event in the audit chain.

A session hook appends a ``row_sealed`` event, in the same database transaction, whenever a
``transactions`` row's money facts or an ``operators`` row's access facts are written through
the ORM (added, changed or deleted). ``audit verify`` then compares every row with its last seal:
an amount changed or a clerk promoted to admin behind the app's back no longer matches.

Sealed columns are those a fraud would change and the services only write through the ORM:
``state`` and timestamps move by guarded Core updates and are covered by the payment events.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from sqlalchemy import event, inspect, select
from sqlalchemy.orm import Session

from posplus_tui.ledger.tables import Operator, Transaction

SEAL_ACTION = "row_sealed"
DELETED = "deleted"

#: table name → (model, sealed columns)
SEALED: dict[str, tuple[type[Any], tuple[str, ...]]] = {
    "transactions": (
        Transaction,
        (
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
        ),
    ),
    "operators": (Operator, ("name", "role", "pin_hash", "disabled")),
}
_BY_MODEL = {model: (table, cols) for table, (model, cols) in SEALED.items()}


def digest(row: Any, columns: tuple[str, ...]) -> str:
    values = [getattr(row, c) for c in columns]
    body = json.dumps(values, separators=(",", ":"), ensure_ascii=False, default=str)
    return hashlib.sha256(body.encode()).hexdigest()


def _changed(obj: Any, columns: tuple[str, ...]) -> bool:
    state = inspect(obj)
    return any(state.attrs[c].history.has_changes() for c in columns)


@event.listens_for(Session, "before_flush")
def _note(session: Session, _context: Any, _instances: Any) -> None:
    """Which sealed rows this flush writes (histories are gone after the flush)."""
    pending: list[tuple[Any, str]] = session.info.setdefault("posplus_seal", [])
    for obj in session.new:
        if type(obj) in _BY_MODEL:
            pending.append((obj, "new"))
    for obj in session.dirty:
        found = _BY_MODEL.get(type(obj))
        if found is not None and _changed(obj, found[1]):
            pending.append((obj, "changed"))
    for obj in session.deleted:
        if type(obj) in _BY_MODEL:
            pending.append((obj, DELETED))


@event.listens_for(Session, "after_flush")
def _seal(session: Session, _context: Any) -> None:
    from posplus_tui.ledger import audit as chain

    pending = session.info.pop("posplus_seal", [])
    for obj, how in pending:
        table, columns = _BY_MODEL[type(obj)]
        if obj.id is None:
            continue
        chain.append(
            session,  # type: ignore[arg-type]  # the ORM Session an event hands us; sqlmodel's is its subclass
            SEAL_ACTION,
            subject=f"{table}#{obj.id}",
            details={
                "table": table,
                "id": obj.id,
                "digest": DELETED if how == DELETED else digest(obj, columns),
            },
            scrub=False,
        )


def remember(sealed: dict[tuple[str, int], str], details: str) -> None:
    """Keep the last seal of each row (verify reads the chain in order)."""
    try:
        d = json.loads(details)
        sealed[(str(d["table"]), int(d["id"]))] = str(d["digest"])
    except (ValueError, KeyError, TypeError):
        return


def cross_check(session: Session, sealed: dict[tuple[str, int], str]) -> str | None:
    """The first row that does not match its last seal, in words; ``None`` when all do."""
    for table, (model, columns) in SEALED.items():
        seen: set[int] = set()
        for row in session.execute(select(model)).scalars():
            seen.add(row.id)
            want = sealed.get((table, row.id))
            if want is None:
                return f"{table} row #{row.id} was written outside the app (no audit event)"
            if want == DELETED or want != digest(row, columns):
                return f"{table} row #{row.id} was changed outside the app (it differs from its audit event)"
        for (t, row_id), want in sealed.items():
            if t == table and want != DELETED and row_id not in seen:
                return f"{table} row #{row_id} was deleted outside the app"
    return None
