"""The local invoice index: the rows a clerk searches by, written a page at a time.

What the export-feed sync and the lookups learn from ServiceTitan lands here; the search words
(``services.search``) are written in the same transaction.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Row, Table, bindparam, insert, select, update
from sqlmodel import Session

from posplus_tui.ledger.tables.reconcile import InvoiceIndexRow
from posplus_tui.services.search import rank_key, reindex, terms_of
from posplus_tui.servicetitan import Invoice


def digits(text: str | None) -> str:
    """Only the digits of a phone number (``(217) 555-0101`` → ``2175550101``)."""
    return re.sub(r"\D", "", text or "")


def norm_name(text: str | None) -> str:
    return " ".join((text or "").split()).casefold()


def index_values(inv: Invoice, now: datetime) -> dict[str, object]:
    """The invoice_index row for ``inv``."""
    address = inv.location_address or inv.customer_address
    return {
        "id": inv.id,
        "number": inv.number or "",
        "job_number": inv.job_number or "",
        "job_id": inv.job.id if inv.job else None,
        "customer_id": inv.customer_id,
        "customer_name": (inv.customer_name or "")[:200],
        "customer_name_norm": norm_name(inv.customer_name)[:200],
        "address": address.one_line()[:300] if address else "",
        "total_cents": inv.total.cents,
        "balance_cents": inv.balance.cents,
        "invoice_date": inv.invoice_date.isoformat() if inv.invoice_date else "",
        "adjustment_to_id": inv.adjustment_to_id,
        "active": inv.active,
        "modified_on": inv.modified_on.isoformat() if inv.modified_on else "",
        "updated_at": now,
    }


def upsert_index(session: Session, invoices: Iterable[Invoice], now: datetime) -> int:
    """Insert or refresh index rows (keeping phone numbers learned from customer lookups), and
    their search words. A page costs a few statements, however many rows it holds: one read of
    the rows already there per 500 ids, one batched update, one batched insert, and the search
    index's batched delete and insert."""
    t = InvoiceIndexRow.__table__
    rows = {inv.id: index_values(inv, now) for inv in invoices}
    if not rows:
        return 0
    old: dict[int, Row[Any]] = {}
    ids = list(rows)
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        old.update(
            (r.id, r)
            for r in session.execute(
                select(
                    t.c.id, t.c.phone_digits, t.c.search_rank, t.c.customer_name, t.c.address,
                    t.c.number, t.c.job_number,
                ).where(t.c.id.in_(chunk))
            )
        )  # fmt: skip
    stale: list[int] = []
    fresh: list[dict[str, object]] = []
    for inv_id, values in rows.items():
        before = old.get(inv_id)
        values["phone_digits"] = before.phone_digits if before is not None else ""
        values["search_rank"] = (
            rank_key(inv_id, values["balance_cents"], values["invoice_date"])  # type: ignore[arg-type]
            if values["active"]
            else None
        )
        if before is not None and before.search_rank is not None:
            if before.search_rank == values["search_rank"] and terms_of(
                before._mapping
            ) == terms_of(values):
                continue  # unchanged words at the same rank: leave the search index alone
            stale.append(before.search_rank)
        fresh.append(values)
    conn = session.connection()
    existing = [v for k, v in rows.items() if k in old]
    if existing:
        _write_many(conn, t, existing, by_id=True)
    new = [v for k, v in rows.items() if k not in old]
    if new:
        _write_many(conn, t, new, by_id=False)
    reindex(conn, stale, fresh)
    return len(rows)


def _write_many(conn: Connection, t: Table, rows: list[dict[str, object]], *, by_id: bool) -> None:
    """One executemany of ``rows`` (all with the same keys) into ``t``: inserted, or updated by
    id (``by_id``). Straight to the driver with tuples measured no faster on SQLite (about
    40 µs of CPU a row either way, most of it building the values)."""
    if by_id:
        cols = [c for c in rows[0] if c != "id"]
        conn.execute(
            update(t).where(t.c.id == bindparam("_id")),
            [{**{c: r[c] for c in cols}, "_id": r["id"]} for r in rows],
        )
    else:
        conn.execute(insert(t), rows)
