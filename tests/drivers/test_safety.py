"""Money safety and cancel scope, over a real loopback TCP socket and the in-process line."""

from __future__ import annotations

import asyncio

from drivers import Approved, Cancelled, Declined, NotFound, TerminalError, Unknown, open_terminal
from drivers.simulator import Simulator
from drivers.trace import FrameTrace


def _frames_sent(traces: list[FrameTrace], command: str) -> int:
    return sum(
        1
        for t in traces
        if t.direction == "tx" and t.kind == "frame" and f"<STX>{command}" in t.text
    )


async def test_nak_resends_the_same_frame_only_before_the_ack(sim: Simulator, tcp_server) -> None:
    traces: list[FrameTrace] = []
    term = open_terminal(f"{tcp_server.url}?timeout=2&ack_timeout=1", trace=traces.append)
    sim.inject("nak_storm", 2)
    result = await term.sale(1000, "PS1")
    assert isinstance(result, Approved)
    assert _frames_sent(traces, "T00") == 3  # sent, NAK, resent, NAK, resent, ACK
    assert len(sim.accepted("PS1")) == 1 and len(sim.records) == 1
    await term.close()


async def test_nak_storm_beyond_the_retries_is_not_sent_and_nothing_charged(
    sim: Simulator, tcp_server
) -> None:
    traces: list[FrameTrace] = []
    term = open_terminal(f"{tcp_server.url}?timeout=2&ack_timeout=1", trace=traces.append)
    sim.inject("nak_storm", 10)
    result = await term.sale(1000, "PS2")
    assert isinstance(result, TerminalError) and result.code == "NOT_SENT"
    assert _frames_sent(traces, "T00") == 4  # the first send and 3 resends, no more
    assert any(t.kind == "eot" and t.direction == "tx" for t in traces)
    sim.clear_faults()
    assert await term.status("PS2") == NotFound("PS2")
    await term.close()


async def test_after_the_ack_a_lost_reply_is_never_resent(sim: Simulator, tcp_server) -> None:
    traces: list[FrameTrace] = []
    term = open_terminal(f"{tcp_server.url}?timeout=1&ack_timeout=1", trace=traces.append)
    sim.inject("lost_reply")
    result = await term.sale(4321, "PS3")
    assert isinstance(result, Unknown)
    assert _frames_sent(traces, "T00") == 1
    settled = await term.status("PS3")
    assert isinstance(settled, Approved) and settled.approved_cents == 4321
    assert _frames_sent(traces, "T00") == 1 and len(sim.accepted("PS3")) == 1
    await term.close()


async def test_no_ack_is_unknown_never_a_resend(sim: Simulator, tcp_server) -> None:
    traces: list[FrameTrace] = []
    term = open_terminal(f"{tcp_server.url}?timeout=1&ack_timeout=0.3", trace=traces.append)
    sim.inject("no_ack")
    result = await term.sale(1000, "PS4")
    assert isinstance(result, Unknown)
    assert _frames_sent(traces, "T00") == 1
    assert await term.status("PS4") == NotFound("PS4")
    await term.close()


async def test_cancel_ends_the_in_flight_sale(sim: Simulator, tcp_server) -> None:
    sim.card_wait_ms = 5000
    term = open_terminal(f"{tcp_server.url}?timeout=10&ack_timeout=1")
    task = asyncio.ensure_future(term.sale(1000, "PX1"))
    while "PX1" not in sim._in_flight:
        await asyncio.sleep(0.01)
    await term.cancel()
    result = await asyncio.wait_for(task, 3)
    assert isinstance(result, Cancelled)
    assert isinstance(await term.status("PX1"), Cancelled)
    await term.close()


