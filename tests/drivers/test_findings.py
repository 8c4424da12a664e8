"""Each finding of issue 12, as a named test against the hostile terminal (``hostile.py``, written
apart from the simulator) on a real pty or loopback TCP, or against pyserial's own URL handlers."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest

from drivers import Approved, Declined, NotFound, TerminalError, Unknown, open_terminal
from drivers.base import BatchClosed, Terminal
from tests.drivers.hostile import (
    OTHER_REF,
    HostileTerminal,
    Plan,
    frame,
    hostile_pty,
    hostile_tcp,
    r03,
)

POSIX = pytest.mark.skipif(sys.platform == "win32", reason="pty pairs are POSIX-only")
FAST = "timeout=1&ack_timeout=0.3&eot_timeout=0.3&byte_timeout=0.1"


@asynccontextmanager
async def serial_to(term: HostileTerminal, query: str = FAST) -> AsyncIterator[Terminal]:
    async with hostile_pty(term) as (path, _write):
        driver = open_terminal(f"poslink+serial://{path}?baud=115200&{query}")
        try:
            yield driver
        finally:
            await driver.close()


@asynccontextmanager
async def tcp_to(term: HostileTerminal, query: str = FAST) -> AsyncIterator[Terminal]:
    async with hostile_tcp(term) as (host, port):
        driver = open_terminal(f"poslink+tcp://{host}:{port}?{query}")
        try:
            yield driver
        finally:
            await driver.close()


# --------------------------------------------------------------------------- replies tied to requests


@POSIX
async def test_a_resent_reply_without_a_reference_is_never_credited_to_the_next_sale() -> None:
    """Sale 1's reply (no ECR reference) is resent after our ACK and sent late again during sale 2,
    which the terminal declines: sale 1 is unknown (its reply cannot be tied to it), sale 2 is
    Declined, never sale 1's approval."""
    term = HostileTerminal(
        plans=[
            Plan(ref="empty", eot=False, resend_reply=1),
            Plan(late="resend", reply="decline"),
        ]
    )
    async with serial_to(term) as driver:
        first = await driver.sale(1234, "PSALE1")
        second = await driver.sale(500, "PSALE2")
    assert isinstance(first, Unknown) and "names no ECR reference" in first.reason
    assert isinstance(second, Declined), second


@POSIX
async def test_a_resent_reply_with_its_reference_is_recognised_and_not_taken_twice() -> None:
    term = HostileTerminal(
        plans=[Plan(eot=False, resend_reply=2), Plan(late="resend", reply="decline")]
    )
    async with serial_to(term) as driver:
        first = await driver.sale(1234, "PSALE3")
        second = await driver.sale(500, "PSALE4")
    assert isinstance(first, Approved) and first.approved_cents == 1234
    assert isinstance(second, Declined), second


@POSIX
async def test_a_late_reply_without_a_reference_is_not_ours_and_the_sale_waits_for_its_own() -> (
    None
):
    term = HostileTerminal(plans=[Plan(reply="none"), Plan(late="late", reply="decline")])
    async with serial_to(term) as driver:
        first = await driver.sale(1234, "PLATE1")
        term.last_reply, term.last_ref = b"x", "PLATE1"  # the late reply names nobody
        second = await driver.sale(500, "PLATE2")
    assert isinstance(first, Unknown)
    assert isinstance(second, Declined), second


@POSIX
async def test_a_reply_without_a_reference_after_an_unfinished_exchange_is_unknown() -> None:
    """Sale 1 was left without a reply; sale 2 gets an approval naming no reference: it may be
    sale 1's, so sale 2 is unknown (settled by a status query), never approved."""
    term = HostileTerminal(plans=[Plan(reply="none"), Plan(ref="empty")])
    async with serial_to(term) as driver:
        assert isinstance(await driver.sale(1234, "PUNT1"), Unknown)
        second = await driver.sale(500, "PUNT2")
    assert isinstance(second, Unknown), second


@pytest.mark.parametrize("line", ["tcp", "pty"])
async def test_a_reply_for_another_reference_is_never_credited(line: str) -> None:
    if line == "pty" and sys.platform == "win32":
        pytest.skip("POSIX only")
    term = HostileTerminal(plans=[Plan(ref="other")])
    opener = tcp_to if line == "tcp" else serial_to
    async with opener(term) as driver:
        result = await driver.sale(500, "PMINE1")
        again = await driver.sale(700, "PMINE2")
    assert isinstance(result, Unknown), result
    assert (OTHER_REF, 500, "X00001") in term.approvals  # it was sent, and not taken
    assert isinstance(again, Approved) and again.approved_cents == 700


