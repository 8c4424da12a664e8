"""A dead worker's claims are free as soon as another worker can see it is dead: on the same
computer by its PID (a real process, SIGKILLed mid-post), elsewhere by a heartbeat that stopped —
not after the 120 s claim lease."""

from __future__ import annotations

import os
import signal
import time
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, insert, select, update

from posplus_tui.ledger import Ledger
from posplus_tui.ledger.tables.outbox import OutboxRow
from posplus_tui.ledger.tables.reconcile import ReconcileWorkerBeat
from posplus_tui.services.reconcile.events import EventKind, ReconcileEvent
from posplus_tui.services.reconcile.store import ReconcileStore
from posplus_tui.servicetitan import ServiceTitanClient
from posplus_tui.servicetitan.sandbox import Sandbox
from tests.reconcile.conftest import make_worker, unpaid_invoices
from tests.reconcile.ledgerdata import add_approved
from tests.reconcile.test_crash import cli_env, run_cli
from tests.reconcile.test_posting import outbox_state, payments_with


def _claimed(ledger: Ledger) -> int:
    o = OutboxRow.__table__
    with ledger.engine.connect() as conn:
        return conn.execute(select(func.count()).where(o.c.claimed_by.is_not(None))).scalar_one()


async def test_a_killed_workers_claims_are_taken_over_at_once_on_the_same_host(
    ledger: Ledger, sandbox: Sandbox, base_url: str, client: ServiceTitanClient
) -> None:
    rows = [
        add_approved(ledger, invoice_id=i, invoice_number=n, cents=1_200)
        for i, n, _ in unpaid_invoices(sandbox, 6)
    ]
    # the first worker's posts hang, so it is killed holding its claims
    sandbox.faults.slow_next(50, 1.5, method="POST", path_contains="/payments")
    child = run_cli(cli_env(sandbox, base_url, ledger.url), "--batch", "6")
    try:
        deadline = time.monotonic() + 60
        while _claimed(ledger) == 0:
            assert child.poll() is None, child.communicate()
            assert time.monotonic() < deadline, "the first worker never claimed its rows"
            time.sleep(0.05)
        time.sleep(0.3)  # it is posting now
        os.kill(child.pid, signal.SIGKILL)
        child.wait(10)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait(10)
    assert _claimed(ledger) > 0, "the killed worker left no claims: nothing to prove"
    sandbox.faults.clear()
    events: list[ReconcileEvent] = []
    # a second worker on this computer with the default 120 s lease
    worker = make_worker(ledger, client, lease_seconds=120.0, doubt_wait=2.5)
    worker.bus.subscribe(events.append)
    started = time.monotonic()
    await worker.drain_once(deadline=started + 40)
    took = time.monotonic() - started
    for row in rows:
        state, _, err = outbox_state(ledger, row.outbox_id)
        assert state == "verified", (state, err)
        assert len(payments_with(sandbox, row.marker)) == 1, row.marker
    assert took < 40, f"took {took:.0f} s: the claims waited for the lease"
    found = [e.message for e in events if e.kind == EventKind.POSTED and "not posted" in e.message]
    assert all("reply was lost" not in m and "stopped before" in m for m in found), found


def test_claims_of_a_worker_whose_heartbeat_stopped_are_free_elsewhere(
    ledger: Ledger, sandbox: Sandbox
) -> None:
    rows = [
        add_approved(ledger, invoice_id=i, invoice_number=n, cents=500)
        for i, n, _ in unpaid_invoices(sandbox, 4)
    ]
    now = datetime.now(UTC)
    silent = "Counter 9@another-pc:4242:abc123"
    alive = "Counter 8@another-pc:4343:def456"
    o, b = OutboxRow.__table__, ReconcileWorkerBeat.__table__
    with ledger.engine.begin() as conn:
        for row, holder in zip(rows, [silent, silent, alive], strict=False):
            conn.execute(
                update(o)
                .where(o.c.id == row.outbox_id)
                .values(claimed_by=f"{holder}#0", claimed_at=now)
            )
        conn.execute(insert(b).values(worker_id=silent, beat_at=now - timedelta(seconds=20)))
        conn.execute(insert(b).values(worker_id=alive, beat_at=now - timedelta(seconds=2)))
    store = ReconcileStore(ledger.engine, beat_timeout=timedelta(seconds=10))
    me = f"Counter 1@{os.uname().nodename}:{os.getpid()}:ffffff"
    got = store.claim(me, 50, now, now - timedelta(seconds=120))
    taken = {i.outbox_id for i in got}
    # the silent worker's two rows and the free one; the live worker keeps its row
    assert taken == {rows[0].outbox_id, rows[1].outbox_id, rows[3].outbox_id}
    count, _ = store.open_status("someone else", now, now - timedelta(seconds=120))
    assert count == 0  # every open row is now held by a live worker
