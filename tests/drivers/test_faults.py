"""Every simulator fault, over a real loopback TCP socket, a real pty pair (115200 baud) and the
in-process socket pair that ``sim://`` uses."""

from __future__ import annotations

import asyncio
import sys
import time
from typing import Any

import pytest

from drivers import Approved, Cancelled, NotFound, TerminalError, Unknown
from drivers.simulator import FAULTS, Simulator
from drivers.trace import FrameTrace

LINES = ["sim", "tcp", "pty"] if sys.platform != "win32" else ["sim", "tcp"]
pytestmark = pytest.mark.parametrize("kind", LINES)


def sent(traces: list[FrameTrace], command: str) -> int:
    return sum(
        1
        for t in traces
        if t.direction == "tx" and t.kind == "frame" and f"<STX>{command}" in t.text
    )


def kinds(traces: list[FrameTrace], direction: str) -> list[str]:
    return [t.kind for t in traces if t.direction == direction]


async def test_corrupt_checksum_is_nakked_and_resent(kind: str, line_factory: Any) -> None:
    sim, traces = Simulator(), []
    async with line_factory(kind, sim, "timeout=2&ack_timeout=1", traces.append) as term:
        sim.inject("corrupt_checksum")
        result = await term.sale(1000, "PF1")
        assert isinstance(result, Approved)
        assert "bad-frame" in kinds(traces, "rx") and "nak" in kinds(traces, "tx")
        assert sent(traces, "T00") == 1 and len(sim.accepted("PF1")) == 1


async def test_reply_unreadable_every_time_is_unknown_then_settled(
    kind: str, line_factory: Any
) -> None:
    sim, traces = Simulator(), []
    async with line_factory(kind, sim, "timeout=2&ack_timeout=1", traces.append) as term:
        sim.inject("corrupt_checksum", 4)
        result = await term.sale(1000, "PF2")
        assert isinstance(result, Unknown) and "unreadable" in result.reason
        assert kinds(traces, "tx").count("nak") == 3 and sent(traces, "T00") == 1
        settled = await term.status("PF2")
        assert isinstance(settled, Approved) and settled.approved_cents == 1000


async def test_no_ack_is_unknown_and_never_reached_the_host(kind: str, line_factory: Any) -> None:
    sim, traces = Simulator(), []
    async with line_factory(kind, sim, "timeout=1&ack_timeout=0.3", traces.append) as term:
        sim.inject("no_ack")
        result = await term.sale(1000, "PF3")
        assert isinstance(result, Unknown) and "ACK" in result.reason
        assert sent(traces, "T00") == 1
        assert await term.status("PF3") == NotFound("PF3")


async def test_no_reply_is_unknown_then_not_found(kind: str, line_factory: Any) -> None:
    sim, traces = Simulator(), []
    async with line_factory(kind, sim, "timeout=0.5&ack_timeout=1", traces.append) as term:
        sim.inject("no_reply")
        result = await term.sale(1000, "PF4")
        assert isinstance(result, Unknown) and "no reply" in result.reason
        assert sent(traces, "T00") == 1
        assert await term.status("PF4") == NotFound("PF4")


async def test_slow_reply_within_the_timeout_is_waited_for(kind: str, line_factory: Any) -> None:
    sim = Simulator(slow_ms=300)
    async with line_factory(kind, sim, "timeout=2&ack_timeout=1") as term:
        sim.inject("slow_reply")
        started = time.monotonic()
        result = await term.sale(1000, "PF5")
        assert isinstance(result, Approved)
        assert time.monotonic() - started >= 0.3


async def test_reply_later_than_the_timeout_is_unknown_and_the_late_frame_is_ignored(
    kind: str, line_factory: Any
) -> None:
    sim, traces = Simulator(slow_ms=600), []
    async with line_factory(kind, sim, "timeout=0.3&ack_timeout=1", traces.append) as term:
        sim.inject("slow_reply")
        result = await term.sale(1000, "PF6")
        assert isinstance(result, Unknown)
        await asyncio.sleep(0.1)
        settled = await term.status("PF6")  # on serial the late T01 arrives meanwhile: skipped
        assert isinstance(settled, Approved)
        assert sent(traces, "T00") == 1
        again = await term.sale(2000, "PF6B")  # the line is clean again
        assert isinstance(again, Approved)


