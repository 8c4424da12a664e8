"""Lockout is atomic and uses one clock; an unknown name costs the same and answers the same.

40 sign-ins at once (threads, each with its own connection) against one operator on a real SQLite
file and on real PostgreSQL: the lock is checked and counted under one row lock, so exactly
four wrong PINs are answered as wrong, the fifth locks, and the right PIN is refused after.
"""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import pytest

from posplus_tui.ledger import Ledger
from posplus_tui.ledger.audit import verify
from posplus_tui.services import operator_sign_in as sign_in_module
from posplus_tui.services.errors import OperatorLocked, SignInFailed
from posplus_tui.services.operators import MAX_PIN_ATTEMPTS, OperatorService
from tests.services.conftest import FAST_PIN_COST, Clock, Staff

PARALLEL = 40


def _race(ops: OperatorService, pins: list[str]) -> list[str]:
    barrier = threading.Barrier(len(pins))

    def one(pin: str) -> str:
        barrier.wait()
        try:
            ops.sign_in_sync("Carl Clerk", pin)
        except OperatorLocked:
            return "locked"
        except SignInFailed:
            return "wrong"
        return "accepted"

    with ThreadPoolExecutor(len(pins)) as pool:
        return list(pool.map(one, pins))


def test_forty_parallel_wrong_pins_count_exactly_five(
    ledger: Ledger, operators: OperatorService, staff: Staff
) -> None:
    answers = _race(operators, ["0000"] * PARALLEL)
    assert answers.count("wrong") == MAX_PIN_ATTEMPTS - 1
    assert answers.count("locked") == PARALLEL - (MAX_PIN_ATTEMPTS - 1)
    with pytest.raises(OperatorLocked):
        operators.sign_in_sync("Carl Clerk", "3333")  # the right PIN, after the lock
    assert verify(ledger.engine).ok


def test_the_right_pin_in_a_parallel_guess_storm_never_gets_past_the_lock(
    ledger: Ledger, operators: OperatorService, staff: Staff
) -> None:
    """39 wrong and the right PIN at once. Serialised, each answer follows from those before it:
    wrong answers come in fours between locks, and the right PIN is accepted only if it came
    before the fifth wrong one (then it resets the count)."""
    pins = ["0000"] * (PARALLEL - 1) + ["3333"]
    answers = _race(operators, pins)
    accepted = answers.count("accepted")
    assert accepted <= 1
    assert answers.count("wrong") <= (MAX_PIN_ATTEMPTS - 1) * (1 + accepted)
    assert answers.count("locked") >= PARALLEL - 2 * MAX_PIN_ATTEMPTS
    with pytest.raises(OperatorLocked):
        operators.sign_in_sync("Carl Clerk", "3333")


def test_a_station_with_a_fast_clock_still_sees_the_lock(
    pg_url: str, staff_pg: tuple[Ledger, Staff]
) -> None:
    """Two stations share a PostgreSQL ledger; Counter 2's clock is 6 minutes ahead. The lock
    Counter 1 set is counted in the database server's time, so Counter 2 honours it."""
    ledger, _staff = staff_pg
    here = OperatorService(ledger, station="Counter 1", pin_cost=FAST_PIN_COST)
    ahead = Clock(now=datetime.now(UTC) + timedelta(minutes=6))
    there = OperatorService(ledger, station="Counter 2", pin_cost=FAST_PIN_COST, clock=ahead)
    for _ in range(MAX_PIN_ATTEMPTS - 1):
        with pytest.raises(SignInFailed):
            here.sign_in_sync("Carl Clerk", "0000")
    with pytest.raises(OperatorLocked):
        here.sign_in_sync("Carl Clerk", "0000")
    with pytest.raises(OperatorLocked):
        there.sign_in_sync("Carl Clerk", "3333")


@pytest.fixture
def staff_pg(pg_url: str):  # type: ignore[no-untyped-def]
    from posplus_tui.ledger import open_ledger

    ledger = open_ledger(pg_url)
    ops = OperatorService(ledger, station="Counter 1", pin_cost=FAST_PIN_COST)
    admin = ops.add_sync("Alice Admin", "admin", "1111")
    clerk = ops.add_sync("Carl Clerk", "clerk", "3333", by=admin)
    yield ledger, Staff(admin, admin, clerk, admin)
    ledger.dispose()


def test_an_unknown_name_answers_like_a_wrong_pin_and_costs_a_scrypt(
    ledger: Ledger, operators: OperatorService, staff: Staff, monkeypatch: pytest.MonkeyPatch
) -> None:
    checked: list[str] = []
    real = sign_in_module.verify_pin

    def counting(pin: str, stored: str) -> bool:
        checked.append(stored)
        return real(pin, stored)

    monkeypatch.setattr(sign_in_module, "verify_pin", counting)
    with pytest.raises(SignInFailed) as unknown:
        operators.sign_in_sync("Nobody Here", "0000")
    with pytest.raises(SignInFailed) as wrong:
        operators.sign_in_sync("Carl Clerk", "0000")
    assert (unknown.value.message, unknown.value.fix) == (wrong.value.message, wrong.value.fix)
    assert unknown.value.attempts_left == wrong.value.attempts_left
    assert len(checked) == 2 and all(h.startswith(f"scrypt${FAST_PIN_COST}$") for h in checked)


def test_an_unknown_name_takes_as_long_as_a_known_one(ledger: Ledger, staff: Staff) -> None:
    """With the real work factor the PIN check dominates: timed, loosely (a shared machine)."""
    ops = OperatorService(ledger, station="Counter 1", pin_cost=2**13)
    admin_pin = ops.add_sync("Kim Known", "clerk", "1234", by=staff.admin)
    assert admin_pin.name == "Kim Known"

    def once(name: str) -> float:
        start = time.perf_counter()
        with pytest.raises(SignInFailed):
            ops.sign_in_sync(name, "0000")
        return time.perf_counter() - start

    # interleaved, best of four each: a busy neighbour slows both alike
    runs = [(once("Kim Known"), once("Not A Person")) for _ in range(4)]
    known, unknown = min(k for k, _ in runs), min(u for _, u in runs)
    assert unknown > known * 0.5, (known, unknown)
