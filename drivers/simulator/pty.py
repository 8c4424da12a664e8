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
from drivers.simulator.pacing import LinePacer, sleep_until, split_controls


class PacedPtyLink:
    """The master side of the pty, paced to ``baud``."""

    def __init__(self, master: int, baud: int) -> None:
        self.master = master
        self.pacer = LinePacer(baud)
        self._loop = asyncio.get_running_loop()
        self._queue: asyncio.Queue[tuple[bytes, float]] = asyncio.Queue()
        self._write_lock = asyncio.Lock()
        self._loop.add_reader(master, self._on_readable)

    def _on_readable(self) -> None:
        try:
            data = os.read(self.master, 4096)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if not data:
            self._loop.remove_reader(self.master)
            self._queue.put_nowait((b"", 0.0))
            return
        # stamped here, in the reader callback, so a busy coroutine cannot delay the arrival time
        now = time.perf_counter()
        for piece in split_controls(data):
            self._queue.put_nowait((piece, self.pacer.arrived(len(piece), now)))

    async def read(self) -> bytes:
        data, deadline = await self._queue.get()
        if data:
            await sleep_until(deadline)
        return data

    async def write(self, data: bytes) -> None:
        async with self._write_lock:
            await self.pacer.send(data, self._write_all)

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
        await asyncio.gather(self._task, return_exceptions=True)
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
