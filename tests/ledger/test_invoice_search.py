"""The local invoice search: word prefixes over name, address, phone and numbers, ranked open
balance first then most recent, kept current by the writers of the index, on SQLite and
PostgreSQL; and filled for a ledger that existed before the search index did."""

from __future__ import annotations

import asyncio
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, text
from sqlmodel import Session

from posplus_tui.ledger import Ledger, open_ledger
from posplus_tui.services.errors import InvalidRequest
from posplus_tui.services.invoice_index import upsert_index
from posplus_tui.services.lookup import LookupService
from posplus_tui.services.search import Interrupter, rank_key
from posplus_tui.servicetitan import Invoice

NOW = datetime(2026, 11, 29, tzinfo=UTC)


def invoice(
    inv_id: int,
    number: str,
    name: str,
    *,
    balance: int = 0,
    day: str = "2026-01-10",
    street: str = "12 Oak Ave",
    active: bool = True,
    customer_id: int = 7,
) -> Invoice:
    return Invoice.from_api(
        {
            "id": inv_id,
            "referenceNumber": number,
            "invoiceDate": f"{day}T00:00:00Z",
            "total": "500.00",
            "balance": f"{balance / 100:.2f}",
            "customer": {"id": customer_id, "name": name},
            "customerAddress": {"street": street, "city": "Springfield", "state": "IL"},
            "job": {"id": inv_id + 1, "number": f"J{number}"},
            "active": active,
        }
    )


def write(ledger: Ledger, *invoices: Invoice) -> None:
    with Session(ledger.engine) as session:
        upsert_index(session, invoices, NOW)
        session.commit()


def search(ledger: Ledger, query: str) -> list[Any]:
    return asyncio.run(LookupService(ledger.engine, use_api=False).search(query))


def ids(found: list[Any]) -> list[int]:
    return [s.id for s in found]


def test_word_prefixes_rank_open_balances_first_then_the_newest(ledger: Ledger) -> None:
    write(
        ledger,
        invoice(101, "5001", "John Smith", day="2025-03-01"),
        invoice(102, "5002", "John Smith", balance=2500, day="2024-06-01"),
        invoice(103, "5003", "Johanna Smithers", day="2026-02-01"),
        invoice(104, "5004", "Smythe Ltd", balance=100, day="2026-05-01"),
        invoice(105, "5005", "Anna Blacksmith", balance=100, day="2026-06-01"),
    )
    # word prefixes, not substrings: "Blacksmith" is not an answer to "smi"
    assert ids(search(ledger, "smi")) == [102, 103, 101]
    assert ids(search(ledger, "jo smi")) == [102, 103, 101]  # every word must begin a word
    assert ids(search(ledger, "SMITH john")) == [102, 101]
    assert ids(search(ledger, "oak")) == [105, 104, 102, 103, 101]  # the address
    [hit] = search(ledger, "smy")
    assert (hit.id, hit.number, hit.matched_by) == (104, "5004", "name")


def test_exact_numbers_come_first_and_keep_their_kind(ledger: Ledger) -> None:
    write(
        ledger,
        invoice(201, "4033", "Ann Lee", day="2020-01-01"),
        invoice(202, "40336", "Bo Diaz", balance=900, day="2026-01-01"),
    )
    found = search(ledger, "4033")
    assert ids(found) == [201, 202]  # the number typed, then the prefixes by rank
    assert found[0].matched_by == "number"
    assert ids(search(ledger, "J40336")) == [202]
    assert search(ledger, "J40336")[0].matched_by == "job"
    assert ids(search(ledger, "402")) == []


def test_a_phone_is_found_with_punctuation_and_without_its_area_code(ledger: Ledger) -> None:
    write(ledger, invoice(301, "6001", "Maria Garcia", customer_id=30))
    with Session(ledger.engine) as session:
        LookupService._remember_phone(session, {30}, "2175550123")
        session.commit()
    for typed in ("(217) 555-0123", "217-555-01", "5550123"):
        [hit] = search(ledger, typed)
        assert (hit.id, hit.matched_by) == (301, "phone"), typed
    assert search(ledger, "(217) 555-0199") == []


def test_the_index_follows_every_change(ledger: Ledger) -> None:
    write(
        ledger,
        invoice(401, "7001", "Wei Torres", balance=100, day="2025-01-01"),
        invoice(402, "7002", "Wei Torres", day="2026-01-01"),
    )
    assert ids(search(ledger, "torres")) == [401, 402]
    # paid, renamed, deleted: the next search says so
    write(ledger, invoice(401, "7001", "Wei Torres", balance=0, day="2025-01-01"))
    assert ids(search(ledger, "torres")) == [402, 401]
    write(ledger, invoice(402, "7002", "Wei Navarro", day="2026-01-01"))
    assert ids(search(ledger, "torres")) == [401]
    assert ids(search(ledger, "navarro")) == [402]
    write(ledger, invoice(401, "7001", "Wei Torres", active=False))
    assert search(ledger, "torres") == []
    write(ledger, invoice(401, "7001", "Wei Torres", day="2025-01-01"))  # restored
    assert ids(search(ledger, "torr")) == [401]
    # writing the same rows again changes nothing
    write(ledger, invoice(401, "7001", "Wei Torres", day="2025-01-01"))
    assert ids(search(ledger, "wei")) == [402, 401]
    if ledger.engine.dialect.name == "sqlite":
        with ledger.engine.connect() as conn:
            count = conn.execute(text("SELECT count(*) FROM invoice_search")).scalar_one()
        assert count == 2


