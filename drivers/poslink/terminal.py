"""A PAX POSLink terminal behind any byte connector (serial, TCP, the in-process simulator)."""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field

from drivers.base import (
    AchAccount,
    BatchClosed,
    ProgressCallback,
    StatusResult,
    Terminal,
    TerminalError,
    TerminalInfo,
    TerminalState,
    TransactionResult,
    Unknown,
)
from drivers.errors import TerminalConnectionError
from drivers.poslink import messages as m
from drivers.poslink.codec import EOT, Control, MessageError, Request, Response, reply_command
from drivers.poslink.session import Channel, NotDelivered, OutcomeUnknown, Timing, transact
from drivers.trace import TraceCallback, note
from drivers.transports.base import Connector, LinkUnavailable

STATUS_STATES = {
    "WAITING FOR CARD": TerminalState.WAITING_FOR_CARD,
    "WAITING FOR PIN": TerminalState.WAITING_FOR_PIN,
    "KEYED ENTRY": TerminalState.KEYED_ENTRY,
    "AUTHORISING": TerminalState.AUTHORISING,
}


@dataclass(frozen=True)
class PosLinkOptions:
    version: str = m.DEFAULT_VERSION
    timing: Timing = field(default_factory=Timing)
    #: ask for intermediate status frames (REPORTSTATUS=1) [I: off by default for real terminals]
    report_status: bool = False
    #: put the ECR reference in A14 so the terminal cancels only that request [I]
    cancel_with_ref: bool = True
    #: the extra-data item that asks for keyed entry [I: check the terminal's POSLink spec]
    manual_entry: str = f"{m.MANUALENTRY}=1"


