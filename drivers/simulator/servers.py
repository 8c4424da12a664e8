"""Serving the simulator: TCP (a network terminal), in-process socket pairs (``sim://``)."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from typing import Any

from drivers.simulator.engine import Connection
from drivers.simulator.model import Simulator
from drivers.simulator.pacing import PacedLink
from drivers.transports.base import Connector, Link
from drivers.transports.tcp import StreamLink


class _SimStreamLink(StreamLink):
    """The simulator's side of a TCP connection: closing it never raises (a client may vanish)."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        super().__init__(reader, writer, "simulator, server side")

    async def close(self) -> None:
        self._writer.close()
        with contextlib.suppress(Exception):
            await self._writer.wait_closed()


class TcpSimServer:
    """A simulator listening on TCP. ``address`` is the bound (host, port); ``url`` the driver URL."""

    def __init__(self, sim: Simulator, server: asyncio.Server) -> None:
        self.sim = sim
        self._server = server
        self._connections: set[Connection] = set()
        sockname = server.sockets[0].getsockname()
        self.address: tuple[str, int] = (sockname[0], sockname[1])

    @property
    def url(self) -> str:
        return f"poslink+tcp://{self.address[0]}:{self.address[1]}"

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        link: Any = _SimStreamLink(reader, writer)
        if self.sim.baud:
            link = PacedLink(link, self.sim.baud)  # a serial device server (e.g. ser2net) at baud
        conn = Connection(self.sim, link, drop_on_lost_reply=True)
        self._connections.add(conn)
        try:
            await conn.run()
        finally:
            self._connections.discard(conn)
            writer.close()

    async def close(self) -> None:
        self._server.close()
        for conn in list(self._connections):
            await conn.aclose()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self._server.wait_closed(), 2)

    async def serve_forever(self) -> None:
        await self._server.serve_forever()

    async def __aenter__(self) -> TcpSimServer:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()


async def serve_tcp(sim: Simulator, host: str = "127.0.0.1", port: int = 0) -> TcpSimServer:
    """Start serving ``sim`` on ``host:port`` (0: any free port) and return the running server."""
    holder: list[TcpSimServer] = []

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await holder[0]._serve(reader, writer)

    server = await asyncio.start_server(handler, host, port, reuse_address=True)
    holder.append(TcpSimServer(sim, server))
    return holder[0]


class InProcessConnector(Connector):
    """``sim://``: every exchange gets a fresh socket pair, the simulator's engine on one end and
    the driver on the other — real bytes through the real codec, no network."""

    persistent = False

    def __init__(self, sim: Simulator) -> None:
        self.sim = sim
        self.description = "in-process simulator"
        self._tasks: set[asyncio.Task[None]] = set()

    async def open(self) -> Link:
        left, right = socket.socketpair()
        sim_reader, sim_writer = await asyncio.open_connection(sock=left)
        conn = Connection(self.sim, _SimStreamLink(sim_reader, sim_writer), drop_on_lost_reply=True)

        async def run() -> None:
            try:
                await conn.run()
            finally:
                sim_writer.close()

        task = asyncio.ensure_future(run())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        reader, writer = await asyncio.open_connection(sock=right)
        return StreamLink(reader, writer, self.description)

    async def close(self) -> None:
        for task in list(self._tasks):
            if not task.done():
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(asyncio.shield(task), 0.2)
            if not task.done():
                task.cancel()
