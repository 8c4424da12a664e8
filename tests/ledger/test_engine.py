"""Opening the ledger: migrations to a single head, the same schema on SQLite and PostgreSQL."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect, text
from sqlmodel import SQLModel

from posplus_tui.ledger import LedgerError, open_ledger
from posplus_tui.ledger.engine import current_revision, normalize_url, script_heads, upgrade

OUR_TABLES = {"operators", "cards_on_file", "transactions", "outbox", "audit_events", "audit_head"}


def test_migrations_have_a_single_head() -> None:
    heads = script_heads()
    assert len(heads) == 1, f"several Alembic heads {heads}: set down_revision to the current head"


def test_open_migrates_to_head_and_is_idempotent(any_url: str) -> None:
    led = open_ledger(any_url)
    try:
        assert current_revision(led.engine) == script_heads()[0]
        assert set(inspect(led.engine).get_table_names()) >= OUR_TABLES
        assert upgrade(led.engine) == []  # nothing left to apply
    finally:
        led.dispose()
    again = open_ledger(any_url)  # a second start
    again.dispose()


# SQLite cannot reflect the two lower(number) expression indexes, so Alembic skips comparing
# them there (and says so); PostgreSQL compares them.
@pytest.mark.filterwarnings("ignore:.*expression-based index")
def test_migrated_schema_matches_the_models(any_url: str) -> None:
    """No drift: the tables the code uses are exactly what the migrations create."""
    led = open_ledger(any_url)
    try:
        with led.engine.connect() as conn:
            diffs = compare_metadata(
                MigrationContext.configure(conn, opts={"compare_type": True}), SQLModel.metadata
            )
    finally:
        led.dispose()

    def table_of(diff: object) -> str | None:
        item = diff[0] if isinstance(diff, list) else diff
        for part in item[1:]:  # type: ignore[index]
            name = getattr(part, "name", None) if not isinstance(part, str) else part
            table = getattr(part, "table", None)
            if table is not None:
                return table.name
            if name in OUR_TABLES:
                return name
        return None

    ours = [d for d in diffs if table_of(d) in OUR_TABLES]
    assert ours == []


def test_sqlite_runs_in_wal_with_foreign_keys(sqlite_url: str) -> None:
    led = open_ledger(sqlite_url)
    try:
        with led.engine.connect() as conn:
            assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"
            assert conn.execute(text("PRAGMA foreign_keys")).scalar() == 1
            assert conn.execute(text("PRAGMA busy_timeout")).scalar() >= 5000
        with pytest.raises(Exception, match="FOREIGN KEY"), led.engine.begin() as conn:
            conn.execute(
                text(
                    "INSERT INTO outbox (transaction_id, action, marker, state, attempts, "
                    "created_at, updated_at) VALUES (999, 'post_payment', 'X', 'pending', 0, "
                    "'2026-01-01', '2026-01-01')"
                )
            )
    finally:
        led.dispose()
    path = Path(sqlite_url.removeprefix("sqlite:///"))
    assert sqlite3.connect(path).execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_postgresql_url_is_normalised_to_psycopg() -> None:
    assert normalize_url("postgresql://u@h/db") == "postgresql+psycopg://u@h/db"
    assert normalize_url("postgres://u@h/db") == "postgresql+psycopg://u@h/db"
    with pytest.raises(LedgerError, match="sqlite:///PATH or postgresql://"):
        normalize_url("mysql://u@h/db")


def test_unreachable_database_says_what_to_check() -> None:
    with pytest.raises(LedgerError, match="Check the database URL") as info:
        open_ledger("postgresql://nobody:hunter2@127.0.0.1:1/none")
    assert "hunter2" not in str(info.value)


def test_quick_head_agrees_with_alembic() -> None:
    """Start-up skips importing Alembic when the database is current; that check must agree."""
    from posplus_tui.ledger.engine import _quick_head

    assert _quick_head() == script_heads()[0]
