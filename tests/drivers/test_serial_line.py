"""The serial transport on real lines: a pty pair paced at a real baud rate, and pyserial's
``socket://`` handler to the TCP simulator. The event loop is never blocked by serial I/O."""

from __future__ import annotations

import asyncio
import sys
import time

import pytest

from drivers import AchAccount, Approved, open_terminal
from drivers.simulator import Simulator, serve_tcp
from drivers.trace import FrameTrace

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="pty pairs are POSIX-only")


def waited_for(traces: list[FrameTrace]) -> int:
    return sum(
        t.size for t in traces if t.kind == "frame" or (t.kind == "ack" and t.direction == "rx")
    )


async def test_a_sale_at_9600_takes_as_long_as_its_bytes_and_never_blocks_the_loop() -> None:
    from drivers.simulator.pty import serve_pty

    sim = Simulator()
    server = await serve_pty(sim, 9600)
    traces: list[FrameTrace] = []
    term = open_terminal(f"{server.url}&timeout=3", trace=traces.append)
    await term.initialize()
    lags: list[float] = []
    stop = asyncio.Event()

    async def ticker() -> None:
        while not stop.is_set():
            before = time.perf_counter()
            await asyncio.sleep(0.005)
            lags.append(time.perf_counter() - before - 0.005)

    tick = asyncio.ensure_future(ticker())
    try:
        traces.clear()
        started = time.perf_counter()
        result = await term.sale(1234, "PW1")
        elapsed = time.perf_counter() - started
    finally:
        stop.set()
        await tick
        await term.close()
        await server.close()
    assert isinstance(result, Approved)
    wire = waited_for(traces) * 10 / 9600
    assert wire > 0.1  # ~140 bytes at 9600 baud
    assert elapsed >= wire * 0.98, "the pty must honour the line speed"
    assert elapsed <= wire * 1.5 + 0.05
    assert len(lags) > 10 and max(lags) < 0.05, "serial I/O blocked the event loop"


async def test_serial_driver_through_pyserial_socket_url_to_the_tcp_simulator() -> None:
    sim = Simulator()
    server = await serve_tcp(sim, "127.0.0.1", 0)
    host, port = server.address
    term = open_terminal(f"poslink+serial:socket://{host}:{port}?timeout=2&ack_timeout=1")
    try:
        info = await term.initialize()
        assert info.serial_number == sim.serial_number
        sale = await term.sale(2500, "PSK1")
        assert isinstance(sale, Approved)
        assert isinstance(await term.status("PSK1"), Approved)
    finally:
        await term.close()
        await server.close()


async def test_concurrent_requests_on_one_serial_terminal_are_serialised(line_factory) -> None:
    sim = Simulator()
    async with line_factory("pty", sim, "timeout=3") as term:
        results = await asyncio.gather(*(term.sale(1000 + i * 100, f"PCC{i}") for i in range(4)))
        assert all(isinstance(r, Approved) for r in results)
        assert {r.ecr_ref for r in results} == {f"PCC{i}" for i in range(4)}
        assert [len(sim.accepted(f"PCC{i}")) for i in range(4)] == [1, 1, 1, 1]


async def test_ach_details_never_appear_in_the_trace(line_factory) -> None:
    sim, traces = Simulator(), []
    async with line_factory("pty", sim, "timeout=3", traces.append) as term:
        tok = await term.sale(1000, "PM1", request_token=True)
        ach = await term.ach_sale(
            2500, "PM2", AchAccount("021000021", "9876543210", holder_name="Ann Lee")
        )
    assert isinstance(tok, Approved) and isinstance(ach, Approved) and tok.token
    everything = "\n".join(t.text + " " + t.hex for t in traces)
    for secret in ("021000021", "9876543210", tok.token):
        assert secret not in everything
        assert secret.encode().hex(" ").upper() not in everything
    assert "3210" in everything  # the last 4 stay readable for the technician


async def test_port_can_be_closed_and_reopened(line_factory) -> None:
    from drivers.simulator.pty import serve_pty

    sim = Simulator()
    server = await serve_pty(sim, 115200)
    try:
        for i in range(2):
            term = open_terminal(f"{server.url}&timeout=2")
            assert isinstance(await term.sale(1000, f"PRO{i}"), Approved)
            await term.close()
    finally:
        await server.close()


async def test_tcp_simulator_can_be_paced_like_a_serial_device_server() -> None:
    sim = Simulator(baud=9600)
    server = await serve_tcp(sim, "127.0.0.1", 0)
    traces: list[FrameTrace] = []
    term = open_terminal(f"{server.url}?timeout=3", trace=traces.append)
    try:
        started = time.perf_counter()
        result = await term.sale(1000, "PTP1")
        elapsed = time.perf_counter() - started
    finally:
        await term.close()
        await server.close()
    assert isinstance(result, Approved)
    assert elapsed >= waited_for(traces) * 10 / 9600 * 0.98


async def test_a_stray_eot_before_the_ack_does_not_end_the_sale() -> None:
    from drivers.simulator.pty import serve_pty

    sim = Simulator()
    server = await serve_pty(sim, 115200)
    traces: list[FrameTrace] = []
    term = open_terminal(f"{server.url}&timeout=2&ack_timeout=0.5", trace=traces.append)
    try:
        await term.initialize()
        await asyncio.sleep(0.05)  # the A00 exchange's EOT has been skipped by now
        await server.link.write(b"\x04")  # noise that looks like the end of an exchange
        await asyncio.sleep(0.01)
        result = await term.sale(1000, "PSE1")
        assert isinstance(result, Approved)
        assert sum(1 for t in traces if t.direction == "tx" and "<STX>T00" in t.text) == 1
    finally:
        await term.close()
        await server.close()
