"""One suite for every driver: each protocol's simulator behind a :class:`Harness` that answers
the questions the tests ask (did the sale reach the terminal, what did it approve) in that
simulator's own terms. POSLink runs over the in-process pair, loopback TCP and a real pty; SPIn
over loopback HTTP."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import pytest

from drivers import Capabilities, Terminal, open_terminal
from drivers.poslink import messages as m
from drivers.simulator import Simulator
from drivers.spin.simulator import SpinSimulator, serve_spin
from tests.drivers.conftest import open_line

POSLINK_FAST = "report_status=1"
SPIN_FAST = "connect_timeout=1"
DRIVERS = ["poslink-sim", "poslink-tcp", "spin-http"] + (
    ["poslink-pty"] if sys.platform != "win32" else []
)


@dataclass
class Harness:
    """A driver and its simulator. ``longest_ref``: the longest ECR reference the protocol takes."""

    name: str
    term: Terminal
    sim: Any
    longest_ref: int
    faults: tuple[str, ...]
    _extra: list[Callable[[], Any]] = field(default_factory=list)

    @property
    def caps(self) -> Capabilities:
        return self.term.capabilities

    @property
    def spin(self) -> bool:
        return isinstance(self.sim, SpinSimulator)

    def sales_reached(self, ref: str) -> int:
        """How many sale requests with ``ref`` the terminal took (must be ≤ 1)."""
        if self.spin:
            return int(self.sim.sales_received(ref))
        return len(self.sim.accepted(ref))

    def approved_sales(self, ref: str) -> list[int]:
        """Every approval the terminal made for a sale with ``ref`` (its books, not the driver's)."""
        if self.spin:
            return list(self.sim.approved_sales(ref))
        rec = self.sim.records.get(ref)
        return [rec.approved_cents] if rec and rec.approved and rec.txn_type == m.SALE else []

    def requests_seen(self) -> int:
        return len(self.sim.received)

    def in_flight(self, ref: str) -> bool:
        return ref in (self.sim.in_flight if self.spin else self.sim._in_flight)

    def set_card_wait(self, ms: int) -> None:
        self.sim.card_wait_ms = ms

    def inject(self, fault: str, count: int = 1) -> None:
        self.sim.inject(fault, count)

    def clear_faults(self) -> None:
        self.sim.clear_faults()

    async def settle_down(self) -> None:
        """Let work the terminal accepted finish (a slow reply behind a time-out)."""
        if self.spin:
            await self.sim.drain()


@contextlib.asynccontextmanager
async def open_harness(
    kind: str, *, slow_ms: int = 600, timeout: float = 1.0
) -> AsyncIterator[Harness]:
    """A driver of ``kind`` (one of :data:`DRIVERS`) with a fresh simulator behind it;
    ``timeout``: how long the driver waits for a reply (the SPIn proxy gives up sooner)."""
    if kind == "spin-http":
        from drivers.spin.simulator.faults import FAULTS as SPIN_FAULTS

        spin = SpinSimulator(
            proxy_timeout_ms=int(timeout * 400), slow_ms=slow_ms, busy_delay_s="0.05"
        )
        server = await serve_spin(spin)
        term = open_terminal(
            f"{server.url}&{SPIN_FAST}&timeout={timeout}&busy_wait={timeout}", authkey=spin.authkey
        )
        try:
            yield Harness(kind, term, spin, 50, tuple(SPIN_FAULTS))
        finally:
            await term.close()
            await spin.drain()
            await server.close()
        return
    from drivers.simulator.faults import FAULTS as POSLINK_FAULTS

    sim = Simulator(slow_ms=slow_ms)
    query = f"{POSLINK_FAST}&timeout={timeout}&ack_timeout={min(timeout, 1.0)}"
    async with open_line(kind.split("-")[1], sim, query) as term:
        yield Harness(kind, term, sim, 16, tuple(POSLINK_FAULTS))


@pytest.fixture(params=DRIVERS)
async def harness(request: pytest.FixtureRequest) -> AsyncIterator[Harness]:
    async with open_harness(request.param) as opened:
        yield opened
