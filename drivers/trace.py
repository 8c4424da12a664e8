"""A record of every byte on the line, for a technician's live log. Card and account data masked.

The app never sends a card number, but replies carry the last digits, tokens, BINs, and ACH
requests carry routing and account numbers: those are masked in both the decoded text and the hex.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from drivers.poslink.codec import (
    CONTROL_NAMES,
    ETX,
    FS,
    STX,
    US,
    BadFrame,
    Control,
    Event,
    GoodFrame,
    Noise,
)

#: Extra-data keys whose values are masked (all but the last 4 characters).
SENSITIVE_KEYS = ("TOKEN", "CARDBIN", "HOLDER")


@dataclass(frozen=True)
class FrameTrace:
    """One unit on the line. ``direction`` is ``"tx"`` (ECR → terminal) or ``"rx"``.

    ``kind``: ``frame`` · ``bad-frame`` · ``ack`` · ``nak`` · ``eot`` · ``noise`` · ``note``.
    ``hex`` and ``text`` are already masked; raw card data is never kept here.
    """

    direction: str
    kind: str
    hex: str
    text: str
    size: int
    at: float = field(default_factory=time.monotonic)

    def line(self) -> str:
        arrow = "→" if self.direction == "tx" else "←"
        line = f"{arrow} {self.kind:<9} {self.text}"
        return f"{line}\n    {self.hex}" if self.hex else line


TraceCallback = Callable[[FrameTrace], None]


def _mask(value: str) -> str:
    if len(value) <= 4:
        return "•" * len(value)
    return "•" * (len(value) - 4) + value[-4:]


def mask_payload(payload: bytes) -> bytes:
    """The payload with sensitive sub-fields replaced by ``*`` except their last 4 characters.

    Masked: T12 routing and account numbers (check group), the account field of any reply beyond
    its last 4, and the values of :data:`SENSITIVE_KEYS` in extra data.
    """
    text = payload.decode("ascii", "replace")
    fields = text.split(chr(FS))
    out_fields = []
    is_check = len(fields) > 0 and fields[0] == "T12"
    for index, value in enumerate(fields):
        subs = value.split(chr(US))
        for i, sub in enumerate(subs):
            key, sep, val = sub.partition("=")
            if sep and key in SENSITIVE_KEYS:
                subs[i] = f"{key}={'*' * max(0, len(val) - 4)}{val[-4:]}"
            elif is_check and index == 4 and i in (1, 2) and len(sub) > 4:
                subs[i] = "*" * (len(sub) - 4) + sub[-4:]
            elif sub.isdigit() and len(sub) >= 12:
                subs[i] = "*" * (len(sub) - 4) + sub[-4:]  # anything card-number-like
        out_fields.append(chr(US).join(subs))
    return chr(FS).join(out_fields).encode("ascii", "replace")


def _readable(payload: bytes) -> str:
    out = []
    for b in payload:
        if b in CONTROL_NAMES:
            out.append(f"<{CONTROL_NAMES[b]}>")
        elif 0x20 <= b < 0x7F:
            out.append(chr(b))
        else:
            out.append(f"<{b:02X}>")
    return "".join(out)


def _hex(data: bytes) -> str:
    return data.hex(" ").upper()


def trace_event(direction: str, event: Event) -> FrameTrace:
    if isinstance(event, Control):
        return FrameTrace(direction, event.name.lower(), f"{event.byte:02X}", event.name, 1)
    if isinstance(event, GoodFrame):
        masked = mask_payload(event.payload)
        raw = bytes([STX]) + masked + bytes([ETX]) + event.raw[-1:]
        return FrameTrace(
            direction,
            "frame",
            _hex(raw),
            f"<STX>{_readable(masked)}<ETX>[LRC {event.raw[-1]:02X}]",
            len(event.raw),
        )
    if isinstance(event, BadFrame):
        body = event.raw[1:-2] if len(event.raw) > 2 else b""
        masked = (
            bytes([STX]) + mask_payload(body) + event.raw[-2:] if len(event.raw) > 2 else event.raw
        )
        return FrameTrace(
            direction,
            "bad-frame",
            _hex(masked),
            f"{event.reason}: {_readable(masked)}",
            len(event.raw),
        )
    if isinstance(event, Noise):
        return FrameTrace(
            direction,
            "noise",
            _hex(event.raw[:64]),
            f"{len(event.raw)} noise byte(s)",
            len(event.raw),
        )
    raise TypeError(event)


def trace_bytes(direction: str, data: bytes) -> list[FrameTrace]:
    """Trace records for bytes written in one go (a frame or a control byte)."""
    from drivers.poslink.codec import FrameDecoder

    return [trace_event(direction, e) for e in FrameDecoder().feed(data)]


def note(text: str) -> FrameTrace:
    return FrameTrace("--", "note", "", text, 0)
