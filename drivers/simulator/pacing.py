"""Line-speed pacing: bytes take 10 bit times each (start + 8 data + stop) at the set baud.

Used by the pty (a pty moves bytes instantly) and, on request, by TCP. Incoming bytes are handed on
only when they would have finished arriving; outgoing bytes are released in small slices, each when
its last byte would have arrived. Deadlines are absolute, so timer slack never accumulates.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Protocol

BITS_PER_BYTE = 10
SLICE_S = 0.008  # release written bytes in slices of about this much line time


async def sleep_until(deadline: float) -> None:
    """Sleep until ``deadline`` (``time.perf_counter``) with sub-millisecond precision. The event
    loop's timer rounds to milliseconds, so the last stretch yields to the loop in a tight cycle:
    the loop keeps reading the line meanwhile, so arrival times stay exact."""
    while True:
        remaining = deadline - time.perf_counter()
        if remaining <= 0:
            return
        if remaining > 0.0011:
            # the loop's timer rounds up to whole milliseconds: this never wakes after the deadline
            await asyncio.sleep(remaining - 0.001)
        else:
            await asyncio.sleep(0)


class LinePacer:
    """Tracks when each direction of a full-duplex line is free again."""

    def __init__(self, baud: int) -> None:
        if baud <= 0:
            raise ValueError("baud must be positive")
        self.baud = baud
        self.byte_time = BITS_PER_BYTE / baud
        self._rx_free = 0.0
        self._tx_free = 0.0

    def arrived(self, size: int, at: float | None = None) -> float:
        """Bytes seen at ``at`` (now): the deadline when the last of them is off the wire."""
        now = time.perf_counter() if at is None else at
        self._rx_free = max(now, self._rx_free) + size * self.byte_time
        return self._rx_free

    async def send(self, data: bytes, write: Callable[[bytes], Awaitable[None]]) -> None:
        start = max(time.perf_counter(), self._tx_free)
        self._tx_free = start + len(data) * self.byte_time
        per_slice = max(1, int(SLICE_S / self.byte_time))
        sent = 0
        while sent < len(data):
            chunk = data[sent : sent + per_slice]
            await sleep_until(start + (sent + len(chunk)) * self.byte_time)
            await write(chunk)
            sent += len(chunk)


_CONTROLS = frozenset((0x04, 0x06, 0x15))  # EOT, ACK, NAK


def split_controls(data: bytes) -> list[bytes]:
    """Cut a read after every lone control byte, so an ACK that arrived ahead of a frame in the
    same read is delivered when *it* is off the wire, not when the whole frame is."""
    pieces: list[bytes] = []
    start = 0
    for i, byte in enumerate(data):
        if byte in _CONTROLS:
            pieces.append(data[start : i + 1])
            start = i + 1
    if start < len(data):
        pieces.append(data[start:])
    return pieces


class _Link(Protocol):
    async def read(self) -> bytes: ...
    async def write(self, data: bytes) -> None: ...
    async def close(self) -> None: ...


class PacedLink:
    """Wraps a simulator link (e.g. a TCP connection) so it behaves like a serial line at ``baud``."""

    def __init__(self, inner: _Link, baud: int) -> None:
        self.inner = inner
        self.pacer = LinePacer(baud)
        self._write_lock = asyncio.Lock()
        self._pending: list[tuple[bytes, float]] = []

    async def read(self) -> bytes:
        if not self._pending:
            data = await self.inner.read()
            if not data:
                return b""
            now = time.perf_counter()
            self._pending = [
                (piece, self.pacer.arrived(len(piece), now)) for piece in split_controls(data)
            ]
        piece, deadline = self._pending.pop(0)
        await sleep_until(deadline)
        return piece

    async def write(self, data: bytes) -> None:
        async with self._write_lock:
            await self.pacer.send(data, self.inner.write)

    async def close(self) -> None:
        await self.inner.close()