def test_card_data_and_nonsense_are_refused_before_searching(ledger: Ledger) -> None:
    write(ledger, invoice(501, "8001", 'Quote O\'Brien "AND" NEAR(x)'))
    with pytest.raises(InvalidRequest):
        search(ledger, "4111 1111 1111 1111")
    # FTS5 syntax typed by a clerk is words, not a query
    assert ids(search(ledger, 'o"brien AND near(')) == [501]
    assert search(ledger, "*** ---") == []


def test_the_rank_is_the_same_in_python_and_in_the_migration(tmp_path: Path) -> None:
    """``rank_key`` (writes) and the migration's SQL (existing ledgers) must agree."""
    import importlib.util

    from posplus_tui.ledger.engine import MIGRATIONS

    spec = importlib.util.spec_from_file_location(
        "m0302", MIGRATIONS / "versions" / "0302_invoice_search.py"
    )
    assert spec is not None and spec.loader is not None
    m = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(m)
    conn = create_engine(f"sqlite:///{tmp_path / 'r.sqlite3'}").connect()
    conn.execute(
        text(
            "CREATE TABLE invoice_index (id INTEGER, balance_cents INTEGER, invoice_date TEXT, "
            "active BOOLEAN)"
        )
    )
    cases = [
        (1, 0, "2026-11-29T10:00:00+00:00"),
        (2**40 + 5, 10, "1999-12-31"),
        (77, -5, ""),
        (78, 1, "not a date"),
        (79, 1, "2000-01-01"),
        (80, 1, "9999-12-31T00:00:00"),
    ]
    for case in cases:
        conn.execute(
            text("INSERT INTO invoice_index VALUES (:i, :b, :d, 1)"),
            dict(zip("ibd", case, strict=True)),
        )
    sql = conn.execute(text(f"SELECT id, {m._RANK} FROM invoice_index")).all()
    assert dict(sql) == {i: rank_key(i, b, d) for i, b, d in cases}


def test_a_ledger_from_before_the_search_index_is_filled_when_migrated(tmp_path: Path) -> None:
    from posplus_tui.ledger.engine import alembic_config, make_engine

    url = f"sqlite:///{tmp_path / 'old.sqlite3'}"
    engine = make_engine(url)
    from alembic import command

    cfg = alembic_config(engine)
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "0301_payment_links")
        conn.execute(
            text(
                "INSERT INTO invoice_index (id, number, job_number, customer_name, "
                "customer_name_norm, phone_digits, address, total_cents, balance_cents, "
                "invoice_date, active, modified_on, updated_at) VALUES "
                "(9, '900', 'J900', 'Old Customer', 'old customer', '', '1 Elm St', 100, 100, "
                "'2026-01-01', 1, '', '2026-01-01'), "
                "(8, '800', 'J800', 'Old Gone', 'old gone', '', '', 100, 0, '', 0, '', "
                "'2026-01-01')"
            )
        )
    engine.dispose()
    led = open_ledger(url)
    try:
        assert ids(search(led, "old")) == [9]
        assert ids(search(led, "elm")) == [9]
    finally:
        led.dispose()


def test_a_cancelled_search_stops_its_query() -> None:
    """A newer keystroke interrupts the query it replaces, instead of letting it run on."""
    import sqlite3

    raw = sqlite3.connect(":memory:", check_same_thread=False)
    stop = Interrupter()
    outcome: list[str] = []

    def long_query() -> None:
        stop.attach(raw)
        try:
            raw.execute(
                "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n) "
                "SELECT count(*) FROM n"
            ).fetchone()
            outcome.append("finished")
        except sqlite3.OperationalError as exc:
            outcome.append(str(exc))
        finally:
            stop.detach()

    worker = threading.Thread(target=long_query)
    worker.start()
    time.sleep(0.05)
    started = time.perf_counter()
    stop.interrupt()
    worker.join(timeout=5)
    assert outcome == ["interrupted"]
    assert time.perf_counter() - started < 1
    # interrupting after the query is over (or before it starts) is harmless
    stop.interrupt()
    late = Interrupter()
    late.interrupt()
    assert late.cancelled


async def test_cancelling_a_search_interrupts_its_query_in_the_database(
    ledger: Ledger, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What a newer keystroke does to the search it replaces (Lookup's exclusive worker
    cancels it): the query stops in the database, it does not run on unseen."""
    import posplus_tui.services.lookup as lookup_module

    sqlite = ledger.engine.dialect.name == "sqlite"
    write(ledger, invoice(601, "9001", "Slow Query"))
    ended = threading.Event()
    outcome: list[str] = []

    def endless(conn: Any, terms: list[str], limit: int) -> list[int]:
        try:
            conn.execute(
                text(
                    "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n) "
                    "SELECT count(*) FROM n"
                    if sqlite
                    else "SELECT pg_sleep(30)"
                )
            )
            outcome.append("finished")
        except Exception as exc:  # the interrupt (SQLite) or the cancel (PostgreSQL)
            said = str(exc)
            stopped = "interrupted" in said or "canceling statement" in said
            outcome.append("interrupted" if stopped else repr(exc))
            raise
        finally:
            ended.set()
        return []

    monkeypatch.setattr(lookup_module, "search_ids", endless)
    task = asyncio.ensure_future(LookupService(ledger.engine, use_api=False).search("slow"))
    await asyncio.sleep(0.1)
    started = time.perf_counter()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert await asyncio.to_thread(ended.wait, 5)
    assert outcome == ["interrupted"]
    assert time.perf_counter() - started < 2
