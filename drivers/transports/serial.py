"""Serial through pyserial's ``serial_for_url`` (so ``loop://``, ``socket://``, ``rfc2217://`` work
too). Blocking pyserial calls run in worker threads, never on the event loop: one thread reads
continuously and hands chunks to the loop, another writes."""

from __future__ import annotations

import asyncio
import contextlib
import os
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import serial

from drivers.transports.base import Connector, Link, LinkUnavailable

READ_POLL_S = 0.05


class SerialLink(Link):
    def __init__(self, port: serial.Serial, description: str) -> None:
        self._port = port
        self.description = description
        self._loop = asyncio.get_running_loop()
        self._queue: asyncio.Queue[bytes] = asyncio.Queue()
        self._stop = threading.Event()
        self._tx = ThreadPoolExecutor(1, thread_name_prefix="serial-tx")
        self._eof = False
        self._reader_done: asyncio.Future[None] = self._loop.create_future()
        # a daemon thread, not a pool worker: a port someone forgot to close never blocks exit
        self._reader = threading.Thread(
            target=self._read_loop, name=f"serial-rx {description}", daemon=True
        )
        self._reader.start()

    def _read_loop(self) -> None:
        port = self._port
        try:
            while not self._stop.is_set():
                data = port.read(1)
                if not data:
                    continue
                waiting = port.in_waiting
                if waiting:
                    data += port.read(waiting)
                self._loop.call_soon_threadsafe(self._queue.put_nowait, data)
        except (serial.SerialException, OSError, TypeError, AttributeError):
            pass  # port closed or unplugged: reported as end of stream
        finally:
            with contextlib.suppress(RuntimeError):
                self._loop.call_soon_threadsafe(self._queue.put_nowait, b"")
                self._loop.call_soon_threadsafe(self._finish_reader)

    def _finish_reader(self) -> None:
        if not self._reader_done.done():
            self._reader_done.set_result(None)

    async def read(self) -> bytes:
        if self._eof:
            return b""
        data = await self._queue.get()
        if not data:
            self._eof = True
        return data

    async def write(self, data: bytes) -> None:
        if self._eof:
            raise ConnectionError("serial port closed")
        try:
            await self._loop.run_in_executor(self._tx, self._port.write, data)
        except (serial.SerialException, OSError) as exc:
            raise ConnectionError(f"write to {self.description} failed: {exc}") from exc

    def write_soon(self, data: bytes) -> bool:
        if self._eof:
            return False
        # the single writer thread keeps this in order with every later write
        self._tx.submit(self._port.write, data).add_done_callback(_ignore_result)
        return True

    async def close(self) -> None:
        self._stop.set()
        with contextlib.suppress(Exception):
            self._port.cancel_read()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(asyncio.shield(self._reader_done), 1.0)
        with contextlib.suppress(Exception):
            self._port.close()
        self._tx.shutdown(wait=False)


def _ignore_result(future: Future[Any]) -> None:
    """A failed closing ACK shows up as an error on the next exchange; nothing to do here."""
    with contextlib.suppress(Exception):
        future.exception()


class SerialConnector(Connector):
    """One serial port, opened on first use and kept open (8N1) [I: 9600 default]."""

    persistent = True

    def __init__(self, port: str, baud: int = 9600) -> None:
        self.port = port
        self.baud = baud
        self.description = f"{port} at {baud} baud"
        self._link: SerialLink | None = None
        self._lock = asyncio.Lock()

    def _open_blocking(self) -> serial.Serial:
        port = self._open_port()
        # bytes left on the line before we opened it belong to nobody
        with contextlib.suppress(Exception):
            port.reset_input_buffer()
        return port

    def _open_port(self) -> serial.Serial:
        return serial.serial_for_url(
            self.port,
            baudrate=self.baud,
            bytesize=serial.EIGHTBITS,
            parity=serial.PARITY_NONE,
            stopbits=serial.STOPBITS_ONE,
            timeout=READ_POLL_S,
            write_timeout=10,
            # lock a local device so a second program cannot interleave bytes on the line
            exclusive=True if os.name == "posix" and self.port.startswith("/") else None,
        )

    async def open(self) -> Link:
        async with self._lock:
            if self._link is not None and not self._link._eof:
                return self._link
            loop = asyncio.get_running_loop()
            try:
                port = await loop.run_in_executor(None, self._open_blocking)
            except (serial.SerialException, OSError, ValueError) as exc:
                raise LinkUnavailable(
                    f"cannot open serial port {self.port}: {exc}",
                    "check the cable and the port name (ls /dev/ttyUSB* /dev/ttyACM*, or COMn on "
                    "Windows), that no other program holds it, and that you may use it (dialout group)",
                ) from exc
            self._link = SerialLink(port, self.description)
            return self._link

    async def close(self) -> None:
        if self._link is not None:
            await self._link.close()
            self._link = None
