"""The terminal side of the POSLink handshake: reads frames from one link, ACKs or NAKs them,
hands requests to the :class:`Simulator`, and sends replies until the ECR ACKs them, then EOT.

The same engine serves TCP connections, the in-process ``sim://`` socket pair and the pty.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from typing import Protocol

from drivers.poslink import messages as m
from drivers.poslink.codec import (
    ACK,
    EOT,
    NAK,
    STX,
    BadFrame,
    Control,
    FrameDecoder,
    GoodFrame,
    MessageError,
    Request,
    Response,
    decode_request,
    reply_command,
)
from drivers.simulator.model import CANCEL_DONE, LOST, SILENT, Simulator

ACK_TIMEOUT = 2.0
RESENDS = 3
_NOISE = bytes(b for b in range(0x20, 0x100) if b not in (STX, ACK, NAK, EOT))


class SimLink(Protocol):
    async def read(self) -> bytes: ...
    async def write(self, data: bytes) -> None: ...
    async def close(self) -> None: ...


class Connection:
    """One ECR on one link."""

    def __init__(
        self,
        sim: Simulator,
        link: SimLink,
        *,
        drop_on_lost_reply: bool,
        rng: random.Random | None = None,
    ) -> None:
        self.sim = sim
        self.link = link
        self.drop_on_lost_reply = drop_on_lost_reply
        self._decoder = FrameDecoder()
        self._waiter: asyncio.Future[int] | None = None
        self._tx_lock = asyncio.Lock()
        self._write_lock = asyncio.Lock()
        self._tasks: set[asyncio.Task[None]] = set()
        self._closed = False
        self._rng = rng or random.Random(0)

    async def run(self) -> None:
        try:
            while True:
                data = await self.link.read()
                if not data:
                    break
                for ev in self._decoder.feed(data):
                    await self._on_event(ev)
        except (ConnectionError, OSError):
            pass
        finally:
            self._closed = True
            if self._waiter is not None and not self._waiter.done():
                self._waiter.set_result(EOT)
            # work already accepted goes on (a real terminal finishes what it started)
            if self._tasks:
                await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _on_event(self, ev: object) -> None:
        if isinstance(ev, Control):
            if self._waiter is not None and not self._waiter.done():
                self._waiter.set_result(ev.byte)
            return
        if isinstance(ev, BadFrame):
            await self._write(bytes([NAK]))
            return
        if not isinstance(ev, GoodFrame):
            return  # noise
        self.sim.frames_received += 1
        if self.sim.take_fault("no_ack"):
            return
        if self.sim.take_fault("nak_storm"):
            await self._write(bytes([NAK]))
            return
        await self._write(bytes([ACK]))  # the frame arrived intact: NAK is for a bad LRC only
        try:
            request = decode_request(ev.payload)
        except MessageError as exc:
            # well framed but malformed: the terminal answers a format error [R PX]
            task = asyncio.ensure_future(self._format_error(ev.payload, str(exc)))
        else:
            task = asyncio.ensure_future(self._process(request))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _format_error(self, payload: bytes, problem: str) -> None:
        head = payload[:3].decode("ascii", "replace")
        try:
            command = reply_command(head)
        except ValueError:
            command = "000"
        text = f"FORMAT ERROR {problem}"[:60]
        reply = Response("0", command, self.sim.version, m.FORMAT_ERROR, _printable(text))
        await self.send_frame(reply.encode(), final=True)

    async def _process(self, request: Request) -> None:
        want_status = m.request_ext(request).get(m.REPORTSTATUS) == "1"
        reply_cmd = reply_command(request.command)

        async def report(text: str) -> None:
            if want_status:
                await self.send_frame(
                    m.status_report(reply_cmd, text, self.sim.version).encode(), final=False
                )

        try:
            reply = await self.sim.handle(request, report)
        except Exception as exc:  # the model must never take the link down
            reply = Response(
                "0", reply_cmd, self.sim.version, "100010", f"TERMINAL ERROR {type(exc).__name__}"
            )
        if reply is CANCEL_DONE:
            await self._write(bytes([EOT]))
            return
        if reply is SILENT:
            return
        if reply is LOST:
            if self.drop_on_lost_reply:
                with contextlib.suppress(Exception):
                    await self.link.close()
            return
        assert isinstance(reply, Response)
        await self.send_frame(reply.encode(), final=True)

    async def _write(self, data: bytes) -> None:
        if self._closed:
            return
        async with self._write_lock:
            try:
                await self.link.write(data)
            except (ConnectionError, OSError):
                self._closed = True

    async def send_frame(self, data: bytes, *, final: bool) -> bool:
        """Send a frame until the ECR ACKs it (≤ 3 resends on NAK or silence); EOT after a final one."""
        async with self._tx_lock:
            for _attempt in range(1 + RESENDS):
                if self._closed:
                    return False
                out = data
                if self.sim.take_fault("corrupt_checksum"):
                    out = data[:-1] + bytes([data[-1] ^ 0x5A])
                loop = asyncio.get_running_loop()
                self._waiter = loop.create_future()
                if self.sim.take_fault("line_noise"):
                    noise = bytes(self._rng.choice(_NOISE) for _ in range(self._rng.randint(3, 24)))
                    half = len(out) // 2
                    await self._write(noise)
                    await self._write(out[:half])
                    await asyncio.sleep(0.002)
                    await self._write(out[half:])
                else:
                    await self._write(out)
                try:
                    answer = await asyncio.wait_for(self._waiter, ACK_TIMEOUT)
                except TimeoutError:
                    continue
                finally:
                    self._waiter = None
                if answer == ACK:
                    if final:
                        await self._write(bytes([EOT]))
                    return True
                if answer == EOT:
                    return False
            await self._write(bytes([EOT]))
            return False

    async def aclose(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        with contextlib.suppress(Exception):
            await self.link.close()


def _printable(text: str) -> str:
    return "".join(c if " " <= c <= "~" else "?" for c in text)
