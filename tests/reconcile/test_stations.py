"""Several stations on one PostgreSQL ledger: two worker processes drain 1,000 rows and the
sandbox shows exactly one payment per marker."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from sqlalchemy import func, select

from posplus_tui.ledger import Ledger, open_ledger
from posplus_tui.ledger.tables.outbox import OutboxRow
from posplus_tui.servicetitan.sandbox import Sandbox
from tests.reconcile.conftest import unpaid_invoices
from tests.reconcile.ledgerdata import add_many
from tests.reconcile.test_crash import cli_env, markers_in_sandbox, run_cli


@pytest.fixture
def pg_ledger(pg_url: str) -> Iterator[Ledger]:
    led = open_ledger(pg_url)
    yield led
    led.dispose()


@pytest.mark.postgres
@pytest.mark.slow
def test_two_workers_on_postgresql_post_each_marker_exactly_once(pg_ledger: Ledger) -> None:
    sandbox = Sandbox(seed=1, rate_per_second=None)
    invoices = [(i, n) for i, n, _ in unpaid_invoices(sandbox, 1_000, min_cents=100)]
    rows = add_many(pg_ledger, invoices, cents=100)
    with sandbox.serve_in_thread() as base_url:
        env = cli_env(sandbox, base_url, pg_ledger.url)
        workers = [run_cli(env, "--rate", "0", "--batch", "25") for _ in range(2)]
        outputs = [w.communicate(timeout=170) for w in workers]
    for w, (out, err) in zip(workers, outputs, strict=True):
        assert w.returncode == 0, out + err
    posted = [int(re.search(r"Posted (\d+)", out).group(1)) for out, _ in outputs]  # type: ignore[union-attr]
    assert min(posted) > 0, "both stations should have taken rows"
    assert sum(posted) == 1_000, outputs
    counts = markers_in_sandbox(sandbox)
    assert all(counts[r.marker] == 1 for r in rows)
    assert sum(counts.values()) == 1_000
    o = OutboxRow.__table__
    with pg_ledger.engine.connect() as conn:
        states = dict(conn.execute(select(o.c.state, func.count()).group_by(o.c.state)).all())
    assert states == {"verified": 1_000}
