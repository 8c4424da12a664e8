"""Stateful property tests: random scripts of the hostile terminal (``hostile.py``, written apart
from the simulator) against the real driver, on loopback TCP and on a real pty. Three invariants,
about money:

1. a sale is reported approved only with an approval the script sent for that ECR reference and
   that amount (and its auth code: never another sale's);
2. no sale reaches the line twice unless the terminal NAKed it;
3. after any script, a fresh sale on the same connection reads correctly.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import sys
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from drivers import Approved, Terminal, open_terminal
from tests.drivers.hostile import HostileTerminal, Plan, hostile_pty, hostile_tcp

QUERY = "timeout=0.5&ack_timeout=0.2&eot_timeout=0.15&byte_timeout=0.08"

plans = st.builds(
    Plan,
    naks=st.sampled_from([0, 0, 0, 1, 4]),
    first=st.sampled_from(["ack", "ack", "ack", "ack", "silent", "echo", "eot"]),
    garbage=st.sampled_from(
        [b"", b"", b"\x30\x31 garbage \x7f", bytes(range(0x20, 0x7F)) * 20, b"\x02half"]
    ),
    late=st.sampled_from(["", "", "resend", "late"]),
    status_frames=st.sampled_from([0, 0, 2, 40]),
    reply=st.sampled_from(["approve", "approve", "partial", "decline", "none", "truncated"]),
    ref=st.sampled_from(["own", "own", "empty", "other"]),
    amount=st.sampled_from(["exact", "exact", "missing", "decimal", "more"]),
    drop_fields=st.booleans(),
    resend_reply=st.sampled_from([0, 0, 1, 2]),
    eot=st.booleans(),
    delay=st.sampled_from([0.0, 0.0, 0.05]),
)


class HostileLine(RuleBasedStateMachine):
    line = "tcp"

    def __init__(self) -> None:
        super().__init__()
        self.loop = asyncio.new_event_loop()
        self.term = HostileTerminal()
        self.refs = (f"PH{i:05d}" for i in itertools.count())
        self.sales: dict[str, int] = {}
        opener = hostile_tcp if self.line == "tcp" else hostile_pty
        self._cm: Any = opener(self.term)
        address = self.run(self._cm.__aenter__())
        if self.line == "tcp":
            url = f"poslink+tcp://{address[0]}:{address[1]}?{QUERY}"
        else:
            url = f"poslink+serial://{address[0]}?baud=115200&{QUERY}"
        self.driver: Terminal = open_terminal(url)

    def run(self, coro: Any) -> Any:
        return self.loop.run_until_complete(coro)

    async def _settle(self) -> None:
        """Let the script play out (a reaction still running, bytes still in flight)."""
        for _ in range(200):
            if self.term.idle:
                break
            await asyncio.sleep(0.02)
        await asyncio.sleep(0.05)

    def check_approval(self, ref: str, cents: int, result: object) -> None:
        if isinstance(result, Approved):
            assert result.ecr_ref == ref
            assert (ref, result.approved_cents, result.auth_code) in self.term.approvals, (
                f"{ref}: reported {result} but the terminal sent no such approval"
            )
            assert result.approved_cents <= cents

    @rule(plan=plans, cents=st.integers(100, 5000))
    def scripted_sale(self, plan: Plan, cents: int) -> None:
        ref = next(self.refs)
        self.term.plans = [plan]
        result = self.run(self.driver.sale(cents, ref))
        self.sales[ref] = cents
        self.check_approval(ref, cents, result)  # (1)
        self.run(self._settle())
        fresh = next(self.refs)
        self.term.plans = []
        again = self.run(self.driver.sale(cents + 1, fresh))
        self.sales[fresh] = cents + 1
        assert isinstance(again, Approved), f"after {plan}: a clean sale read as {again}"  # (3)
        assert again.approved_cents == cents + 1 and again.requested_cents == cents + 1
        self.check_approval(fresh, cents + 1, again)

    @invariant()
    def each_sale_reached_the_line_once_unless_nakked(self) -> None:  # (2)
        for ref in self.sales:
            assert self.term.requests[ref] <= 1 + self.term.naks_sent[ref], ref

    def teardown(self) -> None:
        try:
            self.run(self.driver.close())
            self.run(self._cm.__aexit__(None, None, None))
        finally:
            self.loop.close()


class HostileTcp(HostileLine):
    line = "tcp"


class HostilePty(HostileLine):
    line = "pty"


SETTINGS = settings(
    max_examples=int(os.environ.get("HOSTILE_EXAMPLES", "8")),  # 60 for a longer hunt
    stateful_step_count=3,
    deadline=None,
    # no shrinking: each step runs real time-outs, and a failure prints its whole script anyway
    phases=[Phase.explicit, Phase.reuse, Phase.generate],
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)

TestHostileTcp = HostileTcp.TestCase
TestHostileTcp.settings = SETTINGS
TestHostilePty = pytest.mark.skipif(sys.platform == "win32", reason="pty pairs are POSIX-only")(
    HostilePty.TestCase
)
TestHostilePty.settings = SETTINGS
