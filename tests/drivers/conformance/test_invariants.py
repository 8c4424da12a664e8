"""The money invariants, for every driver, under any mix of its simulator's faults: a sale reaches
the terminal at most once; what the driver reports agrees with the terminal's own books; an
*unknown* is settled by status, and status agrees with what the terminal recorded."""

from __future__ import annotations

import asyncio

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from drivers import Approved, Cancelled, Declined, NotFound, TerminalError, Unknown
from drivers.simulator.faults import FAULTS as POSLINK_FAULTS
from drivers.spin.simulator.faults import FAULTS as SPIN_FAULTS
from tests.drivers.conformance.conftest import open_harness

FAULTS = {"poslink-sim": POSLINK_FAULTS, "spin-http": SPIN_FAULTS}
CENTS = st.sampled_from([0, 1, 5, 7, 9, 11, 33])


async def _one_sale(kind: str, armed: dict[str, int], amount: int) -> None:
    async with open_harness(kind, slow_ms=150, timeout=0.3) as h:
        for name, count in armed.items():
            h.inject(name, count)
        result = await h.term.sale(amount, "PINV1")
        h.clear_faults()
        await asyncio.sleep(0.2)  # a slow terminal finishes what it accepted
        await h.settle_down()
        status = await h.term.status("PINV1")
        approved = h.approved_sales("PINV1")
        assert h.sales_reached("PINV1") <= 1 + armed.get("terminal_busy", 0), "sale sent again"
        assert len(approved) <= 1, "two approvals for one reference"
        if isinstance(result, Approved):
            assert approved == [result.approved_cents] and result.approved_cents <= amount
            assert isinstance(status, Approved) and status.approved_cents == result.approved_cents
        elif isinstance(result, Declined | Cancelled):
            assert approved == [] and type(status) is type(result)
        elif isinstance(result, TerminalError):
            assert approved == [] and isinstance(status, NotFound)
        else:
            assert isinstance(result, Unknown)
            # status tells the truth the terminal recorded; never "not found" for an approval
            if approved:
                assert isinstance(status, Approved) and status.approved_cents == approved[0]
            else:
                assert not isinstance(status, Approved)


@pytest.mark.parametrize("kind", sorted(FAULTS))
def test_any_fault_mix_never_double_charges_and_status_agrees(kind: str) -> None:
    faults = st.dictionaries(st.sampled_from(sorted(FAULTS[kind])), st.integers(1, 3), max_size=3)

    @given(faults, CENTS)
    @settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    def run(armed: dict[str, int], cents_part: int) -> None:
        asyncio.run(_one_sale(kind, armed, 1000 + cents_part))

    run()
