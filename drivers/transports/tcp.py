"""TCP to a network terminal (PAX listens on 10009 [R]) through asyncio streams."""

from __future__ import annotations

import asyncio
import contextlib

from drivers.transports.base import Connector, Link, LinkUnavailable

DEFAULT_PORT = 10009


class StreamLink(Link):
    def __init__(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, description: str
    ) -> None:
        self._reader = reader
        self._writer = writer
        self.description = description

    async def read(self) -> bytes:
        try:
            return await self._reader.read(4096)
        except (ConnectionError, OSError):
            return b""

    async def write(self, data: bytes) -> None:
        self._writer.write(data)
        await self._writer.drain()

    async def close(self) -> None:
        self._writer.close()
        with contextlib.suppress(ConnectionError, OSError, asyncio.CancelledError):
            await self._writer.wait_closed()


class TcpConnector(Connector):
    persistent = False

    def __init__(self, host: str, port: int = DEFAULT_PORT, connect_timeout: float = 5.0) -> None:
        self.host = host
        self.port = port
        self.connect_timeout = connect_timeout
        self.description = f"{host}:{port}"

    async def open(self) -> Link:
        try:
            reader, writer = await asyncio.wait_for(
                asyncio.open_connection(self.host, self.port), self.connect_timeout
            )
        except TimeoutError as exc:
            raise LinkUnavailable(
                f"no answer from {self.description} within {self.connect_timeout:g} s",
                "check the terminal is on, on the same network, and its IP address and port (PAX: 10009)",
            ) from exc
        except OSError as exc:
            raise LinkUnavailable(
                f"cannot connect to {self.description}: {exc.strerror or exc}",
                "check the terminal is on and its address and port; is another program using it?",
            ) from exc
        return StreamLink(reader, writer, self.description)