async def test_cancel_never_touches_another_transaction(sim: Simulator, tcp_server) -> None:
    """Register A has nothing in flight; register B is mid-sale on the same terminal. A's cancel
    sends nothing, and B's sale completes; a finished sale is not affected by a later cancel."""
    sim.card_wait_ms = 300
    a_traces: list[FrameTrace] = []
    a = open_terminal(f"{tcp_server.url}?timeout=5", trace=a_traces.append)
    b = open_terminal(f"{tcp_server.url}?timeout=5")
    done = await a.sale(1000, "PA1")
    assert isinstance(done, Approved)
    b_sale = asyncio.ensure_future(b.sale(2000, "PB1"))
    while "PB1" not in sim._in_flight:
        await asyncio.sleep(0.01)
    before = len(a_traces)
    await a.cancel()
    assert len(a_traces) == before  # nothing went on the line
    assert isinstance(await asyncio.wait_for(b_sale, 3), Approved)
    assert isinstance(await a.status("PA1"), Approved)
    await a.close()
    await b.close()


async def test_cancel_carries_the_reference_so_the_terminal_spares_others(
    sim: Simulator, tcp_server
) -> None:
    """Two registers both mid-sale: A's cancel names A's request; B's sale is approved."""
    sim.card_wait_ms = 600
    a = open_terminal(f"{tcp_server.url}?timeout=5")
    b = open_terminal(f"{tcp_server.url}?timeout=5")
    a_sale = asyncio.ensure_future(a.sale(1000, "PA2"))
    b_sale = asyncio.ensure_future(b.sale(2000, "PB2"))
    while not {"PA2", "PB2"} <= set(sim._in_flight):
        await asyncio.sleep(0.01)
    await a.cancel()
    assert isinstance(await asyncio.wait_for(a_sale, 3), Cancelled)
    assert isinstance(await asyncio.wait_for(b_sale, 3), Approved)
    await a.close()
    await b.close()


async def test_status_while_in_progress_is_unknown_not_not_found() -> None:
    term = open_terminal("sim://?card_wait_ms=400&timeout=3")
    other = open_terminal("sim://?timeout=3")
    other.connector.sim = term.simulator  # type: ignore[attr-defined]  # a second register, same terminal
    sale = asyncio.ensure_future(term.sale(1000, "PI1"))
    while "PI1" not in term.simulator._in_flight:  # type: ignore[attr-defined]
        await asyncio.sleep(0.01)
    assert isinstance(await other.status("PI1"), Unknown)
    assert isinstance(await sale, Approved)
    assert isinstance(await other.status("PI1"), Approved)


async def test_unreachable_terminal_is_not_sent() -> None:
    term = open_terminal("poslink+tcp://127.0.0.1:1?connect_timeout=1")
    result = await term.sale(1000, "PU1")
    assert isinstance(result, TerminalError) and result.code == "NOT_SENT"
    assert "connect" in result.message


async def test_cancel_pressed_while_connecting_still_cancels_the_sale(
    sim: Simulator, tcp_server
) -> None:
    sim.card_wait_ms = 3000
    term = open_terminal(f"{tcp_server.url}?timeout=6&ack_timeout=1")
    sale = asyncio.ensure_future(term.sale(1000, "PCW1"))
    await asyncio.sleep(0)  # the sale has started connecting, nothing is on the line yet
    await term.cancel()
    assert isinstance(await asyncio.wait_for(sale, 3), Cancelled)
    await term.close()


async def test_cancel_after_a_quick_decline_returns_at_once(sim: Simulator, tcp_server) -> None:
    term = open_terminal(f"{tcp_server.url}?timeout=6&ack_timeout=2")
    sale = asyncio.ensure_future(term.sale(1001, "PCQ1"))
    await asyncio.sleep(0)
    started = asyncio.get_running_loop().time()
    cancel = asyncio.ensure_future(term.cancel())
    assert isinstance(await sale, Declined)
    await asyncio.wait_for(cancel, 1)
    assert asyncio.get_running_loop().time() - started < 1
    assert isinstance(await term.status("PCQ1"), Declined)
    await term.close()
