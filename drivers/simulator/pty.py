"""The simulator on a pseudo-terminal pair, at a real line speed (POSIX only).

A pty moves bytes instantly, so the simulator paces both directions itself: every byte takes
10 bit times (start + 8 data + stop) at the configured baud. Bytes the ECR writes are handed to the
terminal model only when they would have finished arriving; bytes the terminal writes are released
in small slices, each when its last byte would have arrived. Both ends are raw at once (a fresh pty
is cooked: ETX would be ^C and lost) and the simulator keeps the slave open so the master never
sees EIO when the driver closes its side.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
import tty

from drivers.simulator.engine import Connection
from drivers.simulator.model import Simulator

BITS_PER_BYTE = 10
SLICE_S = 0.004  # release written bytes in slices of about this much line time


async def sleep_until(deadline: float) -> None:
    """Sleep until ``deadline`` (``time.perf_counter``) with sub-millisecond precision. The event
    loop's timer rounds to milliseconds, so the last stretch yields to the loop in a tight cycle
    instead: the loop keeps reading the line meanwhile, so arrival times stay exact."""
    while True:
        remaining = deadline - time.perf_counter()
        if remaining <= 0:
            return
        if remaining > 0.002:
            await asyncio.sleep(remaining - 0.0015)
        else:
            await asyncio.sleep(0)


class PacedPtyLink:
    """The master side of the pty, paced to ``baud``."""

    def __init__(self, master: int, baud: int) -> None:
        self.master = master
        self.byte_time = BITS_PER_BYTE / baud
        self._loop = asyncio.get_running_loop()
        self._queue: asyncio.Queue[bytes] = asyncio.Queue()
        self._rx_free = 0.0  # when the ECR→terminal direction is idle again
        self._tx_free = 0.0  # when the terminal→ECR direction is idle again
        self._closed = False
        self.bytes_in = 0
        self.bytes_out = 0
        self._loop.add_reader(master, self._on_readable)

    def _on_readable(self) -> None:
        try:
            data = os.read(self.master, 4096)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        arrived = time.perf_counter()
        if not data:
            self._loop.remove_reader(self.master)
        self._queue.put_nowait(data)
        if data:
            # when the last of these bytes would have come off the wire
            self._rx_free = max(arrived, self._rx_free) + len(data) * self.byte_time
            self._queue.put_nowait(self._rx_free.hex().encode())  # paired deadline marker

    async def read(self) -> bytes:
        data = await self._queue.get()
        if not data:
            return b""
        deadline = float.fromhex((await self._queue.get()).decode())
        await sleep_until(deadline)
        self.bytes_in += len(data)
        return data

    async def write(self, data: bytes) -> None:
        if self._closed:
            raise ConnectionError("pty closed")
        start = max(time.perf_counter(), self._tx_free)
        per_slice = max(1, int(SLICE_S / self.byte_time))
        sent = 0
        while sent < len(data):
            chunk = data[sent : sent + per_slice]
            await sleep_until(start + (sent + len(chunk)) * self.byte_time)
            await self._write_all(chunk)
            sent += len(chunk)
        self._tx_free = start + len(data) * self.byte_time
        self.bytes_out += len(data)

    async def _write_all(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            try:
                n = os.write(self.master, view)
            except BlockingIOError:
                await asyncio.sleep(0.001)
                continue
            view = view[n:]

    async def close(self) -> None:
        """A serial line cannot be hung up by the terminal: a lost reply is silence."""


class PtySimServer:
    """A simulator on a pty. ``path`` is the device the driver opens; ``url`` its driver URL."""

    def __init__(self, sim: Simulator, baud: int) -> None:
        self.sim = sim
        self.baud = baud
        master, slave = os.openpty()
        tty.setraw(master)
        tty.setraw(slave)
        os.set_blocking(master, False)
        self._master = master
        self._slave = slave  # kept open: see the module docstring
        self.path = os.ttyname(slave)
        self.link = PacedPtyLink(master, baud)
        self._conn = Connection(sim, self.link, drop_on_lost_reply=False)
        self._task = asyncio.ensure_future(self._conn.run())

    @property
    def url(self) -> str:
        return f"poslink+serial://{self.path}?baud={self.baud}"

    async def close(self) -> None:
        self._task.cancel()
        await self._conn.aclose()
        with contextlib.suppress(BaseException):
            await self._task
        loop = asyncio.get_running_loop()
        with contextlib.suppress(Exception):
            loop.remove_reader(self._master)
        for fd in (self._master, self._slave):
            with contextlib.suppress(OSError):
                os.close(fd)

    async def __aenter__(self) -> PtySimServer:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()


async def serve_pty(sim: Simulator, baud: int = 9600) -> PtySimServer:
    """Serve ``sim`` on a new pty at ``baud``; open ``server.path`` (or ``server.url``) to talk to it."""
    if baud <= 0:
        raise ValueError("baud must be positive")
    sim.baud = baud
    return PtySimServer(sim, baud)
