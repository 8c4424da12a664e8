"""Card-terminal drivers. A separate package: it never imports ``posplus_tui``.

``open_terminal(url)`` is the one entry point (see :mod:`drivers.registry`).
"""

from drivers.base import (
    AchAccount,
    Approved,
    BatchClosed,
    Cancelled,
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

__all__ = [
    "AchAccount",
    "Approved",
    "BatchClosed",
    "Cancelled",
    "Declined",
    "EntryMethod",
    "NotFound",
    "StatusResult",
    "Terminal",
    "TerminalError",
    "TerminalInfo",
    "TerminalState",
    "TransactionResult",
    "Unknown",
]
