"""Faults the SPIn simulator produces on demand: ``sim.inject(name, count)``. The same set as the
POSLink simulator's, in SPIn's terms."""

from __future__ import annotations

FAULTS: dict[str, str] = {
    "decline": "the next sale is declined by the host (1015, host code 05)",
    "partial": "the next sale is approved for half the amount (0001)",
    "cardholder_cancel": "the cardholder presses cancel during the next transaction (1012)",
    "lost_reply": "the next money request is processed but the connection drops without a reply",
    "slow_reply": "the next money request takes slow_ms longer; past the proxy time-out the "
    "proxy answers 2007 while the terminal still completes it",
    "no_reply": "the next request is taken but never answered and never reaches the host",
    "garbled_reply": "the next money request is processed but its reply is not readable JSON",
    "terminal_busy": "the next request(s) are answered 2008 terminal in use (DelayBeforeNextRequest)",
    "duplicate_reference": "the next sale is processed but answered 1011 duplicate reference, as "
    "if it had arrived twice",
    "wrong_authkey": "the next request is refused 2002 (auth key not found)",
    "offline": "the next request(s) are refused 2001 (terminal not connected); TerminalStatus "
    "says Offline while it lasts",
}


def check_fault(name: str) -> str:
    if name not in FAULTS:
        raise ValueError(f"unknown fault {name!r}: choose one of {', '.join(FAULTS)}")
    return name
