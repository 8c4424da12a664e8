"""Word-prefix search over the local invoice index, ranked: open balance first, then recent.

Each word typed must begin a word of the invoice's customer name, address, phone, invoice or job
number (``smi jo`` finds "John Smith"); a phone typed with its punctuation is one number. SQLite
answers from the FTS5 table of migration ``0302_invoice_search``, whose rowid *is* the rank, so a
broad prefix stops reading after the first rows; PostgreSQL from a GIN ``tsvector`` index (which
PostgreSQL keeps by itself).

On SQLite, whatever writes ``invoice_index`` rows writes their words here too, in the same
transaction (:func:`reindex`): a page of rows at a time, in rank order, no statement per row.

A query in flight can be interrupted from another thread (:class:`Interrupter`): a new keystroke
cancels the search it replaces instead of letting it finish unseen.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterable, Mapping
from datetime import date
from typing import Any

from sqlalchemy import Connection, text

_EPOCH = date(2000, 1, 1)
_ID_BITS = (1 << 40) - 1
_MAX_DAY = (1 << 21) - 1

#: PostgreSQL's document: the very expression of the GIN index (migration 0302).
PG_DOCUMENT = (
    "to_tsvector('simple'::regconfig, customer_name || ' ' || address || ' ' || number || ' ' "
    "|| job_number || ' ' || phone_digits || ' ' || right(phone_digits, 7))"
)
_WORD = re.compile(r"[^\W_]+")
_PHONE = re.compile(r"^[\d\s()+.\-]+$")
#: More words than this add nothing but cost.
MAX_WORDS = 8


def words(query: str, *, phone_like: bool) -> list[str]:
    """The words to match, lower case: a phone-like query is its digits as one word."""
    if phone_like:
        digits = "".join(ch for ch in query if ch.isdigit())
        return [digits] if digits else []
    return [w.casefold() for w in _WORD.findall(query)][:MAX_WORDS]


def fts5_query(terms: list[str]) -> str:
    """``"smi"* AND "jo"*``: each word quoted (it holds letters and digits only), as a prefix."""
    return " AND ".join(f'"{t}"*' for t in terms)


def tsquery(terms: list[str]) -> str:
    """``smi:* & jo:*`` for ``to_tsquery('simple', …)``."""
    return " & ".join(f"{t}:*" for t in terms)


def is_phone_like(query: str) -> bool:
    return bool(_PHONE.match(query)) and sum(ch.isdigit() for ch in query) >= 7


def rank_key(invoice_id: int, balance_cents: int, invoice_date: str) -> int:
    """Where a row sorts, higher first: an open balance, then the newest invoice date (to the
    day), then the highest id. Fits 62 bits: it is the FTS5 rowid. ServiceTitan ids are far
    below 2**40; two rows would have to share the day and differ by a multiple of 2**40 to
    collide, and a collision fails the write loudly rather than losing a row."""
    try:
        day = (date.fromisoformat(invoice_date[:10]) - _EPOCH).days
    except ValueError:
        day = 0
    day = max(0, min(_MAX_DAY, day))
    return (int(balance_cents > 0) << 61) | (day << 40) | (invoice_id & _ID_BITS)


def terms_of(row: Mapping[Any, Any]) -> str:
    """The words of one index row; the phone's last seven digits are a word of their own."""
    phone = row["phone_digits"] or ""
    return " ".join(
        (row["customer_name"], row["address"], row["number"], row["job_number"], phone, phone[-7:])
    )


def reindex(conn: Connection, stale: Iterable[int], fresh: Iterable[Mapping[Any, Any]]) -> None:
    """SQLite: drop the words of the ranks in ``stale``, add those of the ``fresh`` rows (which
    carry ``id`` and ``search_rank``; ``None`` rank = not searchable). One statement per 500
    deletions, then the additions in ascending rank: FTS5 keeps ascending rowids in memory
    until the commit, and writes a segment for every step backwards."""
    if conn.dialect.name != "sqlite":
        return
    gone = sorted(set(stale))
    for start in range(0, len(gone), 500):
        chunk = gone[start : start + 500]
        marks = ",".join("?" * len(chunk))
        conn.exec_driver_sql(f"DELETE FROM invoice_search WHERE rowid IN ({marks})", tuple(chunk))
    added = sorted(
        (r["search_rank"], terms_of(r), r["id"]) for r in fresh if r["search_rank"] is not None
    )
    if added:
        conn.exec_driver_sql(
            "INSERT INTO invoice_search(rowid, terms, invoice_id) VALUES (?, ?, ?)", added
        )


def search_ids(conn: Connection, terms: list[str], limit: int) -> list[int]:
    """Invoice ids matching every word, best first (open balance, then most recent)."""
    if not terms:
        return []
    if conn.dialect.name == "sqlite":
        rows = conn.execute(
            text(
                "SELECT invoice_id FROM invoice_search WHERE invoice_search MATCH :q "
                "ORDER BY rowid DESC LIMIT :n"
            ),
            {"q": fts5_query(terms), "n": limit},
        )
    else:
        rows = conn.execute(
            text(
                f"SELECT id FROM invoice_index WHERE active AND {PG_DOCUMENT} @@ "
                "to_tsquery('simple'::regconfig, :q) ORDER BY search_rank DESC LIMIT :n"
            ),
            {"q": tsquery(terms), "n": limit},
        )
    return [int(r[0]) for r in rows]


class Interrupter:
    """Holds the database connection a search runs on, so another thread can stop it.

    SQLite's ``interrupt()`` and psycopg's ``cancel()`` are both safe to call from any thread;
    the search then fails with an error the cancelled caller never sees."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._raw: Any = None
        self.cancelled = False

    def attach(self, raw: Any) -> None:
        with self._lock:
            self._raw = raw
            cancelled = self.cancelled
        if cancelled:
            self._stop(raw)

    def detach(self) -> None:
        with self._lock:
            self._raw = None

    def interrupt(self) -> None:
        with self._lock:
            self.cancelled = True
            raw = self._raw
        if raw is not None:
            self._stop(raw)

    @staticmethod
    def _stop(raw: Any) -> None:
        stop = getattr(raw, "interrupt", None) or getattr(raw, "cancel", None)
        if stop is not None:
            stop()