async def test_even_on_its_own_connection_an_approval_naming_no_reference_is_unknown() -> None:
    """The stateful test found it: a terminal may answer a new connection with an older sale's
    approval, and without a reference the two cannot be told apart."""
    term = HostileTerminal(plans=[Plan(ref="empty")])
    async with tcp_to(term) as driver:
        started = asyncio.get_running_loop().time()
        result = await driver.sale(500, "PPIN1")
    assert isinstance(result, Unknown), result
    assert asyncio.get_running_loop().time() - started < 0.9  # at once, not at the time-out


# --------------------------------------------------------------------------- reading what was said


@pytest.mark.parametrize(
    ("host", "message", "expected"),
    [("05", "DO NOT HONOR", Declined), ("", "", Unknown), ("10", "PARTIAL", Unknown)],
)
async def test_a_status_record_is_read_from_its_host_response(
    host: str, message: str, expected: type
) -> None:
    term = HostileTerminal(
        status_replies=[r03(ref="PST1", host=host, message=message, approved="1234")]
    )
    async with tcp_to(term) as driver:
        result = await driver.status("PST1")
    assert isinstance(result, expected), result


async def test_a_status_record_naming_no_reference_is_not_read_as_ours() -> None:
    term = HostileTerminal(
        status_replies=[r03(ref="", host="00", message="APPROVAL", approved="1234")]
    )
    async with tcp_to(term) as driver:
        result = await driver.status("PST9")
    assert isinstance(result, Unknown), result


async def test_a_status_record_with_an_approval_and_its_amount_is_approved() -> None:
    term = HostileTerminal(
        status_replies=[
            r03(ref="PST2", host="00", message="APPROVAL", approved="617", due="617"),
            r03(ref="PST3", host="00", message="APPROVAL", approved=""),
        ]
    )
    async with tcp_to(term) as driver:
        partial = await driver.status("PST2")
        missing = await driver.status("PST3")
    assert isinstance(partial, Approved)
    assert (partial.approved_cents, partial.requested_cents) == (617, 1234)
    assert isinstance(missing, Unknown)


@pytest.mark.parametrize("amount", ["missing", "decimal", "more"])
async def test_a_partial_approval_without_a_readable_amount_is_unknown(amount: str) -> None:
    term = HostileTerminal(plans=[Plan(reply="partial", amount=amount)])
    async with tcp_to(term) as driver:
        result = await driver.sale(1234, "PPART1")
    assert isinstance(result, Unknown), result


async def test_a_partial_approval_is_reported_as_stated() -> None:
    term = HostileTerminal(plans=[Plan(reply="partial")])
    async with tcp_to(term) as driver:
        result = await driver.sale(1234, "PPART2")
    assert isinstance(result, Approved)
    assert (result.approved_cents, result.requested_cents) == (617, 1234)


async def test_an_approval_with_its_fields_dropped_is_unknown() -> None:
    term = HostileTerminal(plans=[Plan(drop_fields=True)])
    async with tcp_to(term) as driver:
        result = await driver.sale(1234, "PDROP1")
    assert isinstance(result, Unknown), result


async def test_batch_close_with_an_unreadable_count_is_still_closed() -> None:
    async with tcp_to(HostileTerminal()) as driver:
        result = await driver.batch_close()
    assert isinstance(result, BatchClosed) and not result.totals_known


# --------------------------------------------------------------------------- the serial line


@pytest.mark.parametrize("size", [7, 8, 140])
async def test_the_socket_url_keeps_the_last_byte_before_the_peer_closes(size: int) -> None:
    """Through pyserial's socket:// the LRC arrives with the peer's close: the reader used to lose
    the first byte of a read whose second part failed (the end of the stream), so with an odd
    count the last byte — a frame's LRC — was always lost. The bytes and the close are both
    waiting before the reader starts, so the outcome does not depend on timing."""
    import serial

    from drivers.transports.serial import SerialLink

    payload = bytes(0x30 + i % 64 for i in range(size))
    sent = asyncio.Event()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(payload)
        await writer.drain()
        writer.close()
        sent.set()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    host, port = server.sockets[0].getsockname()[:2]
    raw = serial.serial_for_url(f"socket://{host}:{port}", timeout=0.05)
    await sent.wait()
    await asyncio.sleep(0.1)  # the bytes and the close are in the kernel's buffer
    link = SerialLink(raw, "socket")
    got = b""
    try:
        while chunk := await asyncio.wait_for(link.read(), 3):
            got += chunk
    finally:
        await link.close()
        server.close()
    assert got == payload


