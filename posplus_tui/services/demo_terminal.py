"""The demo's terminal: the POSLink simulator in-process (``sim://``) or the Dejavoo SPIn simulator
over real HTTP on 127.0.0.1 (``posplus demo --terminal spin``), with its practice auth key."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

TERMINAL_KINDS = ("poslink", "spin")


@dataclass(frozen=True)
class DemoTerminal:
    url: str
    authkey: str | None = None
    #: stops a simulator served on its own thread (None: nothing to stop)
    stop: Callable[[], Awaitable[None]] | None = None


def start_demo_terminal(kind: str, card_wait_ms: int) -> DemoTerminal:
    """Start the simulator for ``kind`` (``poslink`` or ``spin``)."""
    if kind == "poslink":
        return DemoTerminal(f"sim://?card_wait_ms={card_wait_ms}")
    if kind != "spin":
        raise ValueError(f"unknown demo terminal {kind!r}: choose {' or '.join(TERMINAL_KINDS)}")
    from drivers.spin.simulator import SpinSimThread, SpinSimulator

    sim = SpinSimulator(
        tpn="DEMOTPN00001", authkey=f"demo{secrets.token_hex(3)}", card_wait_ms=card_wait_ms
    )
    thread = SpinSimThread(sim).start()

    async def stop() -> None:
        await asyncio.to_thread(thread.stop)

    return DemoTerminal(thread.url, sim.authkey, stop)