async def test_nak_storm_within_the_retries(kind: str, line_factory: Any) -> None:
    sim, traces = Simulator(), []
    async with line_factory(kind, sim, "timeout=2&ack_timeout=1", traces.append) as term:
        sim.inject("nak_storm", 3)
        assert isinstance(await term.sale(1000, "PF7"), Approved)
        assert sent(traces, "T00") == 4 and len(sim.accepted("PF7")) == 1


async def test_nak_storm_beyond_the_retries_sends_nothing_more(
    kind: str, line_factory: Any
) -> None:
    sim, traces = Simulator(), []
    async with line_factory(kind, sim, "timeout=2&ack_timeout=1", traces.append) as term:
        sim.inject("nak_storm", 20)
        result = await term.sale(1000, "PF8")
        assert (
            isinstance(result, TerminalError)
            and result.code == "NOT_SENT"
            and "NAK" in result.message
        )
        assert sent(traces, "T00") == 4
        sim.clear_faults()
        assert await term.status("PF8") == NotFound("PF8")


async def test_line_noise_between_frames_and_split_replies(kind: str, line_factory: Any) -> None:
    sim, traces = Simulator(), []
    async with line_factory(kind, sim, "timeout=2&ack_timeout=1", traces.append) as term:
        sim.inject("line_noise", 5)
        for i in range(3):
            result = await term.sale(1000 + i * 100, f"PF9{i}")
            assert isinstance(result, Approved)
        assert "noise" in kinds(traces, "rx")


async def test_cardholder_cancel(kind: str, line_factory: Any) -> None:
    sim = Simulator()
    async with line_factory(kind, sim, "timeout=2&ack_timeout=1") as term:
        sim.inject("cardholder_cancel")
        assert isinstance(await term.sale(1000, "PFA"), Cancelled)
        assert isinstance(await term.status("PFA"), Cancelled)


async def test_lost_reply_after_approval(kind: str, line_factory: Any) -> None:
    sim, traces = Simulator(), []
    async with line_factory(kind, sim, "timeout=0.5&ack_timeout=1", traces.append) as term:
        sim.inject("lost_reply")
        result = await term.sale(1000, "PFB")
        assert isinstance(result, Unknown)
        settled = await term.status("PFB")
        assert isinstance(settled, Approved) and settled.approved_cents == 1000
        assert sent(traces, "T00") == 1 and len(sim.accepted("PFB")) == 1


async def test_clerk_cancel_over_the_line(kind: str, line_factory: Any) -> None:
    sim, traces = Simulator(card_wait_ms=3000), []
    async with line_factory(kind, sim, "timeout=6&ack_timeout=1", traces.append) as term:
        sale = asyncio.ensure_future(term.sale(1000, "PFC"))
        while "PFC" not in sim._in_flight:
            await asyncio.sleep(0.01)
        await term.cancel()
        result = await asyncio.wait_for(sale, 3)
        assert isinstance(result, Cancelled)
        assert sent(traces, "A14") == 1 and "ECRREF=PFC" in next(
            t.text for t in traces if "A14" in t.text
        )
        sim.card_wait_ms = 0
        assert isinstance(
            await term.sale(2000, "PFD"), Approved
        )  # the A14's ACK/EOT did not confuse it


async def test_every_fault_is_covered(kind: str) -> None:
    covered = {
        "corrupt_checksum",
        "no_ack",
        "no_reply",
        "slow_reply",
        "nak_storm",
        "line_noise",
        "cardholder_cancel",
        "lost_reply",
    }
    assert covered == set(FAULTS)


async def test_a_late_status_reply_never_answers_a_later_query(
    kind: str, line_factory: Any
) -> None:
    sim, traces = Simulator(slow_ms=500), []
    async with line_factory(kind, sim, "timeout=0.25&ack_timeout=1", traces.append) as term:
        assert isinstance(await term.sale(1000, "PLA"), Approved)
        sim.inject("slow_reply")
        assert isinstance(await term.status("PLA"), Unknown)  # its reply (Approved) comes late
        late = await term.status("PLB")  # on serial the late R03 for PLA arrives meanwhile
        assert late == NotFound("PLB")
        await asyncio.sleep(0.4)
        assert isinstance(await term.status("PLA"), Approved)
