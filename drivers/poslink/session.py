"""The POSLink link-level handshake as a sans-I/O state machine (h11's shape), and the small loop
that runs it over a byte link.

ECR frame → terminal ACK (NAK: resend the *same* frame, at most ``retries`` times; after that EOT)
… terminal reply frame → ECR ACK (NAK on a bad LRC, the terminal resends) → terminal EOT [R GP, WS].

:class:`LineSession` holds one line's state across exchanges. It is fed bytes
(:meth:`~LineSession.receive`) and clock ticks (:meth:`~LineSession.tick`) with the time they
happened, and returns what to do: :class:`Send` bytes, and the events :class:`Received`,
:class:`Accepted`, :class:`StatusFrame`, :class:`Finished`, :class:`Failed`. It never reads a clock,
sleeps or touches a socket, so the tests drive it byte by byte.

Money safety:

* The frame is resent only after an explicit NAK, i.e. while the terminal has not accepted it. A
  missing ACK, a dropped line, a late or unreadable reply after acceptance all end in
  :class:`OutcomeUnknown`: the caller settles it with a status query, never by sending again.
* A reply is the request's only if it can be tied to it: same reply command and the request's ECR
  reference. A money reply (T01, T13) that names no reference is never tied: where the line pins
  it (a fresh connection, a clean serial line) the exchange ends *unknown* at once, elsewhere it is
  acknowledged and ignored (it may be an earlier request's). Other replies without a reference
  (A01, B01, a not-found R03) are tied only where the line pins them — a fresh connection carrying
  this one request (TCP), or a serial line with no earlier exchange of that command left open.
* The exchange runs to the terminal's EOT on a shared line, so a resent reply (the terminal did not
  hear our ACK) is seen in its own exchange. Without that EOT the line counts as open for that
  command a while, so a later resend naming no reference is never taken; one naming a reference
  is the answer of that reference's request only.
* An inter-byte time-out drops a half-received frame, and every exchange starts with an empty
  decoder; status frames, resends and unreadable replies are all counted and bounded.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
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
    reply_command,
)
from drivers.poslink.messages import reply_ecr_ref
from drivers.trace import FrameTrace, TraceCallback, note, trace_bytes, trace_event
from drivers.transports.base import Link


class SessionError(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class NotDelivered(SessionError):
    """The terminal never accepted the request (NAKs, an echoing line, port closed before sending):
    nothing happened at the terminal, so the caller may safely try again later."""


class PortUnavailable(NotDelivered):
    """The port or address could not be opened at all."""

    def __init__(self, reason: str, hint: str = "") -> None:
        super().__init__(reason)
        self.hint = hint


class OutcomeUnknown(SessionError):
    """The request may have been accepted but no final reply that is its own arrived."""

    def __init__(self, reason: str, accepted: bool) -> None:
        super().__init__(reason)
        self.accepted = accepted


@dataclass(frozen=True)
class Timing:
    ack_timeout: float = 3.0  # WS waits ~7 s; a terminal ACKs within milliseconds [I]
    response_timeout: float = 120.0  # card presentation time-outs are 60–120 s [R]
    eot_timeout: float = 1.0  # the terminal's EOT after our ACK [I]; WS re-ACKs every 3 s
    retries: int = 3  # resends after NAK [R GP, WS]
    inter_byte_timeout: float = 0.5  # a frame stalled this long is dropped [I]
    max_status_frames: int = 32  # intermediate status frames one exchange accepts [I]


# --------------------------------------------------------------------------- what the machine says


@dataclass(frozen=True)
class Send:
    data: bytes


@dataclass(frozen=True)
class Received:
    """A decoded unit from the line (for the technician's trace)."""

    event: Event


@dataclass(frozen=True)
class Note:
    text: str


@dataclass(frozen=True)
class Accepted:
    """The terminal ACKed the request: from here a lost reply is *unknown*, never *not sent*."""


@dataclass(frozen=True)
class StatusFrame:
    response: Response


@dataclass(frozen=True)
class Finished:
    """The exchange is over; ``response`` is the request's own final reply (None for A14)."""

    response: Response | None


@dataclass(frozen=True)
class Failed:
    error: NotDelivered | OutcomeUnknown


Output = Send | Received | Note | Accepted | StatusFrame | Finished | Failed


class Phase(enum.Enum):
    IDLE = "idle"
    AWAIT_ACK = "waiting for the ACK"
    AWAIT_REPLY = "waiting for the reply"
    AWAIT_EOT = "waiting for the EOT"


@dataclass
class _Exchange:
    request: Request
    frame: bytes
    ecr_ref: str
    reply: str
    pinned: bool
    money: bool
    expect_reply: bool
    response_timeout: float
    sends: int = 1
    deadline: float = 0.0
    saw_eot: bool = False
    saw_echo: bool = False
    heard_terminal: bool = False
    bad: int = 0
    status_frames: int = 0
    untied: int = 0
    reply_resends: int = 0
    result: Response | None = None
    result_raw: bytes = b""


@dataclass(frozen=True)
class _Owed:
    """A reply the terminal may still send for an exchange that ended without it (or its EOT)."""

    command: str
    ecr_ref: str
    expires: float


#: replies that move money: they must name the request's ECR reference to be its reply
MONEY_REPLIES = frozenset({"T01", "T13"})
#: replies that say nothing about money (the terminal's identity): any one answers the question
HARMLESS_REPLIES = frozenset({"A01"})
#: how many replies already taken are remembered, to recognise their resends
_REMEMBERED_REPLIES = 8
#: how many open exchanges are remembered (their late replies make the line ambiguous)
_MAX_OWED = 16


class LineSession:
    """One line's POSLink state: feed it bytes and clock ticks, do what it returns.

    ``shared``: the line outlives one exchange (serial). On a line that is not shared (a TCP
    connection per request) a reply without an ECR reference is pinned to the one request the
    connection carried, and the exchange ends when that reply is acknowledged.
    """

    def __init__(self, timing: Timing, *, shared: bool) -> None:
        self.timing = timing
        self.shared = shared
        self.phase = Phase.IDLE
        self._decoder = FrameDecoder()
        self._last_rx: float | None = None
        self._ex: _Exchange | None = None
        self._owed: list[_Owed] = []
        self._taken: deque[bytes] = deque(maxlen=_REMEMBERED_REPLIES)

    # ------------------------------------------------------------------ inputs

    def start(
        self,
        request: Request,
        now: float,
        *,
        ecr_ref: str = "",
        expect_reply: bool = True,
        response_timeout: float | None = None,
    ) -> list[Output]:
        """Begin an exchange: returns the request frame to send."""
        if self.phase is not Phase.IDLE:
            raise RuntimeError(f"an exchange is already under way ({self.phase.value})")
        out: list[Output] = []
        self._drop_partial(out)  # each exchange starts clean
        expected = reply_command(request.command)
        self._owed = [o for o in self._owed if o.expires > now]
        pinned = (
            not self.shared
            or expected in HARMLESS_REPLIES
            or not any(o.command == expected for o in self._owed)
        )
        frame = request.encode()
        self._ex = _Exchange(
            request=request,
            frame=frame,
            ecr_ref=ecr_ref,
            reply=expected,
            pinned=pinned,
            money=expected in MONEY_REPLIES,
            expect_reply=expect_reply,
            response_timeout=(
                self.timing.response_timeout if response_timeout is None else response_timeout
            ),
            deadline=now + self.timing.ack_timeout,
        )
        self.phase = Phase.AWAIT_ACK
        out.append(Send(frame))
        return out

    def receive(self, data: bytes, now: float) -> list[Output]:
        """Bytes from the line, as they arrived at ``now``."""
        out: list[Output] = []
        if (
            self._last_rx is not None
            and not self._decoder.idle
            and now - self._last_rx > self.timing.inter_byte_timeout
        ):
            self._drop_partial(out, "a frame stopped half-way (inter-byte time-out)")
        self._last_rx = now
        for event in self._decoder.feed(data):
            out.append(Received(event))
            if self._ex is not None:
                self._on_event(event, now, out)
            elif isinstance(event, GoodFrame):
                self._between_exchanges(event, out)
        return out

    def tick(self, now: float) -> list[Output]:
        """The clock moved: fires the time-outs that are due."""
        out: list[Output] = []
        ex = self._ex
        if (
            self._last_rx is not None
            and not self._decoder.idle
            and now - self._last_rx > self.timing.inter_byte_timeout
        ):
            self._drop_partial(out, "a frame stopped half-way (inter-byte time-out)")
        if ex is None or now < ex.deadline:
            return out
        if self.phase is Phase.AWAIT_ACK:
            if ex.saw_echo and not ex.heard_terminal:
                self._fail(
                    out,
                    NotDelivered(
                        "the line sends back what we write and nothing else: a loop-back plug, "
                        "an echoing adapter or the wrong port"
                    ),
                )
            elif ex.saw_eot:
                self._fail(
                    out,
                    OutcomeUnknown(
                        "the terminal ended the exchange (EOT) without acknowledging: "
                        "is it busy or in a menu?",
                        accepted=False,
                    ),
                )
            else:
                self._fail(
                    out,
                    OutcomeUnknown(
                        f"no ACK from the terminal within {self.timing.ack_timeout:g} s",
                        accepted=False,
                    ),
                )
        elif self.phase is Phase.AWAIT_REPLY:
            if ex.untied:
                reason = (
                    f"no reply tied to {ex.ecr_ref or ex.request.command} within "
                    f"{ex.response_timeout:g} s ({ex.untied} reply(ies) that could not be tied to it "
                    "were ignored)"
                )
            else:
                reason = f"no reply from the terminal within {ex.response_timeout:g} s"
            self._owe(ex, now)
            self._fail(out, OutcomeUnknown(reason, accepted=True))
        elif self.phase is Phase.AWAIT_EOT:
            # the outcome is known; the terminal may still resend the reply: the line stays open
            self._owe(ex, now, ttl=max(10.0, 4 * self.timing.ack_timeout))
            out.append(Note("no EOT from the terminal after the reply"))
            self._finish(out)
        return out

    def closed(self, now: float) -> list[Output]:
        """The line closed (end of stream)."""
        out: list[Output] = []
        ex = self._ex
        if ex is None:
            return out
        out.append(Note("the line closed"))
        if self.phase is Phase.AWAIT_ACK:
            self._fail(
                out,
                OutcomeUnknown("the line closed before the terminal acknowledged", accepted=False),
            )
        elif self.phase is Phase.AWAIT_REPLY:
            self._owe(ex, now)
            self._fail(
                out, OutcomeUnknown("the line closed before the terminal replied", accepted=True)
            )
        else:
            self._finish(out)
        return out

    def send_failed(self, data: bytes, reason: str, now: float) -> list[Output]:
        """Writing ``data`` failed (the port went away)."""
        out: list[Output] = []
        ex = self._ex
        if ex is None:
            return out
        if self.phase is Phase.AWAIT_ACK and data == ex.frame:
            if ex.sends == 1:
                self._fail(out, NotDelivered(f"could not write to the line: {reason}"))
            else:
                self._fail(
                    out,
                    OutcomeUnknown(f"the line failed while resending: {reason}", accepted=False),
                )
        return out  # a failed ACK or NAK shows up as silence or end of stream

    def abandon(self, now: float) -> None:
        """The caller gave up on the exchange (its task was cancelled): if the terminal had
        accepted the request, its reply may still come, so the line is no longer pinned."""
        if self._ex is not None:
            self._owe(self._ex, now)  # the frame went out: the terminal may act on it
        self._ex = None
        self.phase = Phase.IDLE

    @property
    def deadline(self) -> float | None:
        """When :meth:`tick` must next be called (None: nothing is waiting on the clock)."""
        ex = self._ex
        candidates = []
        if ex is not None:
            candidates.append(ex.deadline)
        if self._last_rx is not None and not self._decoder.idle:
            candidates.append(self._last_rx + self.timing.inter_byte_timeout + 1e-3)
        return min(candidates) if candidates else None

    @property
    def owed(self) -> list[tuple[str, str]]:
        """(reply command, ECR reference) of exchanges whose reply may still arrive."""
        return [(o.command, o.ecr_ref) for o in self._owed]

    # ------------------------------------------------------------------ the handshake

    def _on_event(self, event: Event, now: float, out: list[Output]) -> None:
        ex = self._ex
        assert ex is not None
        if self.phase is Phase.AWAIT_ACK:
            self._awaiting_ack(ex, event, now, out)
        elif self.phase is Phase.AWAIT_REPLY:
            self._awaiting_reply(ex, event, now, out)
        elif self.phase is Phase.AWAIT_EOT:
            self._awaiting_eot(ex, event, out)

    def _awaiting_ack(self, ex: _Exchange, event: Event, now: float, out: list[Output]) -> None:
        if isinstance(event, GoodFrame) and event.raw == ex.frame:
            ex.saw_echo = True  # our own frame came back: the line echoes
            return
        if not isinstance(event, Noise):
            ex.heard_terminal = True
        if isinstance(event, Control):
            if event.byte == ACK:
                self._accepted(ex, now, out)
            elif event.byte == NAK:
                if ex.sends > self.timing.retries:
                    out.append(Send(bytes([EOT])))
                    self._fail(
                        out,
                        NotDelivered(
                            f"the terminal refused the frame {ex.sends} times (NAK): line noise "
                            "or a wrong speed/version"
                        ),
                    )
                    return
                ex.sends += 1  # not accepted yet: resending is safe
                ex.deadline = now + self.timing.ack_timeout
                out.append(Send(ex.frame))
            elif event.byte == EOT:
                # By the protocol it refused; but a stray EOT (the tail of an earlier exchange)
                # looks the same. Keep listening until the ACK time-out: an ACK may still follow.
                ex.saw_eot = True
        elif isinstance(event, BadFrame):
            out.append(Send(bytes([NAK])))
        elif isinstance(event, GoodFrame):
            resp = _parse(event)
            if resp is not None and resp.final and self._ties(ex, resp, event.raw):
                # our ACK was lost but the reply came: the terminal had accepted the request
                self._accepted(ex, now, out)
                self._take(ex, resp, event.raw, now, out)
                return
            self._not_ours(ex, resp, event.raw, out)

    def _awaiting_reply(self, ex: _Exchange, event: Event, now: float, out: list[Output]) -> None:
        if isinstance(event, Control | Noise):
            return  # a stray ACK/NAK/EOT (an earlier exchange's tail, a cancel's) or noise
        if isinstance(event, BadFrame):
            self._unreadable(ex, out, "unreadable (bad checksum)")
            return
        if event.raw == ex.frame:
            return  # an echo of our request
        resp = _parse(event)
        if resp is None:
            self._unreadable(ex, out, "malformed")
            return
        if resp.command != ex.reply:
            self._not_ours(ex, resp, event.raw, out)
            return
        if not resp.final:
            ex.status_frames += 1
            out.append(Send(bytes([ACK])))
            if ex.status_frames > self.timing.max_status_frames:
                self._owe(ex, now)
                self._fail(
                    out,
                    OutcomeUnknown(
                        f"the terminal sent {ex.status_frames} status frames and no reply",
                        accepted=True,
                    ),
                )
                return
            out.append(StatusFrame(resp))
            return
        if not self._ties(ex, resp, event.raw):
            self._not_ours(ex, resp, event.raw, out)
            if ex.money and ex.pinned and not reply_ecr_ref(resp):
                # the answer to this request, most likely, but it names no reference: it cannot
                # be credited to this sale, nor can a later frame be told from it
                self._owe(ex, now)
                self._fail(
                    out,
                    OutcomeUnknown(
                        "the terminal's reply names no ECR reference, so it cannot be tied to "
                        f"{ex.ecr_ref}",
                        accepted=True,
                    ),
                )
            return
        self._take(ex, resp, event.raw, now, out)

    def _awaiting_eot(self, ex: _Exchange, event: Event, out: list[Output]) -> None:
        if isinstance(event, Control):
            if event.byte == EOT:
                self._finish(out)
            return
        if isinstance(event, BadFrame):
            ex.reply_resends += 1
            if ex.reply_resends <= self.timing.retries:
                out.append(Send(bytes([NAK])))
            return
        if isinstance(event, GoodFrame):
            ex.reply_resends += 1
            if ex.reply_resends <= self.timing.retries + 1:
                out.append(Send(bytes([ACK])))  # a resend (it did not hear us) or a stray reply
            if event.raw != ex.result_raw:
                out.append(Note("ignored a reply that does not belong to this request"))

    def _between_exchanges(self, event: GoodFrame, out: list[Output]) -> None:
        """A reply that arrived while no exchange was running (a late reply, a resend): it is no
        one's now, but acknowledging it lets the terminal finish, instead of resending it and
        holding back the next reply."""
        resp = _parse(event)
        if resp is None:
            return
        if event.raw not in self._taken:
            self._settle(resp)
        out.append(Send(bytes([ACK])))
        out.append(Note("acknowledged a reply that arrived between exchanges (ignored)"))

    # ------------------------------------------------------------------ helpers

    def _ties(self, ex: _Exchange, resp: Response, raw: bytes) -> bool:
        """True when ``resp`` is the final reply of the request in flight."""
        if resp.command != ex.reply:
            return False
        # A copy of a reply already taken is not refused here: the same question asked twice
        # (a status query repeated, a second identification) gets the very same bytes back. A
        # resend of a money reply names its own reference; one naming none is never taken.
        ref = reply_ecr_ref(resp)
        if ref:
            return ref == ex.ecr_ref
        return ex.pinned and not ex.money

    def _accepted(self, ex: _Exchange, now: float, out: list[Output]) -> None:
        out.append(Accepted())
        if ex.expect_reply:
            self.phase = Phase.AWAIT_REPLY
            ex.deadline = now + ex.response_timeout
        else:
            self.phase = Phase.AWAIT_EOT
            ex.deadline = now + self.timing.eot_timeout

    def _take(
        self, ex: _Exchange, resp: Response, raw: bytes, now: float, out: list[Output]
    ) -> None:
        out.append(Send(bytes([ACK])))
        ex.result = resp
        ex.result_raw = raw
        self._taken.append(raw)
        self._settle(resp)
        if not self.shared:
            self._finish(out)  # a connection per request: nothing can follow on it
            return
        self.phase = Phase.AWAIT_EOT
        ex.deadline = now + self.timing.eot_timeout

    def _not_ours(
        self, ex: _Exchange, resp: Response | None, raw: bytes, out: list[Output]
    ) -> None:
        """A frame that is not this request's reply: acknowledge it (the terminal stops resending)
        and ignore it."""
        if resp is None:
            return  # not a reply at all (e.g. a request from a confused peer): no answer
        if resp.command == ex.reply and resp.final and not reply_ecr_ref(resp):
            ex.untied += 1
        if raw not in self._taken:
            self._settle(resp)
        out.append(Send(bytes([ACK])))
        out.append(Note("ignored a reply that does not belong to this request"))

    def _unreadable(self, ex: _Exchange, out: list[Output], what: str) -> None:
        ex.bad += 1
        if ex.bad > self.timing.retries:
            out.append(Send(bytes([EOT])))
            self._owe(ex, None)
            self._fail(
                out,
                OutcomeUnknown(f"the terminal's reply was {what} {ex.bad} times", accepted=True),
            )
            return
        out.append(Send(bytes([NAK])))  # the terminal resends its reply

    def _owe(self, ex: _Exchange, now: float | None, ttl: float | None = None) -> None:
        if not self.shared:
            return
        if ttl is None:
            ttl = max(60.0, 2 * ex.response_timeout)
        start = now if now is not None else ex.deadline
        self._owed.append(_Owed(ex.reply, ex.ecr_ref, start + ttl))
        del self._owed[:-_MAX_OWED]

    def _settle(self, resp: Response) -> None:
        """A reply arrived for an exchange that ended without it: it is no longer owed."""
        ref = reply_ecr_ref(resp)
        for i, owed in enumerate(self._owed):
            if owed.command == resp.command and (not ref or ref == owed.ecr_ref):
                del self._owed[i]
                return

    def _drop_partial(self, out: list[Output], why: str = "") -> None:
        dropped = self._decoder.reset()
        if dropped:
            out.append(Received(Noise(dropped)))
            if why:
                out.append(Note(why))

    def _fail(self, out: list[Output], error: NotDelivered | OutcomeUnknown) -> None:
        out.append(Failed(error))
        self._ex = None
        self.phase = Phase.IDLE

    def _finish(self, out: list[Output]) -> None:
        ex = self._ex
        assert ex is not None
        out.append(Finished(ex.result))
        self._ex = None
        self.phase = Phase.IDLE


def _parse(ev: GoodFrame) -> Response | None:
    try:
        return decode_response(ev.payload)
    except MessageError:
        return None


# --------------------------------------------------------------------------- the I/O around it


class Channel:
    """A link, its :class:`LineSession` and the trace: moves bytes between them."""

    def __init__(
        self, link: Link, timing: Timing, trace: TraceCallback | None = None, *, shared: bool
    ) -> None:
        self.link = link
        self.session = LineSession(timing, shared=shared)
        self._trace = trace
        self.bytes_in = 0
        self.bytes_out = 0
        self.write_lock = asyncio.Lock()

    def emit(self, record: FrameTrace) -> None:
        if self._trace is not None:
            with contextlib.suppress(Exception):  # a broken log must never break a payment
                self._trace(record)

    async def send(self, data: bytes) -> None:
        async with self.write_lock:
            await self.link.write(data)
        self.bytes_out += len(data)
        for record in trace_bytes("tx", data):
            self.emit(record)


Matcher = Callable[[Response], bool]
StatusCallback = Callable[[Response], None]


async def transact(
    chan: Channel,
    request: Request,
    *,
    ecr_ref: str = "",
    on_accepted: Callable[[], None] | None = None,
    on_status: StatusCallback | None = None,
    expect_reply: bool = True,
    response_timeout: float | None = None,
    clock: Callable[[], float] = time.monotonic,
) -> Response | None:
    """Run one exchange of ``chan``'s session over its link; returns the request's final reply
    (``None`` when ``expect_reply`` is false: the exchange ends at the terminal's ACK and EOT)."""
    session = chan.session
    # what arrived while nobody listened belongs to no exchange: replies in it are acknowledged
    # (the terminal then stops resending them), then the exchange starts with an empty decoder
    leftover = chan.link.take_input()
    outputs: list[Output] = []
    if leftover:
        chan.bytes_in += len(leftover)
        outputs = session.receive(leftover, clock())
    outputs += session.start(
        request,
        clock(),
        ecr_ref=ecr_ref,
        expect_reply=expect_reply,
        response_timeout=response_timeout,
    )
    try:
        while True:
            pending = list(outputs)
            outputs = []
            for out in pending:
                if isinstance(out, Send):
                    try:
                        await chan.send(out.data)
                    except (ConnectionError, OSError) as exc:
                        outputs.extend(session.send_failed(out.data, str(exc), clock()))
                elif isinstance(out, Received):
                    chan.emit(trace_event("rx", out.event))
                elif isinstance(out, Note):
                    chan.emit(note(out.text))
                elif isinstance(out, Accepted):
                    if on_accepted is not None:
                        on_accepted()
                elif isinstance(out, StatusFrame):
                    if on_status is not None:
                        with contextlib.suppress(Exception):
                            on_status(out.response)
                elif isinstance(out, Finished):
                    return out.response
                elif isinstance(out, Failed):
                    raise out.error
            if outputs:
                continue
            deadline = session.deadline
            wait = None if deadline is None else max(0.0, deadline - clock())
            try:
                data = await asyncio.wait_for(chan.link.read(), wait)
            except TimeoutError:
                outputs = session.tick(clock())
                continue
            if not data:
                outputs = session.closed(clock())
                continue
            chan.bytes_in += len(data)
            outputs = session.receive(data, clock())
    finally:
        if session.phase is not Phase.IDLE:  # cancelled mid-exchange: the line is in doubt
            session.abandon(clock())
