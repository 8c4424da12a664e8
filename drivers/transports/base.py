"""Byte links to a terminal. A transport only moves bytes; framing and handshakes live above it."""

from __future__ import annotations

import abc


class LinkUnavailable(ConnectionError):
    """The port or address could not be opened: nothing was sent."""

    def __init__(self, message: str, hint: str = "") -> None:
        super().__init__(message)
        self.hint = hint


class Link(abc.ABC):
    """A bidirectional byte stream. ``read`` returns b"" at end of stream and is safe to cancel."""

    description: str = ""

    @abc.abstractmethod
    async def read(self) -> bytes: ...

    @abc.abstractmethod
    async def write(self, data: bytes) -> None: ...

    @abc.abstractmethod
    async def close(self) -> None: ...

    def take_input(self) -> bytes:
        """What arrived while no exchange was listening, without waiting (b"" if this link does
        not buffer, or nothing came)."""
        return b""


class Connector(abc.ABC):
    """Opens links. ``persistent`` connectors (serial) hand out the same open link every time;
    the others (TCP: one request per connection, as PAX clients do [R]) open a fresh one."""

    persistent: bool = False
    description: str = ""

    @abc.abstractmethod
    async def open(self) -> Link: ...

    async def release(self, link: Link) -> None:
        """Done with one exchange: closes the link unless the connector is persistent."""
        if not self.persistent:
            await link.close()

    async def close(self) -> None:
        """Close whatever stays open (the serial port)."""
        return None
