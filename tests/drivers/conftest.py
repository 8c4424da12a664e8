"""Fixtures for the driver tests: the simulator on real lines (loopback TCP, a pty pair at
115200 baud, the in-process socket pair). Nothing here mocks a serial port."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from drivers import Terminal, open_terminal
from drivers.simulator import Simulator, serve_tcp
from drivers.simulator.servers import TcpSimServer
from drivers.trace import FrameTrace

LINES = ["sim", "tcp", "pty"] if sys.platform != "win32" else ["sim", "tcp"]


@pytest.fixture
def sim() -> Simulator:
    return Simulator()


@pytest.fixture
async def tcp_server(sim: Simulator) -> AsyncIterator[TcpSimServer]:
    server = await serve_tcp(sim, "127.0.0.1", 0)
    try:
        yield server
    finally:
        await server.close()


@contextlib.asynccontextmanager
async def open_line(
    kind: str,
    sim: Simulator,
    query: str = "",
    trace: Callable[[FrameTrace], None] | None = None,
    baud: int = 115200,
) -> AsyncIterator[Terminal]:
    """A terminal for ``sim`` over the ``kind`` of line; ``query`` holds URL options."""
    if kind == "sim":
        from drivers.poslink.terminal import PosLinkTerminal
        from drivers.registry import parse_url
        from drivers.simulator.servers import InProcessConnector

        _, cfg = parse_url(f"sim://?{query}")
        term: Any = PosLinkTerminal("sim://", InProcessConnector(sim), cfg["options"], trace)  # type: ignore[arg-type]
        try:
            yield term
        finally:
            await term.close()
        return
    if kind == "tcp":
        server: Any = await serve_tcp(sim, "127.0.0.1", 0)
        url = f"{server.url}?{query}"
    else:
        from drivers.simulator.pty import serve_pty

        server = await serve_pty(sim, baud)
        url = f"{server.url}&{query}" if query else server.url
    term = open_terminal(url, trace=trace)
    try:
        yield term
    finally:
        await term.close()
        await server.close()


@pytest.fixture
def line_factory() -> Callable[..., Any]:
    return open_line
