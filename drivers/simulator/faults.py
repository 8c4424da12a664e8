"""Faults the simulator produces on demand: ``sim.inject(name, count)``."""

from __future__ import annotations

FAULTS: dict[str, str] = {
    "corrupt_checksum": "the next reply frame(s) go out with a wrong LRC; the driver must NAK and get a resend",
    "no_ack": "the next request frame(s) are ignored: no ACK, no reply (silence before ACK)",
    "no_reply": "the next request(s) are ACKed but never answered (they never reach the host)",
    "slow_reply": "the next reply comes slow_ms late",
    "nak_storm": "the next request frame(s) are NAKed, one NAK per count",
    "line_noise": "random bytes on the line before the next reply frame(s), which arrive split",
    "cardholder_cancel": "the cardholder presses cancel during the next transaction",
    "lost_reply": "the host approves the next transaction but the reply is lost",
}


def check_fault(name: str) -> str:
    if name not in FAULTS:
        raise ValueError(f"unknown fault {name!r}: choose one of {', '.join(FAULTS)}")
    return name
