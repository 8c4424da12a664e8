"""Two stations in two processes charge the same invoice at the same moment.

The finding: station B pressing F2 within ~2 s of station A (before A's payment reached
ServiceTitan) was approved too, 8 times out of 8. Here each station is its own OS process with its
own engine and its own terminal (a simulator process each, the cardholder taking 0.3 s), sharing
one ledger: PostgreSQL, and a SQLite file. Both get the same "charge" line at once; every round,
exactly one is approved and the other is refused before its terminal, told who is charging.
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text

from posplus_tui.ledger import open_ledger
from posplus_tui.ledger.audit import verify
from posplus_tui.services.operators import OperatorService

ROOT = Path(__file__).resolve().parents[2]
CHILD = Path(__file__).with_name("child_station.py")
ROUNDS = 8


def _simulator() -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "drivers.simulator",
            "--tcp",
            "127.0.0.1:0",
            "--card-wait-ms",
            "300",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )
    assert proc.stdout is not None
    url = proc.stdout.readline().strip()
    if not url.startswith("poslink+tcp://"):
        proc.kill()
        raise RuntimeError(f"the simulator did not start: {url!r}")
    return proc, url


@pytest.fixture
def terminals() -> Iterator[tuple[str, str]]:
    """One terminal per station, each a simulator in its own process."""
    (a, url_a), (b, url_b) = _simulator(), _simulator()
    try:
        yield f"{url_a}?timeout=5", f"{url_b}?timeout=5"
    finally:
        for proc in (a, b):
            proc.terminate()
            try:
                proc.wait(5)
            except subprocess.TimeoutExpired:
                proc.kill()


@pytest.fixture(params=["postgresql", "sqlite"])
def shared_ledger(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'ledger.sqlite3'}"
        drop = None
    else:
        server = os.environ.get("POSPLUS_TEST_PG_URL")
        if not server:
            pytest.skip("POSPLUS_TEST_PG_URL is not set: PostgreSQL two-station test skipped")
        import psycopg

        plain = server.replace("postgresql+psycopg://", "postgresql://")
        name = f"posplus_2st_{uuid.uuid4().hex[:10]}"
        with psycopg.connect(plain, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        url = f"{plain.rpartition('/')[0]}/{name}".replace(
            "postgresql://", "postgresql+psycopg://", 1
        )
        drop = (plain, name)
    ledger = open_ledger(url)
    ops = OperatorService(ledger, station="Counter 1", pin_cost=16)
    ops.add_sync("Kim Clerk", "clerk", "1234")
    ops.add_sync("Lee Clerk", "clerk", "5678")
    ledger.dispose()
    try:
        yield url
    finally:
        if drop is not None:
            import psycopg

            with psycopg.connect(drop[0], autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{drop[1]}" WITH (FORCE)')


def _station(db_url: str, terminal_url: str, station: str, clerk: str, pin: str):
    proc = subprocess.Popen(
        [sys.executable, str(CHILD), db_url, terminal_url, station, clerk, pin],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )
    assert proc.stdout is not None
    ready = proc.stdout.readline().strip()
    if ready != "READY":
        proc.kill()
        raise AssertionError(f"{station} did not start: {ready!r} {proc.stderr.read()[-2000:]}")
    return proc


def test_two_station_processes_never_both_charge_one_invoice(
    shared_ledger: str, terminals: tuple[str, str]
) -> None:
    a = _station(shared_ledger, terminals[0], "Counter 1", "Kim Clerk", "1234")
    b = _station(shared_ledger, terminals[1], "Counter 2", "Lee Clerk", "5678")
    outcomes: list[tuple[str, str]] = []
    try:
        for i in range(ROUNDS):
            line = f"charge 7{i:03d} 125.00\n"
            for proc in (a, b):  # both "press F2" at once
                assert proc.stdin is not None
                proc.stdin.write(line)
                proc.stdin.flush()
            got = [proc.stdout.readline().strip() for proc in (a, b)]  # type: ignore[union-attr]
            outcomes.append((got[0], got[1]))
    finally:
        for proc in (a, b):
            assert proc.stdin is not None
            proc.stdin.close()
            proc.wait(30)
    for first, second in outcomes:
        kinds = sorted(
            x.split()[0] + (" " + x.split()[1] if x.startswith("RESULT") else "")
            for x in (first, second)
        )
        assert kinds == ["REFUSED", "RESULT approved"], (first, second)
        refused = first if first.startswith("REFUSED") else second
        other = "Counter 2 by Lee Clerk" if refused is first else "Counter 1 by Kim Clerk"
        assert other in refused and "Do not charge" in refused, refused
    ledger = open_ledger(shared_ledger)
    try:
        with ledger.engine.connect() as conn:
            per_invoice = conn.execute(
                text(
                    "SELECT invoice_id, count(*), sum(approved_cents) FROM transactions "
                    "GROUP BY invoice_id ORDER BY invoice_id"
                )
            ).all()
        assert [tuple(r) for r in per_invoice] == [
            (f"7{i:03d}", 1, 12_500) for i in range(ROUNDS)
        ]  # the refused station wrote nothing and sent nothing
        assert verify(ledger.engine).ok
    finally:
        ledger.dispose()
