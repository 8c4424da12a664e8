"""Property: whatever goes wrong on the line, a sale reaches the terminal at most once, and what the
driver reports agrees with what the terminal recorded (``status`` settles every ``Unknown``)."""

from __future__ import annotations

import asyncio

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from drivers import Approved, Cancelled, Declined, NotFound, TerminalError, Unknown
from drivers.poslink.terminal import PosLinkTerminal
from drivers.registry import parse_url
from drivers.simulator import FAULTS, Simulator
from drivers.simulator.servers import InProcessConnector

faults = st.dictionaries(st.sampled_from(sorted(FAULTS)), st.integers(1, 5), max_size=3)
cents = st.sampled_from([0, 1, 2, 5, 7, 9, 11, 33])


async def _one_sale(armed: dict[str, int], amount: int) -> None:
    sim = Simulator(slow_ms=150)
    _, cfg = parse_url("sim://?timeout=0.3&ack_timeout=0.2")
    term = PosLinkTerminal("sim://", InProcessConnector(sim), cfg["options"])  # type: ignore[arg-type]
    for name, count in armed.items():
        sim.inject(name, count)
    result = await term.sale(amount, "PPROP1")
    sim.clear_faults()
    await asyncio.sleep(0.2)  # let a slow terminal finish what it accepted
    status = await term.status("PPROP1")
    await term.close()

    assert len(sim.accepted("PPROP1")) <= 1, "the sale reached the terminal twice"
    record = sim.records.get("PPROP1")
    if isinstance(result, Approved):
        assert record is not None and record.approved and isinstance(status, Approved)
        assert status.approved_cents == result.approved_cents
    elif isinstance(result, Declined):
        assert isinstance(status, Declined)
    elif isinstance(result, Cancelled):
        assert isinstance(status, Cancelled)
    elif isinstance(result, TerminalError):
        assert result.code == "NOT_SENT" and isinstance(status, NotFound) and record is None
    else:
        assert isinstance(result, Unknown)
        assert isinstance(status, Approved | Declined | Cancelled | NotFound)
        assert isinstance(status, NotFound) == (record is None)


@given(faults, cents)
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_any_fault_mix_never_double_charges_and_status_agrees(
    armed: dict[str, int], cents_part: int
) -> None:
    asyncio.run(_one_sale(armed, 1000 + cents_part))


async def _sales_on_one_serial_line(plan: list[tuple[dict[str, int], int]]) -> None:
    """Several sales in a row on one pty line, each with its own faults: late replies, stray
    bytes and leftovers of one exchange must never leak into the next one's result."""
    from drivers import open_terminal
    from drivers.simulator.pty import serve_pty

    sim = Simulator(slow_ms=400)  # later than the 0.3 s time-out: late replies
    server = await serve_pty(sim, 115200)
    term = open_terminal(f"{server.url}&timeout=0.3&ack_timeout=0.2")
    try:
        outcomes = []
        for i, (armed, cents_part) in enumerate(plan):
            for name, count in armed.items():
                sim.inject(name, count)
            ref = f"PSER{i}"
            outcomes.append((ref, await term.sale(1000 + cents_part, ref)))
            sim.clear_faults()
        await asyncio.sleep(0.5)
        for ref, result in outcomes:
            assert len(sim.accepted(ref)) <= 1
            status = await term.status(ref)
            record = sim.records.get(ref)
            if isinstance(result, Approved):
                assert (
                    isinstance(status, Approved) and status.approved_cents == result.approved_cents
                )
                assert result.ecr_ref == ref
            elif isinstance(result, Declined | Cancelled):
                assert type(status) is type(result)
            elif isinstance(result, TerminalError):
                assert result.code == "NOT_SENT" and record is None
            else:
                assert isinstance(status, NotFound) == (record is None)
    finally:
        await term.close()
        await server.close()


@given(st.lists(st.tuples(faults, cents), min_size=2, max_size=4))
@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_fault_mixes_on_one_serial_line_never_leak_between_sales(
    plan: list[tuple[dict[str, int], int]],
) -> None:
    asyncio.run(_sales_on_one_serial_line(plan))