async def test_terminal_test_passes_over_a_serial_socket_url_to_a_tcp_terminal() -> None:
    from drivers.diagnostics import diagnose
    from drivers.simulator import Simulator, serve_tcp

    server = await serve_tcp(Simulator(), "127.0.0.1", 0)
    host, port = server.address
    try:
        result = await diagnose(f"poslink+serial:socket://{host}:{port}?timeout=2&ack_timeout=1")
    finally:
        await server.close()
    assert result.ok, [c for c in result.checks if not c.ok]
    assert [c.layer for c in result.checks] == [
        "url",
        "port",
        "bytes",
        "framing",
        "identify",
        "status",
    ]


@POSIX
async def test_a_truncated_frame_is_dropped_and_the_next_exchange_reads_cleanly() -> None:
    term = HostileTerminal(plans=[Plan(reply="truncated")])
    async with serial_to(term) as driver:
        first = await driver.sale(1234, "PTRU1")
        second = await driver.sale(1500, "PTRU2")
    assert isinstance(first, Unknown)
    assert isinstance(second, Approved) and second.approved_cents == 1500


@POSIX
async def test_a_chattering_idle_serial_line_stays_bounded() -> None:
    from drivers.transports.serial import MAX_BUFFERED

    term = HostileTerminal()
    async with hostile_pty(term) as (path, write):
        driver = open_terminal(f"poslink+serial://{path}?baud=115200&{FAST}")
        try:
            assert isinstance(await driver.sale(1000, "PCH1"), Approved)
            for _ in range(40):  # 2.6 MB of chatter while nobody listens
                await write(b"\x30\x31" * 32768)
            await asyncio.sleep(0.2)
            link = driver.connector._link  # type: ignore[attr-defined]
            assert len(link._buffer) <= MAX_BUFFERED and link.dropped > 0
            result = await asyncio.wait_for(driver.sale(1100, "PCH2"), 3)
        finally:
            await driver.close()
    assert isinstance(result, Approved) and result.approved_cents == 1100


async def test_an_echoing_line_is_never_sent() -> None:
    pytest.importorskip("serial")
    driver = open_terminal(f"poslink+serial:loop://?{FAST}")
    try:
        result = await driver.sale(1000, "PECHO1")
    finally:
        await driver.close()
    assert isinstance(result, TerminalError) and result.code == "NOT_SENT", result
    assert "echo" in result.message or "sends back" in result.message


async def test_an_echoing_terminal_over_tcp_is_never_sent() -> None:
    term = HostileTerminal(plans=[Plan(first="echo")])
    async with tcp_to(term) as driver:
        result = await driver.sale(1000, "PECHO2")
    assert isinstance(result, TerminalError) and result.code == "NOT_SENT", result


@POSIX
async def test_endless_status_frames_end_in_unknown_and_do_not_spill_over() -> None:
    term = HostileTerminal(plans=[Plan(status_frames=60, reply="none")])
    async with serial_to(term, FAST.replace("timeout=1", "timeout=20")) as driver:
        started = asyncio.get_running_loop().time()
        first = await driver.sale(1000, "PSTAT1")
        took = asyncio.get_running_loop().time() - started
        second = await driver.sale(1200, "PSTAT2")
    assert isinstance(first, Unknown) and "status frames" in first.reason
    assert took < 10  # bounded by the count, not the 20 s response time-out
    assert isinstance(second, Approved) and second.approved_cents == 1200


# --------------------------------------------------------------------------- the smaller items


def test_a_serial_url_without_pyserial_is_a_url_error(monkeypatch: pytest.MonkeyPatch) -> None:
    import drivers

    monkeypatch.setitem(sys.modules, "serial", None)
    monkeypatch.delitem(sys.modules, "drivers.transports.serial", raising=False)
    with pytest.raises(drivers.TerminalUrlError, match="pyserial"):
        open_terminal("poslink+serial:///dev/ttyUSB0?baud=9600")


