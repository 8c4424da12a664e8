"""Several stations on one PostgreSQL ledger: two worker processes drain 1,000 rows and the
sandbox shows exactly one payment per marker."""

from __future__ import annotations

import asyncio
import re
import subprocess
import sys
from collections.abc import Iterator

import pytest
from sqlalchemy import func, select

from posplus_tui.ledger import Ledger, open_ledger
from posplus_tui.ledger.tables.outbox import OutboxRow
from posplus_tui.servicetitan.sandbox import Sandbox
from tests.reconcile.conftest import unpaid_invoices
from tests.reconcile.ledgerdata import add_many
from tests.reconcile.served import ROOT, client_for, markers_in_feed, sandbox_process
from tests.reconcile.test_crash import cli_env

ONCE = [sys.executable, "-m", "posplus_tui", "reconcile", "--once", "--no-progress"]


@pytest.fixture
def pg_ledger(migrated_pg_url: str) -> Iterator[Ledger]:
    led = open_ledger(migrated_pg_url)
    yield led
    led.dispose()


@pytest.mark.postgres
@pytest.mark.slow
def test_two_workers_on_postgresql_post_each_marker_exactly_once(pg_ledger: Ledger) -> None:
    # the same seed as the served sandbox: the same open invoices
    invoices = [(i, n) for i, n, _ in unpaid_invoices(Sandbox(seed=1), 1_000, min_cents=100)]
    rows = add_many(pg_ledger, invoices, cents=100)
    with sandbox_process(rate=0, seed=1) as info:
        env = cli_env(None, info["base_url"], pg_ledger.url, info)
        workers = [
            subprocess.Popen(
                [*ONCE, "--rate", "0"],
                cwd=ROOT,
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for _ in range(2)
        ]
        outputs = [w.communicate(timeout=170) for w in workers]

        async def count() -> dict[str, int]:
            async with client_for(info) as st:
                return dict(await markers_in_feed(st))

        counts = asyncio.run(count())
    for w, (out, err) in zip(workers, outputs, strict=True):
        assert w.returncode == 0, out + err
    posted = [int(re.search(r"Posted (\d+)", out).group(1)) for out, _ in outputs]  # type: ignore[union-attr]
    assert sum(posted) == 1_000, outputs
    assert min(posted) > 0, "both stations should have taken rows"
    assert all(counts.get(r.marker) == 1 for r in rows)
    assert sum(counts.get(r.marker, 0) for r in rows) == 1_000
    o = OutboxRow.__table__
    with pg_ledger.engine.connect() as conn:
        states = dict(conn.execute(select(o.c.state, func.count()).group_by(o.c.state)).all())
    assert states == {"verified": 1_000}
