"""Ledger benchmark: what the payment engine costs per payment, beside a bare insert.

Runs N sales (default 10,000) through ``PaymentService.charge`` against the in-process simulator
with zero terminal delay, on SQLite (a real file: WAL, full fsync) and on PostgreSQL (when
``POSPLUS_TEST_PG_URL`` or ``--pg-url`` names a server). The engine's overhead per payment is the
time of ``charge`` minus the time spent inside the terminal call: three committed database
transactions (intent, sent, approval + outbox + audit), the state machine and the thread hops. Two
floors, measured in the same run: a bare insert of the same final rows (transaction + outbox) in
one transaction per payment, and the design floor, the three durable commits the money rules
need done bare (``design_floor_run``); the goal is ≤ 2 × the design floor. The last line printed
is one JSON object.

    uv run python benchmarks/ledger.py [--quick] [--n N] [--pg-url URL] [--no-pg]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import insert, update

import drivers
from posplus_tui.domain.invoice import InvoiceFacts
from posplus_tui.domain.money import Money
from posplus_tui.ledger import open_ledger
from posplus_tui.ledger.tables import OutboxRow, Transaction
from posplus_tui.services.operators import OperatorService
from posplus_tui.services.payments import PaymentService


def percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(pct / 100 * (len(ordered) - 1))))
    return ordered[index]


def summary(values_s: list[float]) -> dict[str, float]:
    ms = [v * 1000 for v in values_s]
    return {
        "median": round(statistics.median(ms), 4),
        "p99": round(percentile(ms, 99), 4),
        "mean": round(statistics.fmean(ms), 4),
    }


@contextmanager
def pg_database(server: str) -> Iterator[str]:
    import psycopg

    plain = server.replace("postgresql+psycopg://", "postgresql://")
    name = f"posplus_bench_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(plain, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    base, _, _ = plain.rpartition("/")
    try:
        yield f"{base}/{name}".replace("postgresql://", "postgresql+psycopg://", 1)
    finally:
        with psycopg.connect(plain, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


async def engine_run(url: str, n: int) -> tuple[list[float], list[float]]:
    ledger = open_ledger(url)
    operators = OperatorService(ledger, station="Bench", pin_cost=16)
    admin = operators.add_sync("Bench Admin", "admin", "4321")
    clerk = operators.add_sync("Bench Clerk", "clerk", "1234", by=admin)
    terminal = drivers.open_terminal("sim://?delay_ms=0&card_wait_ms=0")
    inside: list[float] = []
    original = terminal.sale

    async def timed_sale(*args, **kwargs):  # type: ignore[no-untyped-def]
        start = time.perf_counter()
        try:
            return await original(*args, **kwargs)
        finally:
            inside.append(time.perf_counter() - start)

    terminal.sale = timed_sale  # type: ignore[method-assign]
    pay = PaymentService(ledger, terminal, operators, station="Bench")
    totals: list[float] = []
    for i in range(n):
        invoice = InvoiceFacts(
            str(100000 + i), f"INV-{i}", str(i % 500), Money(10000 + (i % 7) * 100)
        )
        start = time.perf_counter()
        result = await pay.charge(invoice, operator=clerk)
        totals.append(time.perf_counter() - start)
        if not result.approved:
            raise SystemExit(
                f"sale {i} was not approved: {result.message} ({result.transaction.message})"
            )
    await terminal.close()
    ledger.dispose()
    overhead = [t - d for t, d in zip(totals, inside, strict=True)]
    return overhead, inside


def bare_run(url: str, n: int) -> list[float]:
    """The floor: the same final rows, inserted directly, one committed transaction each."""
    ledger = open_ledger(url)
    times: list[float] = []
    now = datetime.now(UTC)
    tx_table, ob_table = Transaction.__table__, OutboxRow.__table__  # type: ignore[attr-defined]
    with ledger.engine.connect() as conn:
        for i in range(n):
            ref = f"B{i:015d}"
            start = time.perf_counter()
            with conn.begin():
                txn_id = conn.execute(
                    insert(tx_table)
                    .values(
                        ecr_ref=ref,
                        kind="sale",
                        tender="card",
                        state="approved",
                        amount_cents=10000,
                        approved_cents=10000,
                        invoice_id=str(i),
                        invoice_number=f"INV-{i}",
                        job_number="",
                        customer_id=str(i % 500),
                        station="Bench",
                        terminal_ref=str(i),
                        host_ref=f"H{i}",
                        auth_code="A1",
                        brand="VISA",
                        last4="1111",
                        entry_method="chip",
                        save_card=False,
                        batch_number="1",
                        host_code="00",
                        message="approved",
                        version=0,
                        created_at=now,
                        updated_at=now,
                    )
                    .returning(tx_table.c.id)
                ).scalar_one()
                conn.execute(
                    insert(ob_table).values(
                        transaction_id=txn_id,
                        action="post_payment",
                        marker=f"POSPLUS-{ref}",
                        state="pending",
                        attempts=0,
                        created_at=now,
                        updated_at=now,
                    )
                )
            times.append(time.perf_counter() - start)
    ledger.dispose()
    return times


def design_floor_run(url: str, n: int) -> list[float]:
    """The floor of what the design needs: the three durable commits of a payment, bare. The
    intent row (committed before anything reaches the terminal), the guarded move to AT_TERMINAL
    (committed before the terminal is asked, so a crash leaves a row recovery must ask the
    terminal about, never one it may discard), and the result with its outbox row in one
    transaction. No audit chain, no state machine, no invoice reservation, no thread hops."""
    ledger = open_ledger(url)
    times: list[float] = []
    now = datetime.now(UTC)
    tx_table, ob_table = Transaction.__table__, OutboxRow.__table__  # type: ignore[attr-defined]
    with ledger.engine.connect() as conn:
        for i in range(n):
            ref = f"D{i:015d}"
            start = time.perf_counter()
            with conn.begin():
                txn_id = conn.execute(
                    insert(tx_table)
                    .values(
                        ecr_ref=ref, kind="sale", tender="card", state="intent",
                        amount_cents=10000, approved_cents=0, invoice_id=str(i),
                        invoice_number=f"INV-{i}", job_number="", customer_id=str(i % 500),
                        station="Bench", save_card=False, version=0, created_at=now,
                        updated_at=now,
                    )
                    .returning(tx_table.c.id)
                ).scalar_one()  # fmt: skip
            with conn.begin():
                conn.execute(
                    update(tx_table)
                    .where(tx_table.c.id == txn_id, tx_table.c.state == "intent")
                    .values(state="at_terminal", sent_at=now, version=1)
                )
            with conn.begin():
                conn.execute(
                    update(tx_table)
                    .where(tx_table.c.id == txn_id, tx_table.c.state == "at_terminal")
                    .values(
                        state="approved", approved_cents=10000, terminal_ref=str(i),
                        host_ref=f"H{i}", auth_code="A1", brand="VISA", last4="1111",
                        entry_method="chip", batch_number="1", host_code="00",
                        message="approved", version=2,
                    )
                )  # fmt: skip
                conn.execute(
                    insert(ob_table).values(
                        transaction_id=txn_id, action="post_payment", marker=f"POSPLUS-{ref}",
                        state="pending", attempts=0, created_at=now, updated_at=now,
                    )
                )  # fmt: skip
            times.append(time.perf_counter() - start)
    ledger.dispose()
    return times


def bench(url: str, n: int) -> dict[str, object]:
    overhead, inside = asyncio.run(engine_run(url, n))
    bare = bare_run(url, n)
    design = design_floor_run(url, n)
    eng, floor, need = summary(overhead), summary(bare), summary(design)
    return {
        "engine_overhead_ms": eng,
        "bare_insert_ms": floor,
        "design_floor_ms": need,
        "terminal_ms": summary(inside),
        "ratio_median": round(eng["median"] / floor["median"], 2) if floor["median"] else None,
        "ratio_p99": round(eng["p99"] / floor["p99"], 2) if floor["p99"] else None,
        # The goal: ≤ 2 × the durable commits the design needs.
        "ratio_to_design_floor_median": (
            round(eng["median"] / need["median"], 2) if need["median"] else None
        ),
        "goal_ratio_to_design_floor": 2.0,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="300 sales instead of 10,000")
    parser.add_argument("--n", type=int, default=None, help="number of sales")
    parser.add_argument("--pg-url", default=os.environ.get("POSPLUS_TEST_PG_URL", ""))
    parser.add_argument("--no-pg", action="store_true", help="SQLite only")
    args = parser.parse_args()
    n = args.n or (300 if args.quick else 10_000)
    out: dict[str, object] = {"benchmark": "ledger", "sales": n}
    with tempfile.TemporaryDirectory() as folder:
        url = f"sqlite:///{Path(folder) / 'bench.sqlite3'}"
        out["sqlite"] = bench(url, n)
        print(f"sqlite: {json.dumps(out['sqlite'])}", file=sys.stderr)
    if args.pg_url and not args.no_pg:
        with pg_database(args.pg_url) as url:
            out["postgresql"] = bench(url, n)
            print(f"postgresql: {json.dumps(out['postgresql'])}", file=sys.stderr)
    else:
        out["postgresql"] = "skipped: no --pg-url / POSPLUS_TEST_PG_URL"
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
