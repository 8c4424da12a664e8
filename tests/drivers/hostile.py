"""A hostile POSLink terminal for the tests, written from the protocol notes
(``../shared/reference/poslink.md``, ``terminal-protocols.md``) alone: it shares no code and no
reading with ``drivers.simulator`` or the driver's codec. It builds its own frames, reads requests
with its own splitter, and follows a :class:`Plan` per request that can resend, delay, truncate,
drop fields, send garbage, flood, echo, and answer for another reference.

It keeps the books the invariants need: every approval it sent and for which reference and amount
(``approvals``), every request frame it received per reference, and the NAKs it sent.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import tty
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

STX, ETX, EOT, ACK, NAK, FS, US = 0x02, 0x03, 0x04, 0x06, 0x15, 0x1C, 0x1F
VERSION = "1.35"
OTHER_REF = "ZZOTHER0001"


def lrc(body: bytes) -> int:
    out = 0
    for b in body:
        out ^= b
    return out


def frame(*fields: str) -> bytes:
    """STX fields-joined-by-FS ETX LRC; LRC = XOR of everything after STX through ETX."""
    body = "\x1c".join(fields).encode("ascii") + bytes([ETX])
    return bytes([STX]) + body + bytes([lrc(body)])


def group(*subs: str) -> str:
    return "\x1f".join(subs)


def t01(
    code: str,
    *,
    ref: str,
    approved: str = "",
    due: str = "",
    host: str = "00",
    message: str = "APPROVAL",
    auth: str = "",
    text: str = "OK",
    status: str = "0",
    drop_fields: bool = False,
) -> bytes:
    """A DoCredit reply: status · T01 · version · result code · result text · host group
    (code, message, auth, host ref, trace, batch) · type · amount group (approved, due) · account
    group (last digits, entry mode …) · trace group (terminal ref, ECR ref) · AVS · commercial ·
    e-commerce · extra data."""
    fields = [
        status,
        "T01",
        VERSION,
        code,
        text,
        group(host, message, auth, f"H{auth}", "", "1"),
        "01",
        group(approved, due),
        group("1111", "4", "", "", "", "", "01"),
        group("77", ref),
        "",
        "",
        "",
        "",
    ]
    if drop_fields:
        fields = fields[:8]  # the account, trace and later groups left out
    return frame(*fields)


def r03(
    *, ref: str, host: str, message: str, approved: str, due: str = "", auth: str = "A1"
) -> bytes:
    """A local detail report reply: result 000000, total records, record number, then the stored
    transaction in the DoCredit reply's layout (no status, command or result of its own)."""
    return frame(
        "0",
        "R03",
        VERSION,
        "000000",
        "OK",
        "1",
        "0",
        group(host, message, auth, f"H{auth}", "", "1"),
        "01",
        group(approved, due),
        group("1111", "4"),
        group("77", ref),
        "",
        "",
        "",
        "",
    )


def split_frames(buf: bytearray) -> list[tuple[str, bytes]]:
    """Take complete units off ``buf``: ("ctl", byte) or ("frame", raw) or ("bad", raw)."""
    out: list[tuple[str, bytes]] = []
    while buf:
        b = buf[0]
        if b in (ACK, NAK, EOT):
            out.append(("ctl", bytes([b])))
            del buf[0]
            continue
        if b != STX:
            del buf[0]
            continue
        end = buf.find(bytes([ETX]))
        if end < 0 or end + 1 >= len(buf):
            break
        raw = bytes(buf[: end + 2])
        del buf[: end + 2]
        ok = lrc(raw[1:-1]) == raw[-1]
        out.append(("frame" if ok else "bad", raw))
    return out


def request_fields(raw: bytes) -> list[str]:
    return raw[1:-2].decode("ascii", "replace").split("\x1c")


def request_ref(fields: list[str]) -> str:
    """ECR reference: the first sub-field of the trace group (T00: the 6th field) [R]."""
    if fields and fields[0] == "T00" and len(fields) > 5:
        return fields[5].split("\x1f")[0]
    if fields and fields[0] == "R02" and len(fields) > 8:
        return fields[8]
    return ""


def request_amount(fields: list[str]) -> int:
    return int(fields[3].split("\x1f")[0]) if len(fields) > 3 else 0


