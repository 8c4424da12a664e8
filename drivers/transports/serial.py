"""Serial through pyserial's ``serial_for_url`` (so ``loop://``, ``socket://``, ``rfc2217://`` work
too). Nothing blocks the event loop: a local POSIX device is read by the loop itself when its
(non-blocking) descriptor is readable, and written directly when the write fits; other handlers
are read by one thread into a bounded buffer the loop drains, and written by another."""

from __future__ import annotations

import asyncio
import contextlib
import os
import threading
from concurrent.futures import ThreadPoolExecutor

import serial

from drivers.transports.base import Connector, Link, LinkUnavailable

READ_POLL_S = 0.05


#: most bytes kept between reads: a line that chatters while nobody listens keeps only the newest
MAX_BUFFERED = 64 * 1024


class SerialLink(Link):
    def __init__(self, port: serial.Serial, description: str) -> None:
        self._port = port
        self.description = description
        self._loop = asyncio.get_running_loop()
        self._buffer = bytearray()  # bounded: see MAX_BUFFERED; shared with the reader thread
        self._lock = threading.Lock()
        self._wake_pending = False
        self._ready = asyncio.Event()
        self._ended = False  # the reader thread saw the end of the line
        self.dropped = 0  # bytes dropped because nobody read them in time
        self._stop = threading.Event()
        self._tx = ThreadPoolExecutor(1, thread_name_prefix="serial-tx")
        self._eof = False
        self._reader_done: asyncio.Future[None] = self._loop.create_future()
        self._fd = _nonblocking_fd(port)
        if self._fd is not None:
            # each hop through a thread costs latency at every turn of the handshake
            self._loop.add_reader(self._fd, self._on_readable)
            self._reader_done.set_result(None)
            return
        # a daemon thread, not a pool worker: a port someone forgot to close never blocks exit
        self._reader = threading.Thread(
            target=self._read_loop, name=f"serial-rx {description}", daemon=True
        )
        self._reader.start()

    def _on_readable(self) -> None:
        assert self._fd is not None
        try:
            data = os.read(self._fd, 65536)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            data = b""
        if not data:
            with contextlib.suppress(Exception):
                self._loop.remove_reader(self._fd)
            self._end()
            return
        with self._lock:
            self._append(data)
        self._ready.set()

    def _read_loop(self) -> None:
        port = self._port
        try:
            while not self._stop.is_set():
                data = port.read(1)
                if not data:
                    continue
                try:
                    waiting = port.in_waiting
                    if waiting:
                        data += port.read(waiting)
                finally:
                    # delivered even when the second read fails: through socket:// the last byte
                    # before the peer closes (a frame's LRC) arrives exactly like this
                    self._deliver(data)
        except (serial.SerialException, OSError, TypeError, AttributeError):
            pass  # port closed or unplugged: reported as end of stream
        finally:
            with contextlib.suppress(RuntimeError):
                self._loop.call_soon_threadsafe(self._end)

    def _deliver(self, data: bytes) -> None:
        """Reader thread: buffer ``data`` and wake the loop once (not once per chunk: a
        chattering line must not queue callbacks faster than the loop runs them)."""
        with self._lock:
            self._append(data)
            if self._wake_pending:
                return
            self._wake_pending = True
        with contextlib.suppress(RuntimeError):  # the loop is gone: nobody is listening
            self._loop.call_soon_threadsafe(self._wake)

    def _append(self, data: bytes) -> None:
        """Add ``data`` (the lock held), dropping the oldest bytes beyond MAX_BUFFERED."""
        self._buffer += data
        excess = len(self._buffer) - MAX_BUFFERED
        if excess > 0:
            del self._buffer[:excess]
            self.dropped += excess

    def _wake(self) -> None:
        with self._lock:
            self._wake_pending = False
        self._ready.set()

    def _end(self) -> None:
        self._ended = True
        self._ready.set()
        if not self._reader_done.done():
            self._reader_done.set_result(None)

    async def read(self) -> bytes:
        if self._eof:
            return b""
        while True:
            with self._lock:
                data = bytes(self._buffer)
                self._buffer.clear()
            if data:
                return data
            if self._ended:
                self._eof = True
                return b""
            self._ready.clear()
            await self._ready.wait()

    def take_input(self) -> bytes:
        with self._lock:
            data = bytes(self._buffer)
            self._buffer.clear()
        return data

    async def write(self, data: bytes) -> None:
        if self._eof:
            raise ConnectionError("serial port closed")
        if self._fd is not None:
            try:  # the descriptor is non-blocking: this never waits
                written = os.write(self._fd, data)
            except (BlockingIOError, InterruptedError):
                written = 0
            except OSError as exc:
                raise ConnectionError(f"write to {self.description} failed: {exc}") from exc
            data = data[written:]
            if not data:
                return
        try:
            await self._loop.run_in_executor(self._tx, self._port.write, data)
        except (serial.SerialException, OSError) as exc:
            raise ConnectionError(f"write to {self.description} failed: {exc}") from exc

    async def close(self) -> None:
        self._stop.set()
        if self._fd is not None:
            with contextlib.suppress(Exception):
                self._loop.remove_reader(self._fd)
        with contextlib.suppress(Exception):
            self._port.cancel_read()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(asyncio.shield(self._reader_done), 1.0)
        with contextlib.suppress(Exception):
            self._port.close()
        self._tx.shutdown(wait=False)


def _nonblocking_fd(port: serial.SerialBase) -> int | None:
    """The descriptor of a local POSIX serial device opened non-blocking (pyserial does), else
    None (socket://, loop://, Windows)."""
    if os.name != "posix":
        return None
    fd = getattr(port, "fd", None)
    if not isinstance(fd, int) or type(port).__module__ != "serial.serialposix":
        return None
    import fcntl

    try:
        flags = fcntl.fcntl(fd, fcntl.F_GETFL)
    except OSError:
        return None
    return fd if flags & os.O_NONBLOCK else None


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