class PosLinkTerminal(Terminal):
    """One terminal. Requests are serialised (a terminal does one thing at a time); ``cancel`` is
    the exception: it goes out while a request is in flight."""

    def __init__(
        self,
        url: str,
        connector: Connector,
        options: PosLinkOptions | None = None,
        trace: TraceCallback | None = None,
    ) -> None:
        self.url = url
        self.connector = connector
        self.options = options or PosLinkOptions()
        self._trace = trace
        self._lock = asyncio.Lock()
        self._in_flight: str | None = None  # ECR ref of the money request on the line
        self._accepted = asyncio.Event()
        self._done = asyncio.Event()  # set when the money request in flight has ended
        self._channel: Channel | None = None  # persistent connectors keep one channel
        self.last_exchange_bytes = 0  # bytes both ways in the last exchange (benchmarks, logs)
        self.ambiguous_reply = False  # the last exchange might have received an overdue reply

    # ------------------------------------------------------------------ plumbing

    async def _open_channel(self) -> Channel:
        try:
            link = await self.connector.open()
        except LinkUnavailable as exc:
            raise NotDelivered(f"{exc} — {exc.hint}" if exc.hint else str(exc)) from exc
        if self.connector.persistent:
            if self._channel is None or self._channel.link is not link:
                self._channel = Channel(link, self._trace)
            return self._channel
        return Channel(link, self._trace)

    async def _exchange(
        self,
        request: Request,
        *,
        ecr_ref: str | None,
        progress: ProgressCallback | None = None,
        accepted_state: TerminalState | None = None,
        money: bool = False,
    ) -> Response:
        expected = reply_command(request.command)

        def matches(resp: Response) -> bool:
            if resp.command != expected:
                return False
            if ecr_ref and resp.final:
                got = m.reply_ecr_ref(resp)
                return got in ("", ecr_ref)  # a terminal that does not echo it: trust the command
            return True

        def on_accepted() -> None:
            self._accepted.set()
            if progress and accepted_state:
                progress(accepted_state)

        def on_status(resp: Response) -> None:
            state = STATUS_STATES.get(resp.result_text.upper())
            if progress and state:
                progress(state)

        if progress is not None:
            progress = _deduplicated(progress)
        async with self._lock:
            if progress:
                progress(TerminalState.SENDING)
            if money:  # from here a cancel() waits for the terminal to accept, then sends A14
                self._in_flight = ecr_ref
                self._accepted.clear()
                self._done.clear()
            try:
                chan = await self._open_channel()
            except BaseException:
                if money:
                    self._in_flight = None
                    self._done.set()
                raise
            start_in, start_out = chan.bytes_in, chan.bytes_out
            self.ambiguous_reply = ecr_ref is not None and chan.owes(expected)
            try:
                resp = await transact(
                    chan,
                    request,
                    timing=self.options.timing,
                    matches=matches,
                    on_accepted=on_accepted,
                    on_status=on_status,
                )
                assert resp is not None
                if progress:
                    progress(TerminalState.DONE)
                return resp
            except OutcomeUnknown as exc:
                if exc.accepted and self.connector.persistent:
                    # on a shared line its reply may still come: recognise it then
                    ttl = max(60.0, 2 * self.options.timing.response_timeout)
                    chan.owe(expected, ecr_ref or "", ttl)
                raise
            finally:
                self.last_exchange_bytes = chan.bytes_in - start_in + chan.bytes_out - start_out
                if money:
                    self._in_flight = None
                    self._accepted.clear()
                    self._done.set()
                with contextlib.suppress(Exception):
                    await self.connector.release(chan.link)

    def _ext(self, *pairs: tuple[str, str]) -> list[tuple[str, str]]:
        ext = list(pairs)
        if self.options.report_status:
            ext.append((m.REPORTSTATUS, "1"))
        return ext

    async def _money(
        self,
        request: Request,
        ecr_ref: str,
        requested: int,
        progress: ProgressCallback | None,
        accepted_state: TerminalState,
        *,
        token_used: bool = False,
        ach: bool = False,
    ) -> TransactionResult:
        try:
            resp = await self._exchange(
                request,
                ecr_ref=ecr_ref,
                progress=progress,
                accepted_state=accepted_state,
                money=True,
            )
        except NotDelivered as exc:
            return TerminalError(
                ecr_ref, "NOT_SENT", f"the request did not reach the terminal: {exc.reason}"
            )
        except OutcomeUnknown as exc:
            return Unknown(ecr_ref, f"{exc.reason}; ask the terminal for the status of {ecr_ref}")
        try:
            return m.result_from(
                resp, ecr_ref=ecr_ref, requested_cents=requested, token_used=token_used, ach=ach
            )
        except MessageError as exc:
            return Unknown(
                ecr_ref, f"the terminal's reply could not be read ({exc}); ask for the status"
            )

    # ------------------------------------------------------------------ the Terminal API

    async def initialize(self) -> TerminalInfo:
        try:
            resp = await self._exchange(m.initialize(self.options.version), ecr_ref=None)
        except NotDelivered as exc:
            raise TerminalConnectionError(exc.reason) from exc
        except OutcomeUnknown as exc:
            raise TerminalConnectionError(exc.reason) from exc
        if resp.result_code != m.OK:
            raise TerminalConnectionError(m.error_from(None, resp).message)
        return m.parse_identity(resp)

    async def sale(
        self,
        amount_cents: int,
        ecr_ref: str,
        *,
        request_token: bool = False,
        keyed: bool = False,
        progress: ProgressCallback | None = None,
    ) -> TransactionResult:
        ext: list[tuple[str, str]] = []
        if request_token:
            ext.append((m.TOKENREQUEST, "1"))
        if keyed:
            key, _, value = self.options.manual_entry.partition("=")
            ext.append((key, value))
        req = m.credit(
            m.SALE,
            ecr_ref=ecr_ref,
            amount_cents=amount_cents,
            ext=self._ext(*ext),
            version=self.options.version,
        )
        state = TerminalState.KEYED_ENTRY if keyed else TerminalState.WAITING_FOR_CARD
        return await self._money(req, ecr_ref, amount_cents, progress, state)

    async def sale_with_token(
        self,
        amount_cents: int,
        ecr_ref: str,
        token: str,
        *,
        progress: ProgressCallback | None = None,
    ) -> TransactionResult:
        if not token or any(not (c.isalnum() or c in "-_") for c in token):
            raise ValueError(
                "the card-on-file token is empty or holds characters a terminal cannot take"
            )
        req = m.credit(
            m.SALE,
            ecr_ref=ecr_ref,
            amount_cents=amount_cents,
            ext=self._ext((m.TOKEN, token)),
            version=self.options.version,
        )
        return await self._money(
            req, ecr_ref, amount_cents, progress, TerminalState.AUTHORISING, token_used=True
        )

    async def ach_sale(
        self,
        amount_cents: int,
        ecr_ref: str,
        account: AchAccount,
        *,
        progress: ProgressCallback | None = None,
    ) -> TransactionResult:
        req = m.check_sale(
            ecr_ref=ecr_ref,
            amount_cents=amount_cents,
            routing=account.routing_number,
            account=account.account_number,
            account_type=account.account_type,
            holder=account.holder_name,
            report_status=self.options.report_status,
            version=self.options.version,
        )
        return await self._money(
            req, ecr_ref, amount_cents, progress, TerminalState.AUTHORISING, ach=True
        )

    async def refund(
        self,
        amount_cents: int,
        ecr_ref: str,
        original_ref: str,
        *,
        progress: ProgressCallback | None = None,
    ) -> TransactionResult:
        m.check_ref(original_ref, "original reference")
        req = m.credit(
            m.RETURN,
            ecr_ref=ecr_ref,
            amount_cents=amount_cents,
            ext=self._ext((m.HREF, original_ref)),
            version=self.options.version,
        )
        return await self._money(req, ecr_ref, amount_cents, progress, TerminalState.AUTHORISING)

    async def void(
        self, ecr_ref: str, original_ref: str, *, progress: ProgressCallback | None = None
    ) -> TransactionResult:
        m.check_ref(original_ref, "original reference")
        req = m.credit(
            m.VOID,
            ecr_ref=ecr_ref,
            ext=self._ext((m.HREF, original_ref)),
            version=self.options.version,
        )
        return await self._money(req, ecr_ref, 0, progress, TerminalState.AUTHORISING)

    async def batch_close(self) -> BatchClosed | TerminalError:
        try:
            resp = await self._exchange(m.batch_close(self.options.version), ecr_ref=None)
        except NotDelivered as exc:
            return TerminalError(
                None, "NOT_SENT", f"batch close did not reach the terminal: {exc.reason}"
            )
        except OutcomeUnknown as exc:
            return TerminalError(
                None,
                "UNKNOWN",
                f"batch close outcome unknown: {exc.reason}; check the terminal's batch report",
            )
        return m.parse_batch(resp)

    async def status(self, ecr_ref: str) -> StatusResult:
        try:
            resp = await self._exchange(
                m.local_detail(ecr_ref, self.options.version), ecr_ref=ecr_ref
            )
        except (NotDelivered, OutcomeUnknown) as exc:
            return Unknown(ecr_ref, f"status query failed: {exc.reason}; try again")
        if not m.reply_ecr_ref(resp) and self.ambiguous_reply:
            # this terminal does not echo the reference and an earlier query's reply is overdue:
            # the answer may belong to that query
            return Unknown(
                ecr_ref, "the terminal's answer may belong to an earlier query; ask again"
            )
        if resp.result_code == m.IN_PROGRESS:
            return Unknown(
                ecr_ref, "the terminal is still working on this request; ask again shortly"
            )
        try:
            return m.status_from(resp, ecr_ref)
        except MessageError as exc:
            return Unknown(ecr_ref, f"the status reply could not be read ({exc}); try again")

    async def cancel(self) -> None:
        """Cancel this connection's in-flight request, and nothing else: with no request in flight
        nothing is sent. A14 carries the request's ECR reference [I] so a shared terminal cannot
        cancel another register's transaction."""
        ref = self._in_flight
        if ref is None:
            return
        # wait until the terminal has accepted our request, so the A14 cannot overtake it
        waits = [
            asyncio.ensure_future(self._accepted.wait()),
            asyncio.ensure_future(self._done.wait()),
        ]
        limit = self.options.timing.ack_timeout * (self.options.timing.retries + 1)
        try:
            await asyncio.wait(waits, timeout=limit, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiter in waits:
                waiter.cancel()
        if self._in_flight != ref or not self._accepted.is_set():
            return  # it finished (or was never accepted) meanwhile: nothing of ours to cancel
        req = m.cancel(self.options.version, ref if self.options.cancel_with_ref else None)
        if self.connector.persistent and self._channel is not None:
            # same line as the request: write A14 only; its ACK/EOT are skipped by the exchange
            self._channel.stale_eots += 1  # the A14's EOT must not end a later exchange
            with contextlib.suppress(ConnectionError, OSError):
                await self._channel.send(req.encode())
            return
        try:
            chan = Channel(await self.connector.open(), self._trace)
        except LinkUnavailable:
            return
        try:
            await transact(
                chan, req, timing=self.options.timing, matches=lambda r: True, expect_reply=False
            )
        except (NotDelivered, OutcomeUnknown) as exc:
            chan.emit(note(f"cancel not confirmed: {exc.reason}"))
        finally:
            await self.connector.release(chan.link)

    async def close(self) -> None:
        chan = self._channel
        if chan is not None and chan.stale_eots and not self._lock.locked():
            # let the terminal finish its last exchange so its EOT is not left on the line
            with contextlib.suppress(Exception):
                await _drain_eots(chan, self.options.timing.eot_timeout)
        self._channel = None
        await self.connector.close()


async def _drain_eots(chan: Channel, timeout: float) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while chan.stale_eots:
        remaining = deadline - asyncio.get_running_loop().time()
        if remaining <= 0:
            return
        try:
            ev = await chan.event(remaining)
        except (TimeoutError, EOFError):
            return
        if isinstance(ev, Control) and ev.byte == EOT:
            chan.stale_eots -= 1


def _deduplicated(callback: ProgressCallback) -> ProgressCallback:
    """Report each state change once (the ACK and a status frame may both say "waiting for card");
    a failing callback never breaks the payment."""
    last: list[TerminalState] = []

    def report(state: TerminalState) -> None:
        if last and last[-1] is state:
            return
        last.append(state)
        with contextlib.suppress(Exception):
            callback(state)

    return report
