"""invoice_search: a full-text index over the invoice index (name, address, phone, numbers).

SQLite: an FTS5 table written beside ``invoice_index`` by the code that writes the index
(``posplus_tui.services.search``), a page at a time. Not by triggers: FTS5 flushes its pending
words to disk at every statement savepoint, and a trigger per row made building 100,000 invoices
ten times slower. Its rowid is the row's ``search_rank`` (open balance first, then the most recent
invoice date, then the invoice id), so a word-prefix query read in rowid order stops after the
first rows wanted, even when "s" matches half the index. Only active invoices are indexed.

PostgreSQL: a GIN index on a ``tsvector`` of the same words (built in, no extension to install);
the query sorts the matches by the same rank.

The two indexes the old substring search used (normalised name, phone digits) go. Existing
ledgers are filled from their ``invoice_index`` rows here.

Revision ID: 0302_invoice_search
Revises: 0301_payment_links
Create Date: 2026-11-29 12:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0302_invoice_search"
down_revision = "0301_payment_links"
branch_labels = None
depends_on = None

# The words of one row: the phone's last seven digits are a word of their own, so a local number
# typed without the area code is found too.
_TERMS = (
    "customer_name || ' ' || address || ' ' || number || ' ' || job_number"
    " || ' ' || phone_digits || ' ' || substr(phone_digits, -7)"
)
# The rank as a 62-bit integer (``search.rank_key`` in Python, the same arithmetic): bit 61 an
# open balance, bits 40–60 the invoice date in days since 2000-01-01, bits 0–39 the invoice id.
_RANK = (
    "(((balance_cents > 0) << 61)"
    " | (max(0, min(2097151, coalesce(CAST(julianday(substr(invoice_date, 1, 10))"
    " - 2451544.5 AS INTEGER), 0))) << 40)"
    " | (id & 1099511627775))"
)

#: Must match ``posplus_tui.services.search.PG_DOCUMENT`` word for word: PostgreSQL uses the
#: index only for the very same expression.
PG_DOCUMENT = (
    "to_tsvector('simple'::regconfig, customer_name || ' ' || address || ' ' || number || ' ' "
    "|| job_number || ' ' || phone_digits || ' ' || right(phone_digits, 7))"
)


def upgrade() -> None:
    op.add_column("invoice_index", sa.Column("search_rank", sa.BigInteger(), nullable=True))
    op.drop_index("ix_invoice_index_customer_norm", table_name="invoice_index")
    op.drop_index("ix_invoice_index_phone", table_name="invoice_index")
    if op.get_bind().dialect.name != "sqlite":
        op.execute(
            f"CREATE INDEX ix_invoice_index_search ON invoice_index USING gin ({PG_DOCUMENT}) "
            "WHERE active"
        )
        return
    # detail=none: no phrase queries are needed, and it keeps the index small; prefix indexes
    # for the first 1–8 characters make a short, broad prefix ("s", "2175…", a phone's first
    # digits) one lookup instead of merging thousands of words' lists.
    op.execute(
        "CREATE VIRTUAL TABLE invoice_search USING fts5(terms, invoice_id UNINDEXED, "
        "detail=none, prefix='1 2 3 4 5 6 7 8', tokenize='unicode61 remove_diacritics 2')"
    )
    op.execute(f"UPDATE invoice_index SET search_rank = CASE WHEN active THEN {_RANK} END")
    # In rank order: FTS5 writes ascending rowids in one pass, others a segment at a time.
    op.execute(
        f"INSERT INTO invoice_search(rowid, terms, invoice_id) SELECT search_rank, {_TERMS}, id "
        "FROM invoice_index WHERE search_rank IS NOT NULL ORDER BY search_rank"
    )


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.execute("DROP TABLE IF EXISTS invoice_search")
    else:
        op.execute("DROP INDEX IF EXISTS ix_invoice_index_search")
    op.create_index("ix_invoice_index_phone", "invoice_index", ["phone_digits"])
    op.create_index("ix_invoice_index_customer_norm", "invoice_index", ["customer_name_norm"])
    with op.batch_alter_table("invoice_index") as batch_op:
        batch_op.drop_column("search_rank")