async def test_the_invoice_number_travels_with_the_sale() -> None:
    seen: list[bytes] = []
    term = HostileTerminal()
    original = term.react

    async def spy(raw: bytes, write, control) -> None:  # type: ignore[no-untyped-def]
        seen.append(raw)
        await original(raw, write, control)

    term.react = spy  # type: ignore[method-assign]
    async with tcp_to(term) as driver:
        result = await driver.sale(1000, "PINV1", invoice="INV-1042")
    assert isinstance(result, Approved)
    trace_group = seen[0][1:-2].decode().split("\x1c")[5].split("\x1f")
    assert trace_group[:2] == ["PINV1", "INV-1042"]


async def test_a_not_found_status_over_tcp_needs_no_echoed_reference() -> None:
    async with tcp_to(HostileTerminal()) as driver:
        assert await driver.status("PNF1") == NotFound("PNF1")


async def test_the_connection_test_sends_a_request_on_every_connection_it_opens() -> None:
    """A bare connect-and-close makes a real terminal log a bad request: the port check is done
    by the identification request itself."""
    from drivers.diagnostics import diagnose

    term = HostileTerminal()
    connections: list[bytes] = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        first = await reader.read(1)
        connections.append(first)
        if not first:
            writer.close()
            return
        pending = [first]

        async def read() -> bytes:
            return pending.pop() if pending else await reader.read(4096)

        async def write(data: bytes) -> None:
            writer.write(data)
            await writer.drain()

        await term.serve(read, write)
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    host, port = server.sockets[0].getsockname()[:2]
    try:
        result = await diagnose(f"poslink+tcp://{host}:{port}?timeout=2&ack_timeout=1")
    finally:
        server.close()
    assert [c.layer for c in result.checks if c.ok][:3] == ["url", "port", "bytes"]
    assert connections and all(first == b"\x02" for first in connections), connections


async def test_a_closed_port_fails_the_port_layer() -> None:
    from drivers.diagnostics import diagnose

    result = await diagnose("poslink+tcp://127.0.0.1:1?connect_timeout=1")
    assert result.failed is not None and result.failed.layer == "port"
    assert result.exit_code == 3


async def test_the_simulator_answers_a_malformed_request_with_a_format_error() -> None:
    """A well-framed request without the FS after its version gets 100003; only a bad LRC gets a
    NAK."""
    from drivers.simulator import Simulator, serve_tcp

    server = await serve_tcp(Simulator(), "127.0.0.1", 0)
    reader, writer = await asyncio.open_connection(*server.address)
    try:
        good = frame("A00", "1.35", "")
        writer.write(good[:-1] + bytes([good[-1] ^ 0x41]))  # a well-formed request, bad LRC
        body = b"A00\x1c1.35\x03"  # no FS after the version: well framed, malformed
        lrc = 0
        for b in body:
            lrc ^= b
        writer.write(b"\x02" + body + bytes([lrc]))
        await writer.drain()
        got = b""
        while b"\x03" not in got[got.find(b"\x02") :] or got.find(b"\x02") < 0:
            got += await asyncio.wait_for(reader.read(4096), 3)
    finally:
        writer.close()
        await server.close()
    assert got.startswith(b"\x15\x06")  # NAK for the broken LRC, ACK for the malformed one
    reply = got[got.find(b"\x02") + 1 :].split(b"\x03")[0].split(b"\x1c")
    assert reply[1] == b"A01" and reply[3] == b"100003"


@POSIX
async def test_repeated_checks_and_status_queries_on_one_serial_line_are_all_read() -> None:
    """The periodic terminal check identifies the terminal again and again, and an unknown sale
    is asked about more than once: identical answers are each read."""
    from drivers.simulator import Simulator
    from drivers.simulator.pty import serve_pty

    server = await serve_pty(Simulator(), 115200)
    driver = open_terminal(f"{server.url}&timeout=2&ack_timeout=1")
    try:
        for _ in range(3):
            assert (await driver.initialize()).serial_number == "SIM0001"
        for _ in range(2):
            assert await driver.status("PREP1") == NotFound("PREP1")
        assert isinstance(await driver.sale(1000, "PREP2"), Approved)
        for _ in range(2):
            assert isinstance(await driver.status("PREP2"), Approved)
    finally:
        await driver.close()
        await server.close()
