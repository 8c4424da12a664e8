"""Stateful property tests: random scripts of the hostile SPIn server (``spin_hostile.py``, written
apart from the simulator and the codec) against the real driver over loopback HTTP. Invariants,
about money:

1. never two sales for one ReferenceId: after any answer other than "busy", the driver never sends
   that ReferenceId's Sale again, and the server never processes one twice;
2. approved on screen only if the server approved that ReferenceId for that amount;
3. unknown is never shown as declined (or cancelled): those only when the server's books say so;
4. status tells the books' truth: approved for the approved amount, not found only when nothing
   happened.
"""

from __future__ import annotations

import asyncio
import itertools
import os
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from drivers import Approved, Cancelled, Declined, NotFound, Terminal, open_terminal
from tests.drivers.spin_hostile import KEY, HostileSpin, Plan, hostile_spin

QUERY = "timeout=0.4&busy_wait=0.3&connect_timeout=1"

plans = st.builds(
    Plan,
    busy=st.sampled_from([0, 0, 0, 1, 2]),
    delay=st.sampled_from(["0.01", "0.01", "", "abc", "-1", "0"]),
    outcome=st.sampled_from(["approve", "approve", "partial", "decline", "cancel", "none"]),
    reply=st.sampled_from(
        [
            *("normal", "normal", "normal", "duplicate", "timeout", "drop", "hang", "garbage"),
            *("cut", "http500", "empty"),
        ]
    ),
    ref=st.sampled_from(["own", "own", "own", "other", "missing"]),
    amount=st.sampled_from(["exact", "exact", "more", "fraction", "text", "missing", "float"]),
    result_code=st.sampled_from(["0", "0", "Ok", "int", "1"]),
    host_code=st.sampled_from(["00", "00", "05", ""]),
    duplicate_keys=st.sampled_from([False, False, False, True]),
    status_busy=st.sampled_from([0, 0, 1]),
    says=st.sampled_from(["", "", "approved", "declined", "cancelled"]),
)


class HostileSpinMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.loop = asyncio.new_event_loop()
        self.server = HostileSpin()
        self.refs = (f"PH{i:05d}" for i in itertools.count())
        self.shown: dict[str, Any] = {}
        self.voids: dict[str, str] = {}  # void ref → the original it named
        self._cm: Any = hostile_spin(self.server)
        url = self.run(self._cm.__aenter__())
        self.driver: Terminal = open_terminal(f"{url}&{QUERY}", authkey=KEY)

    def run(self, coro: Any) -> Any:
        return self.loop.run_until_complete(coro)

    def check_shown(self, ref: str, cents: int, result: object) -> None:
        book = self.server.books.get(ref)
        if isinstance(result, Approved):  # (2)
            assert result.ecr_ref == ref
            assert (ref, result.approved_cents) in self.server.approvals, (
                f"{ref}: shown {result} but the server approved no such thing"
            )
            assert result.approved_cents <= cents
        if isinstance(result, Declined):  # (3)
            assert book is not None and book.kind == "declined", f"{ref}: {result} but {book}"
        if isinstance(result, Cancelled):
            assert book is not None and book.kind == "cancelled", f"{ref}: {result} but {book}"

    @rule(plan=plans, cents=st.integers(100, 50000))
    def sale(self, plan: Plan, cents: int) -> None:
        ref = next(self.refs)
        self.server.plans = [plan]
        result = self.run(self.driver.sale(cents, ref))
        self.shown[ref] = result
        self.check_shown(ref, cents, result)

    @rule(plan=plans, data=st.data())
    def void(self, plan: Plan, data: st.DataObject) -> None:
        """Void a sale the driver showed approved; shown voided only if the server voided it."""
        approved = sorted(r for r, res in self.shown.items() if isinstance(res, Approved))
        if not approved:
            return
        original = data.draw(st.sampled_from(approved))
        void_ref = next(self.refs)
        self.server.plans = [plan]
        result = self.run(self.driver.void(void_ref, original))
        self.voids[void_ref] = original
        if isinstance(result, Approved):
            assert original in self.server.voided, f"{void_ref}: shown voided, server did not"
            assert result.ecr_ref == void_ref
        if isinstance(result, Declined | Cancelled):
            assert original not in self.server.voided

    @rule(data=st.data())
    def status(self, data: st.DataObject) -> None:
        if not self.shown:
            return
        self.status_of(data.draw(st.sampled_from(sorted({*self.shown, *self.voids}))))

    def status_of(self, ref: str) -> None:
        result = self.run(self.driver.status(ref))
        if ref in self.voids:  # a void's status is the original's Voided flag
            original = self.voids[ref]
            if isinstance(result, Approved):
                assert original in self.server.voided, f"{ref}: status says voided, it is not"
            if isinstance(result, NotFound):
                assert original not in self.server.voided, f"{ref}: voided, status says not found"
            return
        book = self.server.books.get(ref)
        if isinstance(result, Approved):  # (4)
            assert book is not None and book.kind == "approved"
            assert result.approved_cents == book.cents
        if isinstance(result, NotFound):
            assert book is None, f"{ref}: status said not found but the books hold {book}"
        if isinstance(result, Declined | Cancelled):
            assert book is not None and book.kind != "approved"

    @invariant()
    def never_two_sales_for_one_reference(self) -> None:  # (1)
        assert not +self.server.resent, f"sent again after an answer: {dict(self.server.resent)}"
        assert all(n <= 1 for n in self.server.processed.values())

    def teardown(self) -> None:
        try:
            self.run(self.driver.close())
            self.run(self._cm.__aexit__(None, None, None))
        finally:
            self.loop.close()


