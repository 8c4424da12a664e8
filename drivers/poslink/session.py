"""The POSLink link-level handshake over one byte link.

ECR frame → terminal ACK (NAK: resend the *same* frame, at most ``retries`` times; after that EOT)
… terminal reply frame → ECR ACK (NAK on a bad LRC, the terminal resends) → terminal EOT [R GP, WS].

Money safety: the frame is resent only after an explicit NAK, i.e. while the terminal has not
accepted it. A missing ACK, a dropped line, a late or unreadable reply after acceptance all end in
:class:`OutcomeUnknown` — the caller settles it with a status query, never by sending again.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from drivers.poslink.codec import (
    ACK,
    EOT,
    NAK,
    BadFrame,
    Control,
    Event,
    FrameDecoder,
    GoodFrame,
    MessageError,
    Noise,
    Request,
    Response,
    decode_response,
)
from drivers.trace import FrameTrace, TraceCallback, note, trace_bytes, trace_event
from drivers.transports.base import Link


class SessionError(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class NotDelivered(SessionError):
    """The terminal never accepted the request (NAKs, EOT, port closed before sending): nothing
    happened at the terminal, so the caller may safely try again later."""


class OutcomeUnknown(SessionError):
    """The request may have been accepted but no final reply arrived."""

    def __init__(self, reason: str, accepted: bool) -> None:
        super().__init__(reason)
        self.accepted = accepted


@dataclass(frozen=True)
class Timing:
    ack_timeout: float = 3.0  # WS waits ~7 s; a terminal ACKs within milliseconds [I]
    response_timeout: float = 120.0  # card presentation time-outs are 60–120 s [R]
    eot_timeout: float = 1.0
    retries: int = 3  # resends after NAK [R GP, WS]


class Channel:
    """A link plus the frame decoder and the trace: turns bytes into events."""

    def __init__(self, link: Link, trace: TraceCallback | None = None) -> None:
        self.link = link
        self._trace = trace
        self._decoder = FrameDecoder()
        self._events: deque[Event] = deque()
        self._eof = False
        self.bytes_in = 0
        self.bytes_out = 0
        self.stale_eots = 0  # EOTs owed by the terminal for frames we ACKed but did not want
        # replies the terminal may still send for requests that timed out: (command, ECR ref, expiry)
        self.owed: list[tuple[str, str, float]] = []
        self.write_lock = asyncio.Lock()

    def emit(self, record: FrameTrace) -> None:
        if self._trace is not None:
            with contextlib.suppress(Exception):  # a broken log must never break a payment
                self._trace(record)

    def owe(self, command: str, ecr_ref: str, ttl: float) -> None:
        """A request was accepted but its reply never came: it may still arrive later."""
        self.owed.append((command, ecr_ref, time.monotonic() + ttl))

    def owes(self, command: str) -> bool:
        now = time.monotonic()
        self.owed = [o for o in self.owed if o[2] > now]
        return any(o[0] == command for o in self.owed)

    def settle(self, resp: Response | None) -> None:
        """A late reply arrived and was skipped: it is no longer owed."""
        if resp is None:
            return
        from drivers.poslink.messages import reply_ecr_ref

        ref = reply_ecr_ref(resp)
        for i, (command, owed_ref, _) in enumerate(self.owed):
            if command == resp.command and (not ref or ref == owed_ref):
                del self.owed[i]
                return

    async def send(self, data: bytes) -> None:
        async with self.write_lock:
            await self.link.write(data)
        self.bytes_out += len(data)
        for record in trace_bytes("tx", data):
            self.emit(record)

    async def send_soon(self, data: bytes) -> None:
        """Queue ``data`` without waiting for the write to finish, when the link can."""
        if not self.link.write_soon(data):
            await self.send(data)
            return
        self.bytes_out += len(data)
        for record in trace_bytes("tx", data):
            self.emit(record)

    async def event(self, timeout: float) -> Event:
        """The next event, or ``TimeoutError``; ``EOFError`` when the link closed."""
        deadline = time.monotonic() + max(0.0, timeout)
        while not self._events:
            if self._eof:
                raise EOFError("the line closed")
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError
            try:
                data = await asyncio.wait_for(self.link.read(), remaining)
            except TimeoutError:
                raise TimeoutError from None
            if not data:
                self._eof = True
                self.emit(note("the line closed"))
                continue
            self.bytes_in += len(data)
            for ev in self._decoder.feed(data):
                self.emit(trace_event("rx", ev))
                self._events.append(ev)
        return self._events.popleft()


Matcher = Callable[[Response], bool]
StatusCallback = Callable[[Response], None]


async def transact(
    chan: Channel,
    request: Request,
    *,
    timing: Timing,
    matches: Matcher,
    on_accepted: Callable[[], None] | None = None,
    on_status: StatusCallback | None = None,
    expect_reply: bool = True,
    response_timeout: float | None = None,
) -> Response | None:
    """Send ``request`` and return the terminal's final reply (``None`` when ``expect_reply`` is
    false: the exchange ends at the terminal's ACK and EOT, as for A14 cancel)."""
    data = request.encode()
    sends = 0
    pending: Response | None = None

    async def send_frame() -> None:
        nonlocal sends
        try:
            await chan.send(data)
        except (ConnectionError, OSError) as exc:
            if sends == 0:
                raise NotDelivered(f"could not write to the line: {exc}") from exc
            raise OutcomeUnknown(f"the line failed while resending: {exc}", accepted=False) from exc
        sends += 1

    await send_frame()
    # ---------------------------------------------------------------- phase 1: ACK or NAK
    deadline = time.monotonic() + timing.ack_timeout
    saw_eot = False
    while True:
        try:
            ev = await chan.event(deadline - time.monotonic())
        except TimeoutError:
            if saw_eot:
                reason = "the terminal ended the exchange (EOT) without acknowledging: is it busy or in a menu?"
            else:
                reason = f"no ACK from the terminal within {timing.ack_timeout:g} s"
            raise OutcomeUnknown(reason, accepted=False) from None
        except EOFError:
            raise OutcomeUnknown(
                "the line closed before the terminal acknowledged", accepted=False
            ) from None
        if isinstance(ev, Control):
            if ev.byte == ACK:
                break
            if ev.byte == NAK:
                if sends > timing.retries:
                    await _send_quietly(chan, bytes([EOT]))
                    raise NotDelivered(
                        f"the terminal refused the frame {sends} times (NAK): line noise or a wrong speed/version"
                    )
                await send_frame()  # the terminal has not accepted it: resending is safe
                deadline = time.monotonic() + timing.ack_timeout
                continue
            if ev.byte == EOT:
                if chan.stale_eots:
                    chan.stale_eots -= 1
                    continue
                # By the protocol it refused; but a stray EOT (the tail of an earlier exchange,
                # left on the line) looks the same. Keep listening until the ACK time-out: an ACK
                # may still follow. A money request is never declared "not sent" on an EOT alone.
                saw_eot = True
                continue
        elif isinstance(ev, GoodFrame):
            resp = _parse(ev)
            if resp is not None and matches(resp):
                pending = resp  # our ACK was lost but the reply came: the frame was accepted
                break
            await _ack_stale(chan, resp)
        elif isinstance(ev, BadFrame):
            await _send_quietly(chan, bytes([NAK]))
    if on_accepted is not None:
        on_accepted()
    # ---------------------------------------------------------------- phase 2: the reply
    if not expect_reply:
        await _await_eot(chan, timing.eot_timeout)
        return None
    wait = timing.response_timeout if response_timeout is None else response_timeout
    deadline = time.monotonic() + wait
    bad = 0
    while True:
        if pending is not None:
            resp, pending = pending, None
            await _send_quietly(chan, bytes([ACK]))
        else:
            try:
                ev = await chan.event(deadline - time.monotonic())
            except TimeoutError:
                raise OutcomeUnknown(
                    f"no reply from the terminal within {wait:g} s", accepted=True
                ) from None
            except EOFError:
                raise OutcomeUnknown(
                    "the line closed before the terminal replied", accepted=True
                ) from None
            if isinstance(ev, BadFrame):
                bad += 1
                if bad > timing.retries:
                    await _send_quietly(chan, bytes([EOT]))
                    raise OutcomeUnknown(
                        f"the terminal's reply was unreadable {bad} times (bad checksum)",
                        accepted=True,
                    )
                await _send_quietly(chan, bytes([NAK]))  # the terminal resends its reply
                continue
            if isinstance(ev, Control) and ev.byte == EOT and chan.stale_eots:
                chan.stale_eots -= 1
                continue
            if not isinstance(ev, GoodFrame):
                continue  # stray ACK (e.g. of a cancel) and noise between frames
            resp = _parse(ev)
            if resp is None:
                bad += 1
                if bad > timing.retries:
                    await _send_quietly(chan, bytes([EOT]))
                    raise OutcomeUnknown(
                        f"the terminal's reply was malformed {bad} times", accepted=True
                    )
                await _send_quietly(chan, bytes([NAK]))
                continue
            if not matches(resp):
                await _ack_stale(chan, resp)
                continue
            if resp.final:
                # the outcome is known: the ACK goes out in order, without holding up the caller
                with contextlib.suppress(ConnectionError, OSError):
                    await chan.send_soon(bytes([ACK]))
            else:
                await _send_quietly(chan, bytes([ACK]))
        if not resp.final:
            if on_status is not None:
                on_status(resp)
            continue
        # The outcome is known once we ACK the final reply. The terminal's closing EOT is not
        # waited for (it costs a round trip at the counter): the next exchange skips it.
        chan.stale_eots += 1
        return resp


def _parse(ev: GoodFrame) -> Response | None:
    try:
        return decode_response(ev.payload)
    except MessageError:
        return None


async def _send_quietly(chan: Channel, data: bytes) -> None:
    with contextlib.suppress(ConnectionError, OSError):
        await chan.send(data)


async def _ack_stale(chan: Channel, resp: Response | None) -> None:
    """A reply that is not ours (a late reply to an earlier request): acknowledge it so the
    terminal stops resending, and remember the EOT that will follow."""
    chan.emit(note("ignored a reply that does not belong to this request"))
    chan.settle(resp)
    chan.stale_eots += 1
    await _send_quietly(chan, bytes([ACK]))


async def _await_eot(chan: Channel, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            ev = await chan.event(deadline - time.monotonic())
        except (TimeoutError, EOFError):
            return
        if isinstance(ev, Control) and ev.byte == EOT:
            return
        if isinstance(ev, Noise):
            continue
        if isinstance(ev, GoodFrame | BadFrame):
            # the terminal resent its reply (it did not hear our ACK): acknowledge again
            await _send_quietly(chan, bytes([ACK] if isinstance(ev, GoodFrame) else [NAK]))
