"""Byte transports: serial (pyserial, in threads) and TCP (asyncio streams)."""

from drivers.transports.base import Connector, Link, LinkUnavailable

__all__ = ["Connector", "Link", "LinkUnavailable"]