@dataclass
class Plan:
    """How the terminal answers one request."""

    naks: int = 0  # NAK the request this many times first (beyond 3: the driver gives up)
    first: str = "ack"  # ack · silent · echo · eot (what it does once the NAKs are spent)
    garbage: bytes = b""  # written before the reply
    late: str = ""  # before the reply: "resend" the previous reply, or "late" = a new one for it
    status_frames: int = 0  # intermediate status frames before the reply
    reply: str = "approve"  # approve · partial · decline · none · truncated
    ref: str = "own"  # own · empty · other
    amount: str = "exact"  # exact · missing · decimal · more (approvals)
    drop_fields: bool = False
    resend_reply: int = 0  # resend the reply this many times even after the ACK
    eot: bool = True
    delay: float = 0.0  # before the reply


GOOD = Plan()


@dataclass
class HostileTerminal:
    plans: list[Plan] = field(default_factory=list)  # consumed per T00 request; then GOOD
    approvals: set[tuple[str, int, str]] = field(default_factory=set)
    requests: Counter[str] = field(default_factory=Counter)
    naks_sent: Counter[str] = field(default_factory=Counter)
    frames_by_ref: dict[str, bytes] = field(default_factory=dict)
    last_reply: bytes = b""
    last_ref: str = ""
    status_replies: list[bytes] = field(default_factory=list)  # R03 answers, consumed in order
    _auth: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    _nak_left: dict[str, int] = field(default_factory=dict)
    _plan: Plan = field(default_factory=Plan)
    _busy: int = 0

    @property
    def idle(self) -> bool:
        """No reaction is running (every script step has been played)."""
        return self._busy == 0

    # ------------------------------------------------------------------ one request

    async def react(
        self,
        raw: bytes,
        write: Callable[[bytes], Awaitable[None]],
        control: Callable[[float], Awaitable[bytes]],
    ) -> None:
        fields = request_fields(raw)
        cmd = fields[0] if fields else ""
        ref = request_ref(fields)
        if cmd == "T00":
            self.requests[ref] += 1
        if cmd != "T00":
            await write(bytes([ACK]))
            reply = self._other_reply(cmd, ref)
            if reply:
                await self._deliver(reply, write, control, eot=True)
            return
        if ref not in self._nak_left:
            plan = self.plans.pop(0) if self.plans else GOOD
            self._plan = plan
            self._nak_left[ref] = plan.naks
        plan = self._plan
        if self._nak_left[ref] > 0:
            self._nak_left[ref] -= 1
            self.naks_sent[ref] += 1
            await write(bytes([NAK]))
            return
        if plan.first == "silent":
            return
        if plan.first == "echo":
            await write(raw)
            return
        if plan.first == "eot":
            await write(bytes([EOT]))
            return
        await write(bytes([ACK]))
        if plan.garbage:
            await write(plan.garbage)
        if plan.late and self.last_reply:
            if plan.late == "resend":
                await write(self.last_reply)
            else:
                await write(self._approval(self.last_ref, 1234, "empty", "exact", False))
            await control(0.05)
        for i in range(plan.status_frames):
            await write(frame("1", "T01", VERSION, "000000", "WAITING FOR CARD"))
            if await control(0.05) != bytes([ACK]) and i > 3:
                break
        if plan.delay:
            await asyncio.sleep(plan.delay)
        amount = request_amount(fields)
        if plan.reply == "none":
            return
        if plan.reply == "decline":
            reply = t01(
                "000100",
                ref=self._ref(plan.ref, ref),
                host="05",
                message="DO NOT HONOR",
                text="DECLINED",
                drop_fields=plan.drop_fields,
            )
        else:
            reply = self._approval(ref, amount, plan.ref, plan.amount, plan.drop_fields, plan.reply)
        if plan.reply == "truncated":
            await write(reply[: len(reply) // 2])
            return
        self.last_reply, self.last_ref = reply, ref
        await self._deliver(reply, write, control, eot=plan.eot, resend=plan.resend_reply)

    def _ref(self, how: str, ref: str) -> str:
        return {"own": ref, "empty": "", "other": OTHER_REF}[how]

    def _approval(
        self, ref: str, amount: int, how: str, amount_how: str, drop: bool, kind: str = "approve"
    ) -> bytes:
        auth = f"X{next(self._auth):05d}"
        partial = kind == "partial"
        approved = amount // 2 if partial else amount
        text = {
            "exact": str(approved),
            "missing": "",
            "decimal": f"{approved / 100:.2f}",
            "more": str(amount + 100),
        }[amount_how]
        due = str(amount - approved) if partial else ""
        stated = self._ref(how, ref)
        if text.isdigit() and not drop:
            # what this approval is *for*: the reference it names, or (naming none) the request
            # it answers
            self.approvals.add((stated or ref, int(text), auth))
        return t01(
            "000002" if partial else "000000",
            ref=stated,
            approved=text,
            due=due,
            auth=auth,
            drop_fields=drop,
        )

    def _other_reply(self, cmd: str, ref: str) -> bytes:
        if cmd == "A00":
            return frame("0", "A01", VERSION, "000000", "OK", "HOSTILE1", "HOSTILE", "1.0")
        if cmd == "R02":
            if self.status_replies:
                return self.status_replies.pop(0)
            return frame("0", "R03", VERSION, "100023", "NOT FOUND", "0", "", "", "", "", "")
        if cmd == "B00":
            return frame("0", "B01", VERSION, "000000", "OK", group("00", "OK"), "x", "y")
        return b""

    async def _deliver(
        self,
        reply: bytes,
        write: Callable[[bytes], Awaitable[None]],
        control: Callable[[float], Awaitable[bytes]],
        *,
        eot: bool,
        resend: int = 0,
    ) -> None:
        for _ in range(4):
            await write(reply)
            answer = await control(0.3)
            if answer == bytes([ACK]):
                break
            if answer != bytes([NAK]):
                return
        for _ in range(resend):
            await write(reply)
            await control(0.3)
        if eot:
            await write(bytes([EOT]))

    # ------------------------------------------------------------------ serving a byte stream

    async def serve(
        self, read: Callable[[], Awaitable[bytes]], write: Callable[[bytes], Awaitable[None]]
    ) -> None:
        """Read the ECR's bytes; react to each request frame in order."""
        controls: asyncio.Queue[bytes] = asyncio.Queue()
        frames: asyncio.Queue[bytes] = asyncio.Queue()
        buf = bytearray()

        async def control(timeout: float) -> bytes:
            try:
                return await asyncio.wait_for(controls.get(), timeout)
            except TimeoutError:
                return b""

        async def pump() -> None:
            while True:
                data = await read()
                if not data:
                    await frames.put(b"")
                    return
                buf.extend(data)
                for kind, unit in split_frames(buf):
                    if kind == "ctl":
                        controls.put_nowait(unit)
                    elif kind == "frame":
                        await frames.put(unit)
                    else:
                        await write(bytes([NAK]))

        reader = asyncio.ensure_future(pump())
        try:
            while True:
                raw = await frames.get()
                if not raw:
                    return
                while not controls.empty():
                    controls.get_nowait()
                self._busy += 1
                try:
                    await self.react(raw, write, control)
                finally:
                    self._busy -= 1
        finally:
            reader.cancel()
            with contextlib.suppress(BaseException):
                await reader


@contextlib.asynccontextmanager
async def hostile_tcp(term: HostileTerminal):  # type: ignore[no-untyped-def]
    """The hostile terminal on loopback TCP; yields ``(host, port)``."""
    tasks: set[asyncio.Task[None]] = set()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        tasks.add(task)

        async def write(data: bytes) -> None:
            writer.write(data)
            with contextlib.suppress(ConnectionError):
                await writer.drain()

        async def read() -> bytes:
            try:
                return await reader.read(4096)
            except ConnectionError:
                return b""

        try:
            await term.serve(read, write)
        finally:
            writer.close()
            tasks.discard(task)

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    try:
        yield server.sockets[0].getsockname()[:2]
    finally:
        server.close()
        for task in list(tasks):
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


@contextlib.asynccontextmanager
async def hostile_pty(term: HostileTerminal):  # type: ignore[no-untyped-def]
    """The hostile terminal on a real pseudo-terminal (raw mode at once); yields the device path
    and a ``write`` to put bytes on the line outside any exchange."""
    master, slave = os.openpty()
    tty.setraw(master)
    tty.setraw(slave)
    os.set_blocking(master, False)
    loop = asyncio.get_running_loop()
    incoming: asyncio.Queue[bytes] = asyncio.Queue()

    def readable() -> None:
        try:
            data = os.read(master, 65536)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        incoming.put_nowait(data)

    loop.add_reader(master, readable)

    async def write(data: bytes) -> None:
        view = memoryview(data)
        while view:
            try:
                view = view[os.write(master, view) :]
            except BlockingIOError:
                await asyncio.sleep(0.001)

    task = asyncio.ensure_future(term.serve(incoming.get, write))
    try:
        yield os.ttyname(slave), write
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        loop.remove_reader(master)
        os.close(master)
        os.close(slave)
