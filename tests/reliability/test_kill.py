"""Kill tests: a station process running a sale is SIGKILLed at each state boundary; after a
restart, ``recover()`` must leave exactly one approved transaction per sale the terminal approved,
and none for requests that never reached it. The terminal is a simulator in a third process, over
TCP, so it keeps what it did when the station dies.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text

import drivers
from drivers import Approved, NotFound
from posplus_tui.domain.money import Money
from posplus_tui.domain.transactions import MONEY_MOVED_STATES, TxnState
from posplus_tui.ledger import open_ledger
from posplus_tui.ledger.audit import verify
from posplus_tui.services.operators import OperatorService
from posplus_tui.services.payments import PaymentService

from .conftest import TALLY

ROOT = Path(__file__).resolve().parents[2]
CHILD = Path(__file__).with_name("child_sale.py")
S = TxnState

# (kill point, amount, state after recovery, does the terminal hold an approval?)
CASES = [
    ("intent_committed", "101.00", S.DISCARDED, False),
    ("marked_sent", "102.00", S.NOT_FOUND, False),
    ("terminal:WAITING_FOR_CARD", "104.00", S.APPROVED, True),  # at the terminal
    ("terminal_replied", "105.00", S.APPROVED, True),  # approved, before approval+outbox commit
    ("settled", "106.00", S.APPROVED, True),  # after the commit
    ("terminal:WAITING_FOR_CARD", "107.01", S.DECLINED, False),  # a decline in flight
    ("terminal_replied", "108.09", S.APPROVED, True),  # reply lost, killed before UNKNOWN written
    ("settled", "109.09", S.APPROVED, True),  # UNKNOWN written, killed before asking
    ("terminal_replied", "110.11", S.NOT_FOUND, False),  # never answered
]


@pytest.fixture(scope="module")
def db_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    url = f"sqlite:///{tmp_path_factory.mktemp('kill') / 'ledger.sqlite3'}"
    ledger = open_ledger(url)
    ops = OperatorService(ledger, station="Kill Station", pin_cost=16)
    admin = ops.add_sync("Ada Admin", "admin", "9999")
    ops.add_sync("Kim Clerk", "clerk", "1234", by=admin)
    ops.add_sync("Sue Super", "supervisor", "5678", by=admin)
    ledger.dispose()
    return url


def _run_child_until(
    db_url: str, terminal_url: str, amount: str, point: str, mode: str = "sale"
) -> list[str]:
    proc = subprocess.Popen(
        [sys.executable, str(CHILD), db_url, terminal_url, amount, point, mode],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )
    assert proc.stdout is not None
    seen: list[str] = []
    try:
        for line in proc.stdout:
            seen.append(line.strip())
            if line.startswith("FROZEN"):
                os.kill(proc.pid, signal.SIGKILL)
                break
            if line.startswith("DONE"):
                break
    finally:
        proc.wait(30)
    if not any(s.startswith("FROZEN") for s in seen):
        err = proc.stderr.read() if proc.stderr else ""
        raise AssertionError(f"child never reached {point}: {seen} {err[-2000:]}")
    assert proc.returncode == -signal.SIGKILL
    return seen


@pytest.mark.parametrize(("point", "amount", "expected", "terminal_approved"), CASES)
async def test_kill_at_each_boundary_then_recover(
    db_url: str,
    simulator_url: str,
    point: str,
    amount: str,
    expected: TxnState,
    terminal_approved: bool,
) -> None:
    await _kill_and_recover(db_url, simulator_url, point, amount, expected, terminal_approved, "")


@pytest.fixture(scope="module")
def pg_db_url() -> Iterator[str]:
    """The same kill tests on PostgreSQL (a database of their own, dropped afterwards)."""
    server = os.environ.get("POSPLUS_TEST_PG_URL")
    if not server:
        pytest.skip("POSPLUS_TEST_PG_URL is not set: PostgreSQL kill tests skipped")
    import psycopg

    plain = server.replace("postgresql+psycopg://", "postgresql://")
    name = f"posplus_kill_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(plain, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = f"{plain.rpartition('/')[0]}/{name}".replace("postgresql://", "postgresql+psycopg://", 1)
    ledger = open_ledger(url)
    ops = OperatorService(ledger, station="Kill Station", pin_cost=16)
    admin = ops.add_sync("Ada Admin", "admin", "9999")
    ops.add_sync("Kim Clerk", "clerk", "1234", by=admin)
    ops.add_sync("Sue Super", "supervisor", "5678", by=admin)
    ledger.dispose()
    try:
        yield url
    finally:
        with psycopg.connect(plain, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


PG_CASES = [
    ("terminal:WAITING_FOR_CARD", "302.00", S.APPROVED, True),
    ("terminal_replied", "303.00", S.APPROVED, True),
    ("settled", "304.09", S.APPROVED, True),
]


@pytest.mark.parametrize(("point", "amount", "expected", "terminal_approved"), PG_CASES)
async def test_kill_on_postgresql(
    pg_db_url: str,
    simulator_url: str,
    point: str,
    amount: str,
    expected: TxnState,
    terminal_approved: bool,
) -> None:
    await _kill_and_recover(
        pg_db_url, simulator_url, point, amount, expected, terminal_approved, "postgresql "
    )


async def _kill_and_recover(
    db_url: str,
    simulator_url: str,
    point: str,
    amount: str,
    expected: TxnState,
    terminal_approved: bool,
    label: str,
) -> None:
    key = f"{label}{point} ({amount})"
    TALLY[key] = "FAILED"
    terminal_url = f"{simulator_url}?timeout=1"
    _run_child_until(db_url, terminal_url, amount, point)

    ledger = open_ledger(db_url)  # the restart
    with ledger.engine.connect() as conn:
        ref, state_at_death = conn.execute(
            text("SELECT ecr_ref, state FROM transactions ORDER BY id DESC LIMIT 1")
        ).one()
    terminal = drivers.open_terminal(terminal_url)
    operators = OperatorService(ledger, station="Kill Station", pin_cost=16)
    pay = PaymentService(ledger, terminal, operators, station="Kill Station")
    outcomes = await pay.recover()
    assert [o.ecr_ref for o in outcomes] == (
        [] if state_at_death not in ("intent", "at_terminal", "unknown") else [ref]
    )

    after = await pay.get(ref)
    assert after.state is expected, (point, state_at_death, after.state, after.message)
    status = await terminal.status(ref)
    assert isinstance(status, Approved) == terminal_approved
    if not terminal_approved and expected in (S.DISCARDED, S.NOT_FOUND):
        assert isinstance(status, NotFound)  # it truly never reached the host
    with ledger.engine.connect() as conn:
        outbox_rows = conn.execute(
            text(
                "SELECT count(*) FROM outbox o JOIN transactions t ON t.id = o.transaction_id WHERE t.ecr_ref = :r"
            ),
            {"r": ref},
        ).scalar_one()
    assert outbox_rows == (1 if terminal_approved else 0)
    assert await pay.recover() == []  # settled for good
    assert verify(ledger.engine).ok
    await terminal.close()
    ledger.dispose()
    TALLY[key] = "survived"


# (kill point during the refund of 50.00 of a 200.00 sale, refund state after recovery)
REFUND_CASES = [
    ("intent_committed", S.DISCARDED),
    ("terminal:AUTHORISING", S.APPROVED),  # the terminal is refunding
    ("terminal_replied", S.APPROVED),  # refunded, before refund + outbox + sale state commit
]


@pytest.mark.parametrize(("point", "expected"), REFUND_CASES)
async def test_kill_during_a_refund_then_recover(
    db_url: str, simulator_url: str, point: str, expected: TxnState
) -> None:
    key = f"refund {point}"
    TALLY[key] = "FAILED"
    terminal_url = f"{simulator_url}?timeout=1"
    _run_child_until(db_url, terminal_url, "200.00", point, "refund")
    ledger = open_ledger(db_url)
    with ledger.engine.connect() as conn:
        ref, parent_ref = conn.execute(
            text(
                "SELECT c.ecr_ref, p.ecr_ref FROM transactions c JOIN transactions p "
                "ON p.id = c.parent_id ORDER BY c.id DESC LIMIT 1"
            )
        ).one()
    terminal = drivers.open_terminal(terminal_url)
    pay = PaymentService(
        ledger,
        terminal,
        OperatorService(ledger, station="Kill Station", pin_cost=16),
        station="Kill Station",
    )
    await pay.recover()
    refund, sale = await pay.get(ref), await pay.get(parent_ref)
    assert refund.state is expected
    refunded = expected is S.APPROVED
    assert isinstance(await terminal.status(ref), Approved) == refunded
    assert sale.state is (S.PARTIALLY_REFUNDED if refunded else S.APPROVED)
    assert await pay.refundable(parent_ref) == Money.parse("150.00" if refunded else "200.00")
    with ledger.engine.connect() as conn:
        actions = (
            conn.execute(
                text(
                    "SELECT o.action FROM outbox o JOIN transactions t ON t.id = o.transaction_id "
                    "WHERE t.ecr_ref IN (:a, :b) ORDER BY o.id"
                ),
                {"a": ref, "b": parent_ref},
            )
            .scalars()
            .all()
        )
    assert actions == (["post_payment", "post_refund"] if refunded else ["post_payment"])
    assert verify(ledger.engine).ok
    await terminal.close()
    ledger.dispose()
    TALLY[key] = "survived"


async def test_ledger_matches_the_terminal_after_every_kill(
    db_url: str, simulator_url: str
) -> None:
    """Across all kill points: one approved ledger row per terminal approval, none otherwise."""
    ledger = open_ledger(db_url)
    terminal = drivers.open_terminal(f"{simulator_url}?timeout=1")
    with ledger.engine.connect() as conn:
        rows = conn.execute(text("SELECT ecr_ref, state FROM transactions")).all()
    assert rows, "run with the kill tests"
    for ref, state in rows:
        status = await terminal.status(ref)
        approved_here = TxnState(state) in MONEY_MOVED_STATES
        assert approved_here == isinstance(status, Approved), (ref, state, status)
    await terminal.close()
    ledger.dispose()
    await asyncio.sleep(0)
