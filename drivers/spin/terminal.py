"""A Dejavoo terminal over SPIn REST v2 (httpx): local (the terminal's own address) or cloud
(the SPIn proxy). The codec builds and reads; this module only moves requests and waits.

Money safety here:

* A money request goes out on a fresh connection (no keep-alive): a failure to connect is then
  certainly *not sent*, and anything after the request left — time-out, dropped connection, an
  unreadable or untied reply — is *unknown*, for :meth:`status` to settle. Nothing is resent on
  its own, except after a *busy* answer (2008/1000: nothing was done), with the same ReferenceId.
* A duplicate (1011) is settled here by a status query with the same ReferenceId.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from collections.abc import Callable
from dataclasses import dataclass

import httpx

from drivers.base import (
    AchAccount,
    Approved,
    BatchClosed,
    Cancelled,
    Capabilities,
    Declined,
    NotFound,
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
from drivers.spin import codec as c
from drivers.spin import outcome as o
from drivers.spin.logtext import masked_text
from drivers.trace import FrameTrace, TraceCallback, note


@dataclass(frozen=True)
class SpinOptions:
    """Where and how to talk. ``base_url``: ``http://HOST:PORT`` (local) or ``https://HOST/PATH``
    (cloud proxy); requests go to ``base_url + /v2/...``."""

    base_url: str
    tpn: str
    payment_type: str = "Credit"
    #: seconds to wait for a reply; above the proxy's own time-out so the proxy speaks first [R]
    timeout: float = 130.0
    #: SPInProxyTimeout sent with money requests (seconds [I]); None: the proxy's default (120)
    proxy_timeout: int | None = None
    settle_timeout: float = 430.0  # the proxy allows settlement 420 s [R]
    connect_timeout: float = 5.0
    #: how long busy answers (2008/1000) are waited out in all before giving up
    busy_wait: float = 60.0
    cloud: bool = False


class _NotSent(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class _Lost(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class _Void:
    original_ref: str
    amount_cents: int


class SpinTerminal(Terminal):
    """One Dejavoo terminal. Money requests are serialised; ``cancel`` goes out beside them."""

    capabilities = Capabilities(
        card_on_file=False,  # SPIn REST documents no sale by token [R: none found]
        keyed_card=False,  # no documented field asks the terminal for keyed entry [R: none]
        keyed_ach=False,
        linked_refund=False,  # Return is unlinked: the terminal cannot limit it [R S7]
    )

    def __init__(
        self,
        url: str,
        options: SpinOptions,
        authkey: str,
        trace: TraceCallback | None = None,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.url = url
        self.options = options
        self._creds = c.Credentials(options.tpn, authkey)
        self._trace = trace
        self._transport = transport
        self._client: httpx.AsyncClient | None = None
        self._lock = asyncio.Lock()
        self._in_flight: str | None = None  # the wire ReferenceId of the money request out now
        self._voids: dict[str, _Void] = {}  # our void ref → what it voided (SPIn has no void ref)

    # ------------------------------------------------------------------ plumbing

    def _http(self) -> httpx.AsyncClient:
        if self._client is None:
            self._client = httpx.AsyncClient(
                base_url=self.options.base_url.rstrip("/"),
                transport=self._transport,
                # a fresh connection per request: a connect failure is then surely "not sent"
                limits=httpx.Limits(max_keepalive_connections=0),
                headers={"Accept": "application/json"},
                # the cloud proxy may sit behind the site's HTTPS proxy; a terminal on the LAN never
                trust_env=self.options.cloud,
            )
        return self._client

    def _emit(self, item: FrameTrace) -> None:
        if self._trace is not None:
            with contextlib.suppress(Exception):
                self._trace(item)

    async def _call(self, req: c.HttpRequest, timeout: float) -> tuple[int, bytes]:
        """One HTTP exchange. Raises ``_NotSent`` (nothing left us) or ``_Lost`` (it may have)."""
        key = self._creds.authkey
        shown = req.path if not req.query else f"{req.path}?request.tpn={self._creds.tpn}&…"
        self._emit(
            FrameTrace(
                "tx",
                "http",
                "",
                f"{req.method} {shown} {masked_text(req.body, key)}",
                len(req.body),
            )
        )
        headers = {"Content-Type": "application/json"} if req.method == "POST" else {}
        try:
            async with self._http().stream(
                req.method,
                req.path,
                content=req.body if req.method == "POST" else None,
                params=req.query or None,
                headers=headers,
                timeout=httpx.Timeout(timeout, connect=self.options.connect_timeout),
            ) as resp:
                body = bytearray()
                async for chunk in resp.aiter_bytes():
                    body += chunk
                    if len(body) > c.MAX_BODY:
                        raise _Lost(f"the reply is larger than {c.MAX_BODY} bytes")
                status = resp.status_code
        except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
            self._emit(note(f"not connected: {type(exc).__name__}"))
            raise _NotSent(f"cannot connect to {self.options.base_url} ({_words(exc)})") from exc
        except httpx.TimeoutException as exc:
            self._emit(note(f"no reply: {type(exc).__name__}"))
            raise _Lost(f"no reply within {timeout:g} s") from exc
        except (httpx.HTTPError, OSError) as exc:
            self._emit(note(f"connection failed: {type(exc).__name__}"))
            raise _Lost(f"the connection failed ({_words(exc)})") from exc
        self._emit(
            FrameTrace(
                "rx", "http", "", f"HTTP {status} {masked_text(bytes(body), key)}", len(body)
            )
        )
        return status, bytes(body)

    def _read(self, status: int, body: bytes, report_ref: str | None) -> c.Reply | TerminalError:
        """The reply, or — for an HTTP refusal with no SPIn body — why nothing was done."""
        try:
            return c.parse_reply(status, body)
        except c.CodecError as exc:
            if status in (400, 401, 403, 404, 405, 415):
                return TerminalError(
                    report_ref,
                    "NOT_SENT",
                    f"HTTP {status} from {self.options.base_url}: the address does not take SPIn "
                    "requests (check the URL, the TPN and the auth key)",
                )
            raise _Lost(f"the reply could not be read ({exc})") from exc

    async def _busy_wait(self, step: o.Busy, waited: float) -> float:
        delay = min(max(step.delay_s, 0.05), 30.0)
        if waited + delay > self.options.busy_wait:
            raise TimeoutError
        self._emit(note(f"terminal busy ({step.words}); asking again in {delay:g} s"))
        await asyncio.sleep(delay)
        return waited + delay

    # ------------------------------------------------------------------ money

    async def _money(
        self,
        req: c.HttpRequest,
        *,
        report_ref: str,
        requested: int,
        progress: ProgressCallback | None,
        waiting: TerminalState,
        timeout: float | None = None,
    ) -> TransactionResult:
        report = _deduplicated(progress)
        async with self._lock:
            report(TerminalState.SENDING)
            self._in_flight = req.ref
            try:
                return await self._money_locked(
                    req, report_ref, requested, report, waiting, timeout or self.options.timeout
                )
            finally:
                self._in_flight = None
                report(TerminalState.DONE)

    async def _money_locked(
        self,
        req: c.HttpRequest,
        report_ref: str,
        requested: int,
        report: Callable[[TerminalState], None],
        waiting: TerminalState,
        timeout: float,
    ) -> TransactionResult:
        waited = 0.0
        while True:
            report(waiting)
            try:
                status, body = await self._call(req, timeout)
                reply = self._read(status, body, report_ref)
            except _NotSent as exc:
                # every earlier attempt was answered "busy": nothing was done at the terminal
                return TerminalError(report_ref, "NOT_SENT", exc.reason)
            except _Lost as exc:
                return Unknown(report_ref, f"{exc.reason}; ask the terminal for the status")
            if isinstance(reply, TerminalError):
                return reply
            step = o.transaction(reply, ref=req.ref, requested=requested, report_ref=report_ref)
            if isinstance(step, o.Busy):
                try:
                    waited = await self._busy_wait(step, waited)
                except TimeoutError:
                    return await self._gave_up_busy(report_ref, requested, step.words)
                continue
            if isinstance(step, o.Duplicate):
                self._emit(note(f"duplicate reference ({step.words}): asking its status"))
                # by our reference: a void's status is read through its original (Voided flag)
                settled = await self._status_unlocked(report_ref)
                return _as_transaction(settled, report_ref, requested, "duplicate reference")
            return step

    async def _gave_up_busy(self, report_ref: str, requested: int, words: str) -> TransactionResult:
        """Busy for too long: only a status saying "not found" makes it *not sent*."""
        settled = await self._status_unlocked(report_ref)
        if isinstance(settled, NotFound):
            return TerminalError(
                report_ref, "NOT_SENT", f"the terminal stayed busy with another request ({words})"
            )
        return _as_transaction(settled, report_ref, requested, "terminal busy")

    async def initialize(self) -> TerminalInfo:
        try:
            status, body = await self._call(
                c.terminal_status(self._creds), min(self.options.timeout, 15.0)
            )
        except (_NotSent, _Lost) as exc:
            raise TerminalConnectionError(exc.reason) from exc
        try:
            state, why = c.parse_terminal_status(body)
        except c.CodecError as exc:
            raise TerminalConnectionError(
                f"HTTP {status}: not a SPIn terminal status ({exc})"
            ) from exc
        if state == c.ONLINE:
            return TerminalInfo(
                "Dejavoo (SPIn)", self._creds.tpn, "cloud" if self.options.cloud else "local"
            )
        if state == c.OFFLINE:
            raise TerminalConnectionError(
                f"terminal {self._creds.tpn} is offline{': ' + why if why else ''} — turn it on and "
                "check its network"
            )
        raise TerminalConnectionError(
            f"TPN {self._creds.tpn} is not known there{': ' + why if why else ''} — check the TPN, "
            "the auth key and test/production host"
        )

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
        if keyed:
            return _unsupported(ecr_ref, "asking for keyed entry")
        req = c.sale(
            self._creds,
            ecr_ref,
            amount_cents,
            payment_type=self.options.payment_type,
            invoice=invoice,
            proxy_timeout=self.options.proxy_timeout,
        )
        return await self._money(
            req,
            report_ref=ecr_ref,
            requested=amount_cents,
            progress=progress,
            waiting=TerminalState.WAITING_FOR_CARD,
        )

    async def sale_with_token(
        self,
        amount_cents: int,
        ecr_ref: str,
        token: str,
        *,
        progress: ProgressCallback | None = None,
    ) -> TransactionResult:
        return _unsupported(ecr_ref, "a sale with a card on file")

    async def ach_sale(
        self,
        amount_cents: int,
        ecr_ref: str,
        account: AchAccount,
        *,
        progress: ProgressCallback | None = None,
    ) -> TransactionResult:
        return _unsupported(ecr_ref, "keyed ACH")

    async def refund(
        self,
        amount_cents: int,
        ecr_ref: str,
        original_ref: str,
        *,
        progress: ProgressCallback | None = None,
    ) -> TransactionResult:
        """A Return under ``ecr_ref``; the card is presented again [R]. ``original_ref`` does not
        travel (SPIn's Return is unlinked): the app limits refunds to what is left."""
        c.check_ref(original_ref, "original reference")
        req = c.refund(
            self._creds,
            ecr_ref,
            amount_cents,
            payment_type=self.options.payment_type,
            proxy_timeout=self.options.proxy_timeout,
        )
        return await self._money(
            req,
            report_ref=ecr_ref,
            requested=amount_cents,
            progress=progress,
            waiting=TerminalState.WAITING_FOR_CARD,
        )

    async def void(
        self, ecr_ref: str, original_ref: str, *, progress: ProgressCallback | None = None
    ) -> TransactionResult:
        """Void the sale whose ReferenceId is ``original_ref`` (its ``Approved.host_ref``). Its
        amount comes from a status query first (a read: nothing moves)."""
        c.check_ref(original_ref, "original reference")
        c.check_ref(ecr_ref)
        async with self._lock:
            got = await self._status_reply(original_ref)
        original, raw = got if isinstance(got, tuple) else (got, None)
        if isinstance(original, NotFound):
            # the app voids only its own approvals: gone from the open batch means settled [I]
            return TerminalError(
                ecr_ref,
                c.NOT_FOUND,
                f"{original_ref} is not in the terminal's open batch (batch closed?): it cannot "
                "be voided — refund it instead",
            )
        if isinstance(original, Unknown | TerminalError):
            why = original.reason if isinstance(original, Unknown) else original.message
            return TerminalError(
                ecr_ref, "NOT_SENT", f"the original {original_ref} could not be read: {why}"
            )
        if not isinstance(original, Approved):
            return TerminalError(
                ecr_ref, "NOT_APPROVED", f"{original_ref} was not approved: nothing to void"
            )
        if raw is not None and raw.voided:
            return TerminalError(ecr_ref, "VOIDED", f"{original_ref} has been voided already")
        amount = original.approved_cents
        self._voids[ecr_ref] = _Void(original_ref, amount)
        req = c.void(
            self._creds,
            original_ref,
            amount,
            payment_type=self.options.payment_type,
            proxy_timeout=self.options.proxy_timeout,
        )
        return await self._money(
            req,
            report_ref=ecr_ref,
            requested=amount,
            progress=progress,
            waiting=TerminalState.AUTHORISING,
        )

    async def batch_close(self) -> BatchClosed | TerminalError:
        ref = f"S{int(time.time()):X}{os.urandom(3).hex().upper()}"
        req = c.settle(self._creds, ref, proxy_timeout=self.options.proxy_timeout)
        waited = 0.0
        async with self._lock:
            while True:
                try:
                    status, body = await self._call(req, self.options.settle_timeout)
                    reply = self._read(status, body, None)
                except _NotSent as exc:
                    return TerminalError(
                        None, "NOT_SENT", f"batch close did not reach the terminal: {exc.reason}"
                    )
                except _Lost as exc:
                    return TerminalError(
                        None,
                        "UNKNOWN",
                        f"batch close outcome unknown: {exc.reason}; check the terminal's batch report",
                    )
                if isinstance(reply, TerminalError):
                    return reply
                result = o.settled(reply)
                if isinstance(result, o.Busy):
                    try:
                        waited = await self._busy_wait(result, waited)
                    except TimeoutError:
                        return TerminalError(
                            None, "NOT_SENT", f"the terminal stayed busy ({result.words})"
                        )
                    continue
                return result

    # ------------------------------------------------------------------ status and cancel

    async def _status_reply(self, wire_ref: str) -> tuple[StatusResult, c.Reply] | StatusResult:
        """One status query (busy answers waited out): the result and the reply it came from."""
        req = c.status(self._creds, wire_ref, payment_type=self.options.payment_type)
        waited = 0.0
        while True:
            try:
                status, body = await self._call(req, min(self.options.timeout, 30.0))
                reply = self._read(status, body, wire_ref)
            except (_NotSent, _Lost) as exc:
                return Unknown(wire_ref, f"status query failed: {exc.reason}; try again")
            if isinstance(reply, TerminalError):
                return reply
            result = o.status(reply, ref=wire_ref)
            if isinstance(result, o.Busy):
                try:
                    waited = await self._busy_wait(result, waited)
                except TimeoutError:
                    return Unknown(
                        wire_ref,
                        "the terminal is still busy (perhaps with this request); ask again",
                    )
                continue
            return result, reply

    async def _status_unlocked(self, ref: str) -> StatusResult:
        void = self._voids.get(ref)
        got = await self._status_reply(void.original_ref if void else ref)
        if not isinstance(got, tuple):
            if void is not None:
                return _renamed(got, ref)
            return got
        result, reply = got
        if void is None:
            return result
        # a void has no ReferenceId of its own: the original's Voided flag says whether it happened
        if isinstance(result, Approved) and reply.voided is True:
            return Approved(
                ref,
                void.amount_cents,
                void.amount_cents,
                result.auth_code,
                void.original_ref,
                result.terminal_ref,
                result.brand,
                result.last4,
                result.entry_method,
            )
        if isinstance(result, Approved) and reply.voided is False:
            return NotFound(ref)
        return Unknown(ref, f"the original {void.original_ref} does not say whether it was voided")

    async def status(self, ecr_ref: str) -> StatusResult:
        c.check_ref(ecr_ref)
        async with self._lock:
            return await self._status_unlocked(ecr_ref)

    async def cancel(self) -> None:
        """AbortTransaction naming the request in flight — never another's; nothing when none is.
        Until the terminal has the request, an abort finds nothing (1001): it is asked again."""
        ref = self._in_flight
        if ref is None:
            return
        req = c.abort(self._creds, ref)
        deadline = time.monotonic() + 5.0
        while self._in_flight == ref and time.monotonic() < deadline:
            try:
                status, body = await self._call(req, 10.0)
                reply = c.parse_reply(status, body)
            except (_NotSent, _Lost, c.CodecError) as exc:
                self._emit(note(f"cancel not confirmed: {exc}"))
                return
            if reply.status_code not in (c.NOT_FOUND, c.PROXY_NOT_FOUND):
                return
            await asyncio.sleep(0.1)

    async def close(self) -> None:
        if self._client is not None:
            client, self._client = self._client, None
            await client.aclose()


def _words(exc: BaseException) -> str:
    text = str(exc).strip()
    return text[:120] if text else type(exc).__name__


def _unsupported(ecr_ref: str, what: str) -> TerminalError:
    return TerminalError(
        ecr_ref, "NOT_SUPPORTED", f"SPIn terminals do not offer {what} (nothing was sent)"
    )


def _renamed(result: StatusResult, ref: str) -> StatusResult:
    if isinstance(result, Unknown):
        return Unknown(ref, result.reason)
    if isinstance(result, TerminalError):
        return TerminalError(ref, result.code, result.message)
    return Unknown(ref, "the original's status could not be read")


def _as_transaction(
    settled: StatusResult, report_ref: str, requested: int | None, why: str
) -> TransactionResult:
    """A status answer, standing in for the reply to a request (duplicate, long busy)."""
    if isinstance(settled, Approved):
        if requested is not None and settled.approved_cents > requested:
            return Unknown(report_ref, f"{why}: the terminal's record is for another amount")
        return Approved(
            report_ref,
            settled.approved_cents,
            requested if requested is not None else settled.requested_cents,
            settled.auth_code,
            settled.host_ref,
            settled.terminal_ref,
            settled.brand,
            settled.last4,
            settled.entry_method,
            batch_number=settled.batch_number,
        )
    if isinstance(settled, Declined):
        return Declined(report_ref, settled.host_code, settled.host_message)
    if isinstance(settled, Cancelled):
        return Cancelled(report_ref, settled.reason)
    if isinstance(settled, NotFound):
        return Unknown(report_ref, f"{why}, yet the terminal has no record of it; ask again")
    if isinstance(settled, TerminalError):
        return Unknown(report_ref, f"{why}; the status query failed: {settled.message}")
    return Unknown(report_ref, f"{why}; {settled.reason}")


def _deduplicated(callback: ProgressCallback | None) -> Callable[[TerminalState], None]:
    last: list[TerminalState] = []

    def report(state: TerminalState) -> None:
        if callback is None or (last and last[-1] is state):
            return
        last.append(state)
        with contextlib.suppress(Exception):
            callback(state)

    return report
