"""The audit chain: append-only, each link checked, the first broken link reported."""

from __future__ import annotations

import threading

from sqlalchemy import text

from posplus_tui.ledger import Ledger, open_ledger
from posplus_tui.ledger.audit import append, verify


def _fill(ledger: Ledger, n: int) -> None:
    for i in range(n):
        with ledger.session() as s:
            append(s, "login", actor=f"op{i}", station="Counter 1", details={"i": i})


def test_intact_chain_verifies(ledger: Ledger) -> None:
    _fill(ledger, 5)
    report = verify(ledger.engine)
    assert report.ok and report.events == 5
    assert "intact: 5 events" in report.describe()


def test_rolled_back_event_leaves_no_gap(ledger: Ledger) -> None:
    _fill(ledger, 2)
    try:
        with ledger.session() as s:
            append(s, "refund", actor="x")
            raise RuntimeError("the money change failed")
    except RuntimeError:
        pass
    _fill(ledger, 1)
    assert verify(ledger.engine).ok and verify(ledger.engine).events == 3


def test_edited_event_is_the_first_broken_link(ledger: Ledger) -> None:
    _fill(ledger, 6)
    with ledger.engine.begin() as conn:
        conn.execute(text("UPDATE audit_events SET actor = 'mallory' WHERE seq = 3"))
    report = verify(ledger.engine)
    assert not report.ok and report.first_break is not None
    assert report.first_break.seq == 3
    assert "changed after it was written" in report.describe()


def test_deleted_event_is_reported(ledger: Ledger) -> None:
    _fill(ledger, 6)
    with ledger.engine.begin() as conn:
        conn.execute(text("DELETE FROM audit_events WHERE seq = 4"))
    report = verify(ledger.engine)
    assert report.first_break is not None and report.first_break.seq == 4
    assert "missing" in report.first_break.reason


def test_rehashed_event_still_breaks_the_next_link(ledger: Ledger) -> None:
    """Rewriting one event and its own hash is caught by the next event's prev_hash."""
    _fill(ledger, 4)
    with ledger.engine.begin() as conn:
        conn.execute(text("UPDATE audit_events SET hash = :h WHERE seq = 2"), {"h": "f" * 64})
    report = verify(ledger.engine)
    assert report.first_break is not None and report.first_break.seq == 2


def test_truncated_tail_is_reported(ledger: Ledger) -> None:
    _fill(ledger, 4)
    with ledger.engine.begin() as conn:
        conn.execute(text("DELETE FROM audit_events WHERE seq = 4"))
    report = verify(ledger.engine)
    assert report.first_break is not None and "deleted" in report.first_break.reason


def test_concurrent_stations_never_fork_the_chain(any_url: str) -> None:
    """Four 'stations' (separate engines) append at once; the chain stays one straight line."""
    stations = [open_ledger(any_url) for _ in range(4)]
    errors: list[BaseException] = []

    def work(led: Ledger, name: str) -> None:
        try:
            for i in range(15):
                with led.session() as s:
                    append(s, "sale", actor=name, station=name, details={"i": i})
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(led, f"S{n}")) for n, led in enumerate(stations)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    report = verify(stations[0].engine)
    assert report.ok and report.events == 60
    for led in stations:
        led.dispose()
