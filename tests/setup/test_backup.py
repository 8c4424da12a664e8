"""Backups of a SQLite ledger: a real ledger with real payments, copied, damaged, restored."""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import text

from posplus_tui.cli import main
from posplus_tui.ledger import Ledger, open_ledger
from posplus_tui.ledger.audit import verify
from posplus_tui.ledger.backup import (
    BackupError,
    backup_dir,
    backup_file,
    check_file,
    daily_backup,
    list_backups,
    restore,
)
from posplus_tui.services.operators import OperatorService
from posplus_tui.services.payments import PaymentService
from tests.services.conftest import Staff, invoice_facts, make_payments


@pytest.fixture
def ledger_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'ledger.sqlite3'}"


@pytest.fixture
async def pay(
    ledger: Ledger, operators: OperatorService, staff: Staff
) -> AsyncIterator[PaymentService]:
    service, terminal = make_payments(ledger, operators)
    yield service
    await terminal.close()


def _payments(file: Path) -> list[tuple[str, str, int]]:
    conn = sqlite3.connect(file)
    try:
        return conn.execute(
            "SELECT ecr_ref, state, approved_cents FROM transactions ORDER BY id"
        ).fetchall()
    finally:
        conn.close()


async def test_backup_and_restore_round_trip_a_ledger_with_payments(
    pay: PaymentService, staff: Staff, ledger: Ledger, tmp_path: Path
) -> None:
    file = Path(str(ledger.engine.url.database))
    first = await pay.charge(invoice_facts("100.00"), operator=staff.clerk)
    assert first.approved
    made = backup_file(file, reason="manual")  # taken while the ledger is open and in use
    assert made.path.parent == backup_dir(file) and made.path.stat().st_mode & 0o777 == 0o600
    before = _payments(file)
    assert _payments(made.path) == before and len(before) == 1

    second = await pay.charge(invoice_facts("40.00", invoice_id="51235"), operator=staff.clerk)
    assert second.approved and len(_payments(file)) == 2
    ledger.dispose()

    safety = restore(made.path, file)
    assert _payments(file) == before, "the restored ledger is the one backed up"
    assert safety is not None and len(_payments(safety)) == 2, "the replaced ledger is kept"
    reopened = open_ledger(f"sqlite:///{file}", must_exist=True)
    try:
        assert verify(reopened.engine).ok, "the audit chain of the restored copy is intact"
        with reopened.engine.connect() as conn:
            assert conn.execute(text("SELECT count(*) FROM transactions")).scalar() == 1
    finally:
        reopened.dispose()


def test_a_damaged_or_foreign_file_is_never_restored(ledger: Ledger, tmp_path: Path) -> None:
    file = Path(str(ledger.engine.url.database))
    good = backup_file(file).path
    damaged = tmp_path / "damaged.sqlite3"
    data = bytearray(good.read_bytes())
    data[5000:9000] = b"\xff" * 4000  # pages of the copy overwritten
    damaged.write_bytes(bytes(data))
    other = tmp_path / "other.sqlite3"
    sqlite3.connect(other).execute("CREATE TABLE t (x)").connection.commit()
    text_file = tmp_path / "notes.sqlite3"
    text_file.write_text("not a database")
    original = file.read_bytes()
    for bad in (damaged, other, text_file, tmp_path / "missing.sqlite3"):
        with pytest.raises(BackupError):
            restore(bad, file)
        assert file.read_bytes() == original, f"{bad.name} changed the ledger"
    assert check_file(good)


def test_keeps_the_newest_copies_of_each_kind(ledger: Ledger) -> None:
    file = Path(str(ledger.engine.url.database))
    for _ in range(4):
        backup_file(file, reason="manual", keep=3)
    backup_file(file, reason="daily", keep=3)
    found = list_backups(backup_dir(file))
    assert [b.reason for b in found].count("manual") == 3
    assert [b.reason for b in found].count("daily") == 1


def test_daily_copy_once_a_day(ledger: Ledger) -> None:
    file = Path(str(ledger.engine.url.database))
    assert daily_backup(file) is not None
    assert daily_backup(file) is None, "a copy younger than a day exists"
    later = datetime.now(UTC) + timedelta(hours=25)
    assert daily_backup(file, now=later) is not None


def test_a_migration_is_preceded_by_a_copy(tmp_path: Path) -> None:
    """A ledger one revision behind is copied before the migration runs."""
    file = tmp_path / "old.sqlite3"
    led = open_ledger(f"sqlite:///{file}")
    with led.engine.begin() as conn:
        head = conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
        conn.execute(text("UPDATE alembic_version SET version_num = 'pretend-older'"))
    led.dispose()
    from posplus_tui.ledger.engine import backup_before_migration, make_engine

    engine = make_engine(f"sqlite:///{file}")
    try:
        backup_before_migration(engine)
    finally:
        engine.dispose()
    found = list_backups(backup_dir(file))
    assert [b.reason for b in found] == ["before-migration"]
    assert head


def test_cli_backup_list_restore(ledger: Ledger, capsys: pytest.CaptureFixture[str]) -> None:
    file = Path(str(ledger.engine.url.database))
    url = f"sqlite:///{file}"
    assert main(["db", "backup", "--database-url", url]) == 0
    assert "backed up" in capsys.readouterr().out
    assert main(["db", "backups", "--database-url", url]) == 0
    listed = capsys.readouterr().out
    assert "manual" in listed
    copy = list_backups(backup_dir(file))[0].path
    ledger.dispose()
    assert main(["db", "restore", str(copy), "--database-url", url]) == 0
    out = capsys.readouterr().out
    assert "restored" in out and "kept at" in out
    assert main(["db", "backup", "--database-url", "postgresql://u@h/db"]) == 2
    assert "pg_dump" in capsys.readouterr().err
