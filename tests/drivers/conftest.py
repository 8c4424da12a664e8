"""Fixtures for the driver tests: simulators on real lines."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from drivers.simulator import Simulator, serve_tcp
from drivers.simulator.servers import TcpSimServer


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
