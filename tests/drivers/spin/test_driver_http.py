"""The SPIn driver against the SPIn simulator over real loopback HTTP, fault by fault."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import replace

import pytest

from drivers import (
    Approved,
    Cancelled,
    Declined,
    NotFound,
    TerminalConnectionError,
    TerminalError,
    TerminalState,
    Unknown,
    open_terminal,
)
from drivers.spin.simulator import SpinSimServer, SpinSimulator, serve_spin
from drivers.spin.terminal import SpinTerminal
from drivers.trace import FrameTrace

FAST = "timeout=2&busy_wait=2&connect_timeout=1"


@pytest.fixture
async def spin() -> AsyncIterator[tuple[SpinTerminal, SpinSimulator, SpinSimServer]]:
    sim = SpinSimulator(proxy_timeout_ms=300, slow_ms=500, busy_delay_s="0.05")
    server = await serve_spin(sim)
    term = open_terminal(f"{server.url}&{FAST}", authkey=sim.authkey)
    assert isinstance(term, SpinTerminal)
    try:
        yield term, sim, server
    finally:
        await term.close()
        await sim.drain()
        await server.close()


Spin = tuple[SpinTerminal, SpinSimulator, SpinSimServer]


async def test_sale_with_progress_and_the_invoice_on_the_wire(spin: Spin) -> None:
    term, sim, _ = spin
    states: list[TerminalState] = []
    result = await term.sale(1234, "P1", invoice="1042", progress=states.append)
    assert isinstance(result, Approved) and result.approved_cents == 1234
    assert states == [TerminalState.SENDING, TerminalState.WAITING_FOR_CARD, TerminalState.DONE]
    assert sim.records["P1"].invoice == "1042" and sim.approvals == [("Sale", "P1", 1234)]


async def test_the_auth_key_never_reaches_the_trace(spin: Spin) -> None:
    _, sim, server = spin
    traces: list[FrameTrace] = []
    term = open_terminal(f"{server.url}&{FAST}", authkey=sim.authkey, trace=traces.append)
    await term.initialize()
    await term.sale(1000, "PT1")
    await term.close()
    assert traces and all(sim.authkey not in t.text for t in traces)


@pytest.mark.parametrize(
    ("fault", "expected"),
    [("decline", Declined), ("partial", Approved), ("cardholder_cancel", Cancelled)],
)
async def test_outcome_faults(spin: Spin, fault: str, expected: type) -> None:
    term, sim, _ = spin
    sim.inject(fault)
    result = await term.sale(2000, "PF1")
    assert isinstance(result, expected)
    if fault == "partial":
        assert isinstance(result, Approved) and result.approved_cents == 1000
    assert type(await term.status("PF1")) is expected


@pytest.mark.parametrize("fault", ["lost_reply", "garbled_reply", "slow_reply"])
async def test_lost_unreadable_or_late_replies_are_unknown_and_status_settles_them(
    spin: Spin, fault: str
) -> None:
    term, sim, _ = spin
    sim.inject(fault)
    result = await term.sale(2500, "PL1")
    assert isinstance(result, Unknown)
    await sim.drain()  # the slow one completes behind the proxy's 2007
    settled = await term.status("PL1")
    assert isinstance(settled, Approved) and settled.approved_cents == 2500
    assert sim.sales_received("PL1") == 1  # never a second Sale


async def test_status_during_the_slow_sale_waits_then_says_unknown(spin: Spin) -> None:
    term, sim, server = spin
    sim.slow_ms = 1000
    sim.inject("slow_reply")
    assert isinstance(await term.sale(2500, "PL2"), Unknown)
    other = open_terminal(f"{server.url}&timeout=2&busy_wait=0.2", authkey=sim.authkey)
    assert isinstance(await other.status("PL2"), Unknown)  # in use (2008), never "not found"
    await other.close()
    sim.slow_ms = 0


async def test_never_answered_is_unknown_then_not_found(spin: Spin) -> None:
    term, _, _ = spin
    term.options = replace(term.options, timeout=0.4)
    result = await term.sale(1011, "PN1")
    assert isinstance(result, Unknown)
    assert await term.status("PN1") == NotFound("PN1")


async def test_terminal_busy_waits_and_sends_the_same_reference(spin: Spin) -> None:
    term, sim, _ = spin
    sim.inject("terminal_busy", 3)
    result = await term.sale(3000, "PB1")
    assert isinstance(result, Approved)
    assert sim.sales_received("PB1") == 4 and sim.approved_sales("PB1") == [3000]


async def test_busy_for_too_long_is_not_sent_once_status_says_not_found(spin: Spin) -> None:
    term, sim, _ = spin
    term.options = replace(term.options, busy_wait=0.3)
    sim.inject("terminal_busy", 1000)
    result = await term.sale(3000, "PB2")
    sim.clear_faults()
    assert isinstance(result, Unknown | TerminalError)  # status was busy too: never "declined"
    assert sim.approved_sales("PB2") == []


async def test_duplicate_reference_is_settled_by_status(spin: Spin) -> None:
    term, sim, _ = spin
    sim.inject("duplicate_reference")
    result = await term.sale(4000, "PD1")
    assert isinstance(result, Approved) and result.approved_cents == 4000
    again = await term.sale(4000, "PD1")  # a real reuse: the terminal's record, not a 2nd charge
    assert isinstance(again, Approved) and sim.approved_sales("PD1") == [4000]


async def test_wrong_auth_key_and_offline_are_not_sent(spin: Spin) -> None:
    term, sim, server = spin
    wrong = open_terminal(f"{server.url}&{FAST}", authkey="WRONGKEY00")
    result = await wrong.sale(1000, "PW1")
    assert isinstance(result, TerminalError) and result.code == "NOT_SENT"
    assert "AuthKey" in result.message
    with pytest.raises(TerminalConnectionError, match="not known"):
        await wrong.initialize()
    await wrong.close()
    sim.inject("wrong_authkey")
    assert isinstance(await term.sale(1000, "PW2"), TerminalError)
    sim.inject("offline", 2)
    with pytest.raises(TerminalConnectionError, match="offline"):
        await term.initialize()
    offline = await term.sale(1000, "PW3")
    assert isinstance(offline, TerminalError) and offline.code == "NOT_SENT"
    assert sim.approvals == []


async def test_nobody_listening_is_not_sent() -> None:
    term = open_terminal("spin+http://127.0.0.1:1?tpn=Z1&connect_timeout=1", authkey="K3yK3yK3yK")
    result = await term.sale(1000, "PU1")
    assert isinstance(result, TerminalError) and result.code == "NOT_SENT"
    await term.close()


async def test_cancel_aborts_only_the_request_in_flight(spin: Spin) -> None:
    term, sim, _ = spin
    await term.cancel()  # nothing in flight: nothing sent
    assert not any(path == "AbortTransaction" for path, _ in sim.received)
    sim.card_wait_ms = 3000
    sale = asyncio.ensure_future(term.sale(1000, "PC1"))
    await asyncio.sleep(0)  # the sale is leaving; the abort is asked again until it lands
    await term.cancel()
    assert isinstance(await asyncio.wait_for(sale, 3), Cancelled)
    assert [r for p, r in sim.received if p == "AbortTransaction"][-1] == "PC1"


async def test_void_refund_and_batch_close(spin: Spin) -> None:
    term, sim, _ = spin
    a = await term.sale(1000, "PV1")
    b = await term.sale(2000, "PV2")
    assert isinstance(a, Approved) and isinstance(b, Approved)
    voided = await term.void("PV3", a.host_ref)
    assert isinstance(voided, Approved) and voided.approved_cents == 1000
    assert isinstance(await term.status("PV3"), Approved)  # the void's own reference
    twice = await term.void("PV4", a.host_ref)
    assert isinstance(twice, TerminalError) and "voided" in twice.message
    refund = await term.refund(500, "PV5", b.host_ref)
    assert isinstance(refund, Approved) and refund.approved_cents == 500
    closed = await term.batch_close()
    assert (closed.count, closed.total_cents, closed.totals_known) == (2, 1500, True)  # type: ignore[union-attr]
    late = await term.void("PV6", b.host_ref)
    assert isinstance(late, TerminalError)
    assert sim.approvals == [
        ("Sale", "PV1", 1000),
        ("Sale", "PV2", 2000),
        ("Void", "PV1", 1000),
        ("Return", "PV5", 500),
    ]


async def test_card_on_file_keyed_and_ach_are_flags_not_requests(spin: Spin) -> None:
    from drivers import AchAccount

    term, sim, _ = spin
    assert not term.capabilities.card_on_file
    for result in (
        await term.sale_with_token(100, "PX1", "TK1"),
        await term.ach_sale(100, "PX2", AchAccount("021000021", "123456789")),
        await term.sale(100, "PX3", keyed=True),
    ):
        assert isinstance(result, TerminalError) and result.code == "NOT_SUPPORTED"
    assert sim.received == []


async def test_a_void_kept_busy_is_never_read_as_its_sale(spin: Spin) -> None:
    """A void has no reference of its own: when it must be settled by status, the original's
    Voided flag decides — the original's approval is not the void's."""
    term, sim, _ = spin
    assert isinstance(await term.sale(1500, "PVB1"), Approved)
    term.options = replace(term.options, busy_wait=0.2)
    sim.inject("terminal_busy", 1000)
    result = await term.void("PVB2", "PVB1")
    sim.clear_faults()
    assert isinstance(result, TerminalError) and result.code == "NOT_SENT"
    assert ("Void", "PVB1", 1500) not in sim.approvals
    assert await term.status("PVB2") == NotFound("PVB2")


async def test_a_base_path_is_kept_as_the_cloud_proxy_needs(spin: Spin) -> None:
    """Cloud URLs carry a path (``https://test.spinpos.net/spin``): requests go under it."""
    _, sim, server = spin
    paths: list[str] = []
    options = replace(
        open_terminal(server.url, authkey=sim.authkey).options,  # type: ignore[attr-defined]
        base_url=f"http://127.0.0.1:{server.address[1]}/spin",
    )
    term = SpinTerminal("spin+https://example/spin?tpn=x", options, sim.authkey, None)
    original = sim.handle

    async def spy(method: str, path: str, query: str, body: bytes):  # type: ignore[no-untyped-def]
        paths.append(path)
        return await original(method, path, query, body)

    sim.handle = spy  # type: ignore[method-assign]
    assert isinstance(await term.sale(1000, "PCLOUD1"), Approved)
    await term.close()
    assert paths == ["/spin/v2/Payment/Sale"]
