"""The SPIn simulator over real HTTP/1.1 (asyncio streams, one request per connection).

Hand-written rather than an ASGI app so the faults are the network's own: a connection closed
with no reply, a reply that never comes, a body cut short.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Callable

from drivers.spin.simulator.model import SimReply, SpinSimulator

MAX_HEAD = 16 * 1024
MAX_BODY = 64 * 1024
_REASONS = {200: "OK", 400: "Bad Request", 404: "Not Found", 413: "Payload Too Large"}


async def _read_request(reader: asyncio.StreamReader) -> tuple[str, str, str, bytes] | None:
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError):
        return None
    if len(head) > MAX_HEAD:
        return None
    lines = head.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ")
    if len(parts) != 3:
        return None
    method, target, _ = parts
    length = 0
    for line in lines[1:]:
        name, _, value = line.partition(":")
        if name.strip().lower() == "content-length":
            if not value.strip().isdigit():
                return None
            length = int(value.strip())
    if length > MAX_BODY:
        return None
    try:
        body = await reader.readexactly(length) if length else b""
    except (asyncio.IncompleteReadError, ConnectionError):
        return None
    path, _, query = target.partition("?")
    return method, path, query, body


class SpinSimServer:
    """A running simulator; ``url`` is the driver's local-mode URL for its TPN."""

    def __init__(self, sim: SpinSimulator, server: asyncio.Server) -> None:
        self.sim = sim
        self._server = server
        self._writers: set[asyncio.StreamWriter] = set()
        host, port = server.sockets[0].getsockname()[:2]
        self.address: tuple[str, int] = (host, port)

    @property
    def url(self) -> str:
        return f"spin+http://{self.address[0]}:{self.address[1]}?tpn={self.sim.tpn}"

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writers.add(writer)
        try:
            request = await _read_request(reader)
            if request is None:
                writer.write(
                    b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                )
                return
            reply = await self.sim.handle(*request)
            if reply.drop:
                transport = writer.transport
                if hasattr(transport, "abort"):
                    transport.abort()  # a reset, as when a proxy or terminal drops the line
                return
            if reply.hang:
                with contextlib.suppress(ConnectionError):
                    await reader.read()  # until the client gives up and closes
                return
            writer.write(_response(reply))
            await writer.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            self._writers.discard(writer)
            with contextlib.suppress(Exception):
                writer.close()

    async def close(self) -> None:
        self._server.close()
        for writer in list(self._writers):
            with contextlib.suppress(Exception):
                writer.close()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self._server.wait_closed(), 2)

    async def __aenter__(self) -> SpinSimServer:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()


def _response(reply: SimReply) -> bytes:
    reason = _REASONS.get(reply.status, "Status")
    head = (
        f"HTTP/1.1 {reply.status} {reason}\r\nContent-Type: application/json; charset=utf-8\r\n"
        f"Content-Length: {len(reply.body)}\r\nConnection: close\r\n\r\n"
    )
    return head.encode("ascii") + reply.body


async def serve_spin(sim: SpinSimulator, host: str = "127.0.0.1", port: int = 0) -> SpinSimServer:
    """Serve ``sim`` on ``host:port`` (0: any free port)."""
    holder: list[SpinSimServer] = []

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await holder[0]._serve(reader, writer)

    server = await asyncio.start_server(handler, host, port, reuse_address=True)
    holder.append(SpinSimServer(sim, server))
    return holder[0]


class SpinSimThread:
    """The simulator on its own event loop in a daemon thread: for the demo and tools that run
    an app loop of their own. ``start()`` returns once it listens."""

    def __init__(self, sim: SpinSimulator, host: str = "127.0.0.1", port: int = 0) -> None:
        self.sim = sim
        self._host, self._port = host, port
        self._loop: asyncio.AbstractEventLoop | None = None
        self._server: SpinSimServer | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._main, name="spin-sim", daemon=True)

    @property
    def url(self) -> str:
        assert self._server is not None
        return self._server.url

    def start(self) -> SpinSimThread:
        self._thread.start()
        self._ready.wait(10)
        if self._error is not None:
            raise self._error
        return self

    def call(self, fn: Callable[[], object]) -> None:
        """Run ``fn`` on the simulator's loop (to inject a fault from another thread)."""
        if self._loop is not None:
            self._loop.call_soon_threadsafe(fn)

    def _main(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        try:
            self._server = loop.run_until_complete(serve_spin(self.sim, self._host, self._port))
        except BaseException as exc:
            self._error = exc
            self._ready.set()
            loop.close()
            return
        self._ready.set()
        try:
            loop.run_forever()
        finally:
            loop.run_until_complete(self._server.close())
            loop.close()

    def stop(self) -> None:
        if self._loop is not None and self._loop.is_running():
            self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)
