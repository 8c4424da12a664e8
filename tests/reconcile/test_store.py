"""The worker's store on a real SQLite file (and PostgreSQL): claims never overlap, the
single-worker lock, history and supervisor actions."""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from posplus_tui.ledger import Ledger, open_ledger
from posplus_tui.services.errors import ServiceError
from posplus_tui.services.reconcile.actions import ActionRefused
from posplus_tui.services.reconcile.store import ReconcileStore
from tests.reconcile.ledgerdata import add_many
from tests.reconcile.test_posting import outbox_state


@pytest.fixture(params=["sqlite", "postgresql"])
def any_ledger(request: pytest.FixtureRequest) -> Iterator[Ledger]:
    fixture = {"sqlite": "migrated_sqlite_url", "postgresql": "migrated_pg_url"}[request.param]
    url = request.getfixturevalue(fixture)
    led = open_ledger(url)
    yield led
    led.dispose()


def test_concurrent_claims_never_hand_a_row_to_two_claimants(any_ledger: Ledger) -> None:
    rows = add_many(any_ledger, [(1000 + i, str(i)) for i in range(300)], cents=100)
    store = ReconcileStore(any_ledger.engine)
    got: list[list[int]] = [[] for _ in range(6)]
    barrier = threading.Barrier(6)

    def claimant(k: int) -> None:
        barrier.wait()
        while True:
            now = datetime.now(UTC)
            items = store.claim(f"w{k}", 7, now, now - timedelta(minutes=5))
            if not items:
                # rows claimed by others are not ours to take; are any left unclaimed?
                status, _ = store.open_status(f"w{k}-probe", now, now - timedelta(minutes=5))
                if status == 0:
                    return
                continue
            got[k].extend(i.outbox_id for i in items)
            time.sleep(0.002)  # a real worker posts between claims; let the others in

    threads = [threading.Thread(target=claimant, args=(k,)) for k in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    counts = Counter(oid for lane in got for oid in lane)
    assert set(counts) == {r.outbox_id for r in rows}
    assert max(counts.values()) == 1
    assert sum(1 for lane in got if lane) >= 2  # the work really was shared


def test_single_worker_lock_is_exclusive_and_taken_over_from_a_dead_process(
    tmp_path: Path,
) -> None:
    led = open_ledger(f"sqlite:///{tmp_path / 'ledger.sqlite3'}")
    store = ReconcileStore(led.engine)
    import socket

    host = socket.gethostname()
    alive = f"Counter 1@{host}:{__import__('os').getpid()}:aaaaaa"
    assert store.acquire_lock(alive, ttl=30) is None
    assert store.acquire_lock(alive, ttl=30) is None  # renewing is fine
    assert store.acquire_lock(f"Counter 2@{host}:1:bbbbbb", ttl=30) == alive
    store.release_lock(alive)
    dead = f"Counter 1@{host}:999999999:cccccc"  # no such process
    assert store.acquire_lock(dead, ttl=30) is None
    assert store.acquire_lock(f"Counter 2@{host}:1:dddddd", ttl=30) is None
    led.dispose()


def test_supervisor_actions_refuse_what_would_be_wrong(ledger: Ledger) -> None:
    store = ReconcileStore(ledger.engine)
    a, b = add_many(ledger, [(11, "11"), (12, "12")], cents=500)
    with pytest.raises(ActionRefused) as info:
        store.cancel(a.outbox_id, "sam", "  ")
    assert "note" in str(info.value)
    assert isinstance(info.value, ServiceError)
    store.cancel(a.outbox_id, "sam", "customer paid cash instead")
    assert outbox_state(ledger, a.outbox_id)[0] == "cancelled"
    with pytest.raises(ActionRefused):
        store.retry_now(a.outbox_id, "sam")
    store.mark_posted_by_hand(b.outbox_id, "sam", "entered in ServiceTitan by Ann")
    state, _, err = outbox_state(ledger, b.outbox_id)
    assert state == "verified" and "by hand" in (err or "")
    with pytest.raises(ActionRefused) as info:
        store.cancel(b.outbox_id, "sam", "oops")
    assert "void or refund" in info.value.fix or "void or refund" in str(info.value)
    kinds = [e.kind.value for e in store.history()]
    assert kinds == ["cancelled", "resolved"]


def test_claims_of_a_killed_worker_on_this_computer_are_released(any_ledger: Ledger) -> None:
    import os
    import socket

    add_many(any_ledger, [(2000 + i, str(i)) for i in range(5)], cents=100)
    store = ReconcileStore(any_ledger.engine)
    host = socket.gethostname()
    now = datetime.now(UTC)
    stale = now - timedelta(minutes=5)
    dead = f"Counter 1@{host}:999999999:abcdef#0"  # no such process
    alive = f"Counter 2@{host}:{os.getpid()}:abcdef#0"
    assert len(store.claim(dead, 3, now, stale)) == 3
    # the dead worker's rows are free at once (its PID is gone), not after the lease
    assert len(store.claim(alive, 5, now, stale)) == 5
    assert store.claim("someone", 5, now, stale) == []  # a live worker holds them all
    assert store.release_dead_claims() == 0
