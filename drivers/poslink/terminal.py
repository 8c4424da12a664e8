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
from drivers.poslink.codec import MessageError, Request, Response
from drivers.poslink.session import (
    Channel,
    NotDelivered,
    OutcomeUnknown,
    PortUnavailable,
    Timing,
    transact,
)
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

    # ------------------------------------------------------------------ plumbing

    async def _open_channel(self) -> Channel:
        try:
            link = await self.connector.open()
        except LinkUnavailable as exc:
            raise PortUnavailable(
                f"{exc} — {exc.hint}" if exc.hint else str(exc), exc.hint
            ) from exc
        timing = self.options.timing
        if self.connector.persistent:
            if self._channel is None or self._channel.link is not link:
                self._channel = Channel(link, timing, self._trace, shared=True)
            else:
                self._channel.session.timing = timing
            return self._channel
        return Channel(link, timing, self._trace, shared=False)

    async def _exchange(
        self,
        request: Request,
        *,
        ecr_ref: str | None,
        progress: ProgressCallback | None = None,
        accepted_state: TerminalState | None = None,
        money: bool = False,
    ) -> Response:
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
            try:
                resp = await transact(
                    chan,
                    request,
                    ecr_ref=ecr_ref or "",
                    on_accepted=on_accepted,
                    on_status=on_status,
                )
                assert resp is not None
                if progress:
                    progress(TerminalState.DONE)
                return resp
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
        invoice: str = "",
    ) -> TransactionResult:
        """``invoice``: the invoice number, sent in the trace group beside the ECR reference [R]
        so the terminal's batch report names it."""
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
            invoice=m.invoice_field(invoice),
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
        if resp.result_code == m.OK and m.reply_ecr_ref(resp) != ecr_ref:
            # a record is a transaction: it must name the one asked about (only "not found" may
            # be tied by the line alone)
            return Unknown(ecr_ref, "the terminal's record does not name this reference; ask again")
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
            # same line as the request: write A14 only; the exchange in flight ignores its ACK
            # and EOT (stray control bytes), and the reply it provokes is tied as usual
            with contextlib.suppress(ConnectionError, OSError):
                await self._channel.send(req.encode())
            return
        try:
            chan = Channel(
                await self.connector.open(), self.options.timing, self._trace, shared=False
            )
        except LinkUnavailable:
            return
        try:
            await transact(chan, req, expect_reply=False)
        except (NotDelivered, OutcomeUnknown) as exc:
            chan.emit(note(f"cancel not confirmed: {exc.reason}"))
        finally:
            await self.connector.release(chan.link)

    async def close(self) -> None:
        self._channel = None
        await self.connector.close()


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
