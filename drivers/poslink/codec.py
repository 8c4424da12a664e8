"""POSLink framing: bytes ⇄ frames, and frames ⇄ request/response messages. Pure: no I/O.

A frame is ``STX payload ETX LRC``; the LRC is the XOR of every byte after STX up to and including
ETX [R]. Fields are separated by FS, the sub-fields of a group by US [R]. Payload bytes must be
printable ASCII (plus FS and US): a frame with anything else in it is reported as bad even if the
LRC happens to match.

The decoder is incremental (serial reads split and merge frames arbitrarily) and never raises: any
byte sequence becomes a list of events. It does *not* restart on an STX inside a frame: doing so would
let a single corrupted byte turn the tail of a frame into a frame with a valid LRC. The one single-byte
corruption that framing cannot always catch is a payload byte turned into ETX when the next byte
happens to equal the truncated frame's LRC (1 in 256 of those cases); the message parser then
rejects most such frames by their field count, and the session checks command and ECR reference.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

STX = 0x02
ETX = 0x03
EOT = 0x04
ACK = 0x06
NAK = 0x15
FS = 0x1C
US = 0x1F

CONTROL_NAMES = {STX: "STX", ETX: "ETX", EOT: "EOT", ACK: "ACK", NAK: "NAK", FS: "FS", US: "US"}

#: Longest payload accepted before a frame is declared bad (a missing ETX must not eat memory).
MAX_PAYLOAD = 4096

_PRINTABLE = frozenset(range(0x20, 0x7F)) | {FS, US}


def lrc(data: bytes) -> int:
    """XOR of ``data`` (pass the bytes after STX up to and including ETX)."""
    value = 0
    for byte in data:
        value ^= byte
    return value


def frame(payload: bytes) -> bytes:
    """``STX payload ETX LRC``."""
    body = payload + bytes([ETX])
    return bytes([STX]) + body + bytes([lrc(body)])


def payload_is_clean(payload: bytes) -> bool:
    return all(b in _PRINTABLE for b in payload)


# --------------------------------------------------------------------------- decoder events


@dataclass(frozen=True)
class Control:
    """A single control byte outside a frame: ACK, NAK or EOT."""

    byte: int

    @property
    def name(self) -> str:
        return CONTROL_NAMES[self.byte]


@dataclass(frozen=True)
class GoodFrame:
    payload: bytes
    raw: bytes


@dataclass(frozen=True)
class BadFrame:
    raw: bytes
    reason: str


@dataclass(frozen=True)
class Noise:
    """Bytes outside any frame that mean nothing (line noise, a truncated frame's tail)."""

    raw: bytes


Event = Control | GoodFrame | BadFrame | Noise


class FrameDecoder:
    """Feed it bytes as they arrive; it returns the events completed so far. Never raises."""

    def __init__(self, max_payload: int = MAX_PAYLOAD) -> None:
        self._max = max_payload
        self._buf = bytearray()  # STX + payload (+ ETX) while inside a frame
        self._in_frame = False
        self._want_lrc = False
        self._noise = bytearray()

    @property
    def idle(self) -> bool:
        """True when no frame is half-received."""
        return not self._in_frame

    def reset(self) -> bytes:
        """Forget a half-received frame (an inter-byte time-out, a new exchange); returns the
        bytes dropped, so the caller can trace them."""
        dropped = bytes(self._buf) if self._in_frame else b""
        dropped += bytes(self._noise)
        self._buf = bytearray()
        self._noise = bytearray()
        self._in_frame = False
        self._want_lrc = False
        return dropped

    def feed(self, data: bytes) -> list[Event]:
        events: list[Event] = []
        for byte in data:
            if not self._in_frame:
                if byte == STX:
                    self._flush_noise(events)
                    self._in_frame = True
                    self._want_lrc = False
                    self._buf = bytearray([STX])
                elif byte in (ACK, NAK, EOT):
                    self._flush_noise(events)
                    events.append(Control(byte))
                else:
                    self._noise.append(byte)
                continue
            if self._want_lrc:
                raw = bytes(self._buf) + bytes([byte])
                self._in_frame = False
                self._want_lrc = False
                body = raw[1:-1]
                payload = body[:-1]
                if lrc(body) != byte:
                    events.append(
                        BadFrame(
                            raw, f"checksum mismatch (LRC {byte:#04x}, expected {lrc(body):#04x})"
                        )
                    )
                elif not payload_is_clean(payload):
                    events.append(BadFrame(raw, "control or non-ASCII byte inside the frame"))
                else:
                    events.append(GoodFrame(payload, raw))
                continue
            self._buf.append(byte)
            if byte == ETX:
                self._want_lrc = True
            elif len(self._buf) > self._max + 1:
                events.append(BadFrame(bytes(self._buf), "frame too long (no ETX)"))
                self._in_frame = False
        self._flush_noise(events)
        return events

    def _flush_noise(self, events: list[Event]) -> None:
        if self._noise:
            events.append(Noise(bytes(self._noise)))
            self._noise = bytearray()


def decode_all(data: bytes) -> list[Event]:
    """Decode a complete byte string (tests and tools)."""
    return FrameDecoder().feed(data)


# --------------------------------------------------------------------------- messages


class MessageError(ValueError):
    """A frame whose payload is not a well-formed POSLink message."""


def _check_text(value: str) -> bytes:
    try:
        data = value.encode("ascii")
    except UnicodeEncodeError as exc:
        raise MessageError(f"non-ASCII character in field {value!r}") from exc
    if any(b < 0x20 or b > 0x7E for b in data):
        raise MessageError(f"control character in field {value!r}")
    return data


def join_group(parts: Sequence[str]) -> str:
    """Sub-fields joined by US, empty trailing sub-fields trimmed [R]."""
    items = list(parts)
    while items and items[-1] == "":
        items.pop()
    for item in items:
        _check_text(item)
    return "\x1f".join(items)


def split_group(field: str) -> list[str]:
    return field.split("\x1f") if field else []


def group_item(field: str, index: int) -> str:
    parts = split_group(field)
    return parts[index] if index < len(parts) else ""


def ext_data(pairs: Iterable[tuple[str, str]]) -> str:
    """The additional-information group: ``KEY=VALUE`` joined by US [R]."""
    return join_group([f"{k}={v}" for k, v in pairs])


def parse_ext(field: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in split_group(field):
        key, sep, value = item.partition("=")
        if sep:
            out[key] = value
    return out


def _encode_fields(fields: Sequence[str]) -> bytes:
    parts = []
    for value in fields:
        for piece in value.split("\x1f"):
            _check_text(piece)
        parts.append(value.encode("ascii"))
    return bytes([FS]).join(parts)


def _decode_text(payload: bytes) -> list[str]:
    if not payload_is_clean(payload):
        raise MessageError("payload holds control or non-ASCII bytes")
    return payload.decode("ascii").split("\x1c")


@dataclass(frozen=True)
class Request:
    """ECR → terminal: ``cmd FS version FS field…`` (the FS after the version is always written)."""

    command: str
    version: str
    fields: tuple[str, ...] = ()

    def payload(self) -> bytes:
        head = _encode_fields([self.command, self.version])
        return head + bytes([FS]) + _encode_fields(self.fields)

    def encode(self) -> bytes:
        return frame(self.payload())

    def field(self, index: int) -> str:
        return self.fields[index] if index < len(self.fields) else ""


def decode_request(payload: bytes) -> Request:
    parts = _decode_text(payload)
    if len(parts) < 3 or len(parts[0]) != 3 or not parts[1]:
        raise MessageError("a request needs a 3-character command, a version and the FS after it")
    fields = tuple(parts[2:])
    if fields == ("",):
        fields = ()
    return Request(parts[0], parts[1], fields)


@dataclass(frozen=True)
class Response:
    """Terminal → ECR: ``status FS cmd FS version FS result code FS result text FS field…``.

    ``status`` "0" is a final reply; any other value is an intermediate status report [I].
    """

    status: str
    command: str
    version: str
    result_code: str
    result_text: str
    fields: tuple[str, ...] = ()

    @property
    def final(self) -> bool:
        return self.status == "0"

    def payload(self) -> bytes:
        head = [self.status, self.command, self.version, self.result_code, self.result_text]
        return _encode_fields([*head, *self.fields])

    def encode(self) -> bytes:
        return frame(self.payload())

    def field(self, index: int) -> str:
        return self.fields[index] if index < len(self.fields) else ""


def decode_response(payload: bytes) -> Response:
    parts = _decode_text(payload)
    if len(parts) < 5:
        raise MessageError(f"a response needs at least 5 fields, got {len(parts)}")
    status, command, version, code, text = parts[:5]
    if len(status) != 1 or len(command) != 3 or not version:
        raise MessageError("bad response header (status, command, version)")
    if len(code) != 6 or not code.isdigit():
        raise MessageError(f"result code {code!r} is not six digits")
    return Response(status, command, version, code, text, tuple(parts[5:]))


def reply_command(command: str) -> str:
    """The reply to ``T00`` is ``T01``, to ``A14`` ``A15`` [R]."""
    return f"{command[0]}{int(command[1:]) + 1:02d}"
