"""Card-terminal drivers. A separate package: it never imports ``posplus_tui``.

``open_terminal(url)`` is the one entry point (see :mod:`drivers.registry`).
"""

from drivers.base import (
    AchAccount,
    Approved,
    BatchClosed,
    Cancelled,
    Capabilities,
    Declined,
    EntryMethod,
    NotFound,
    StatusResult,
    Terminal,
    TerminalError,
    TerminalInfo,
    TerminalState,
    TransactionResult,
    Unknown,
)
from drivers.errors import TerminalConnectionError, TerminalUrlError
from drivers.registry import open_terminal, parse_url
from drivers.trace import FrameTrace

__all__ = [
    "AchAccount",
    "Approved",
    "BatchClosed",
    "Cancelled",
    "Capabilities",
    "Declined",
    "EntryMethod",
    "FrameTrace",
    "NotFound",
    "StatusResult",
    "Terminal",
    "TerminalConnectionError",
    "TerminalError",
    "TerminalInfo",
    "TerminalState",
    "TerminalUrlError",
    "TransactionResult",
    "Unknown",
    "open_terminal",
    "parse_url",
]
