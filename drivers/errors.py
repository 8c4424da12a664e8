"""Errors raised (rather than returned) by the drivers."""

from __future__ import annotations


class TerminalUrlError(ValueError):
    """A terminal URL that cannot be understood; the message shows a correct example."""


class TerminalConnectionError(ConnectionError):
    """The terminal could not be reached or did not identify itself (``initialize``)."""