TestHostileSpin = HostileSpinMachine.TestCase
TestHostileSpin.settings = settings(
    max_examples=int(os.environ.get("HOSTILE_EXAMPLES", "12")),  # 100 for a longer hunt
    stateful_step_count=5,
    deadline=None,
    phases=[Phase.explicit, Phase.reuse, Phase.generate],
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)


LYING = [
    Plan(ref="missing", says="declined"),
    Plan(ref="missing", says="cancelled", outcome="none"),
    Plan(ref="missing", says="approved", outcome="decline"),
    Plan(ref="other", says="approved", outcome="none"),
    Plan(reply="cut", outcome="decline"),
    Plan(busy=2, delay="abc", reply="timeout"),
]


@pytest.mark.parametrize("plan", LYING, ids=[str(i) for i in range(len(LYING))])
def test_pinned_scripts(plan: Plan) -> None:
    """Scripts that break a lax driver (one that believes a decline naming no reference, say);
    the random walk reaches them only now and then."""
    machine = HostileSpinMachine()
    try:
        machine.sale(plan, 1000)
        machine.status_of("PH00000")
        machine.never_two_sales_for_one_reference()
    finally:
        machine.teardown()


VOID_SCRIPTS = [
    Plan(busy=2, delay="abc"),  # busy past busy_wait: settled by status, through the original
    Plan(reply="drop"),
    Plan(outcome="none", reply="timeout"),
    Plan(ref="other"),
]


@pytest.mark.parametrize("plan", VOID_SCRIPTS, ids=[str(i) for i in range(len(VOID_SCRIPTS))])
def test_pinned_void_scripts(plan: Plan) -> None:
    """A void that must be settled by status is read through its original's Voided flag (a
    driver that read the original's approval as the void's fails the first)."""
    machine = HostileSpinMachine()
    try:
        machine.sale(Plan(), 2000)
        machine.void(plan, _First())
        machine.status_of("PH00001")
        machine.never_two_sales_for_one_reference()
    finally:
        machine.teardown()


class _First:
    """Hypothesis's ``data`` for a pinned script: draws the first choice."""

    def draw(self, strategy: st.SearchStrategy[Any]) -> Any:
        return sorted(strategy.elements)[0]  # type: ignore[attr-defined]
