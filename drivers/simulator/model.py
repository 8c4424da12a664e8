"""The simulated terminal: a batch, tokens, and the documented test amounts. No I/O of its own —
the engine (:mod:`drivers.simulator.engine`) feeds it decoded requests.

Test amounts, by the cents part of the amount (sales only; refunds and voids follow the batch):
``.01`` declined 05 DO NOT HONOR · ``.02`` declined 51 INSUFFICIENT FUNDS · ``.05`` partial approval
of half (rounded down to the cent) · ``.07`` the cardholder presses cancel · ``.09`` approved but the
reply is lost · ``.11`` never answered (never reaches the host) · anything else approved.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from drivers.poslink import messages as m
from drivers.poslink.codec import MessageError, Request, Response, group_item, reply_command
from drivers.simulator.faults import FAULTS, check_fault


class _Outcome:
    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return f"<{self.name}>"


#: the request was approved (or not) but the reply never leaves the terminal
LOST = _Outcome("lost reply")
#: the terminal never answers this request
SILENT = _Outcome("silent")
#: A14 handled: the engine answers with EOT only
CANCEL_DONE = _Outcome("cancel done")

Reply = Response | _Outcome
StatusReporter = Callable[[str], Awaitable[None]]

#: (card type code, last 4, entry mode) handed out in turn — last 4 only, never a card number
CARDS = (
    ("01", "1111", "4"),
    ("02", "4444", "2"),
    ("03", "0005", "4"),
    ("04", "1117", "2"),
)


@dataclass
class SimRecord:
    """One transaction in the simulated terminal's batch."""

    ecr_ref: str
    command: str
    txn_type: str
    requested_cents: int
    approved_cents: int
    result_code: str
    result_text: str
    host_code: str = ""
    host_message: str = ""
    auth_code: str = ""
    host_ref: str = ""
    terminal_ref: str = ""
    batch: str = ""
    card_type: str = ""
    last4: str = ""
    entry_mode: str = ""
    expiry: str = ""
    token: str = ""
    original_host_ref: str = ""
    refunded_cents: int = 0
    voided: bool = False
    closed: bool = False

    @property
    def approved(self) -> bool:
        return self.result_code in m.APPROVED_CODES

    def txn(self) -> m.TxnRecord:
        ext: dict[str, str] = {}
        if self.host_ref:
            ext[m.HREF] = self.host_ref
        if self.token:
            ext[m.TOKEN] = self.token
        due = self.requested_cents - self.approved_cents if self.result_code == m.PARTIAL else 0
        return m.TxnRecord(
            host_code=self.host_code,
            host_message=self.host_message,
            auth_code=self.auth_code,
            host_ref=self.host_ref,
            batch=self.batch,
            txn_type=self.txn_type,
            approved_cents=self.approved_cents if self.approved else 0,
            amount_due_cents=due,
            last4=self.last4,
            entry_mode=self.entry_mode,
            expiry=self.expiry if self.token else "",
            card_type=self.card_type,
            terminal_ref=self.terminal_ref,
            ecr_ref=self.ecr_ref,
            ext=ext,
        )


@dataclass
class _Card:
    card_type: str
    last4: str
    expiry: str


@dataclass
class Simulator:
    """A PAX-like terminal. Timing is in milliseconds; ``baud`` paces a pty (None: full speed)."""

    delay_ms: int = 0
    card_wait_ms: int = 0
    slow_ms: int = 1500
    baud: int | None = None
    serial_number: str = "SIM0001"
    model: str = "S300-SIM"
    firmware: str = "PAXSIM-1.0"
    version: str = m.DEFAULT_VERSION
    tag: str = field(default_factory=lambda: os.urandom(2).hex().upper())
    faults: dict[str, int] = field(default_factory=dict)
    records: dict[str, SimRecord] = field(default_factory=dict)
    tokens: dict[str, _Card] = field(default_factory=dict)
    batch_number: int = 1
    received: list[Request] = field(default_factory=list)  # every request the terminal accepted
    frames_received: int = 0  # every good frame, accepted or not
    _seq: int = 0
    _cards_used: int = 0
    _in_flight: dict[str, asyncio.Event] = field(default_factory=dict)

    # ------------------------------------------------------------------ faults

    def inject(self, fault: str, count: int = 1) -> None:
        """Make the next ``count`` occurrences misbehave (see :data:`FAULTS`)."""
        check_fault(fault)
        if count < 1:
            raise ValueError("count must be at least 1")
        self.faults[fault] = self.faults.get(fault, 0) + count

    def take_fault(self, fault: str) -> bool:
        left = self.faults.get(fault, 0)
        if left <= 0:
            return False
        self.faults[fault] = left - 1
        if left == 1:
            del self.faults[fault]
        return True

    def clear_faults(self) -> None:
        self.faults.clear()

    # ------------------------------------------------------------------ queries for tests/tools

    def accepted(self, ecr_ref: str) -> list[Request]:
        """Requests the terminal accepted that carry ``ecr_ref`` (a sale must appear once)."""
        return [
            r
            for r in self.received
            if r.command in (m.DO_CREDIT, m.DO_CHECK) and m.request_ecr_ref(r) == ecr_ref
        ]

    def open_batch(self) -> list[SimRecord]:
        return [r for r in self.records.values() if not r.closed]

    # ------------------------------------------------------------------ request handling

    async def handle(self, request: Request, report: StatusReporter | None = None) -> Reply:
        self.received.append(request)
        try:
            return await self._handle(request, report)
        except (MessageError, ValueError, IndexError) as exc:
            ref = m.request_ecr_ref(request)
            fields = m.TxnRecord(ecr_ref=ref).fields() if ref and _plain(ref) else ()
            text = "".join(c if " " <= c <= "~" else "?" for c in f"FORMAT ERROR {exc}"[:60])
            return Response("0", _reply_cmd(request), self.version, m.FORMAT_ERROR, text, fields)

    async def _handle(self, req: Request, report: StatusReporter | None) -> Reply:
        cmd = req.command
        if cmd == m.CANCEL:
            ref = m.request_ext(req).get(m.ECRREF)
            self.cancel(ref)
            return CANCEL_DONE
        if self.take_fault("no_reply"):
            return SILENT
        slow = self.take_fault("slow_reply")
        if cmd == m.INITIALIZE:
            reply: Reply = m.identity_response(
                m.Identity(self.serial_number, self.model, self.firmware, "00:11:22:33:44:55"),
                self.version,
            )
        elif cmd == m.LOCAL_DETAIL:
            reply = self._status(req.field(6))
        elif cmd == m.BATCH_CLOSE:
            reply = self._batch_close()
        elif cmd in (m.DO_CREDIT, m.DO_CHECK):
            reply = await self._transaction(req, report)
        else:
            reply = Response(
                "0", _reply_cmd(req), self.version, "100004", "UNSUPPORTED TRANSACTION"
            )
        if slow and isinstance(reply, Response):
            await asyncio.sleep(self.slow_ms / 1000)
        return reply

    def cancel(self, ecr_ref: str | None) -> None:
        """A14: abort the named request (or, with no reference, whatever is on screen)."""
        for ref, event in self._in_flight.items():
            if ecr_ref is None or ref == ecr_ref:
                event.set()

    def _status(self, ecr_ref: str) -> Response:
        if ecr_ref in self._in_flight:
            return m.detail_response(
                None,
                version=self.version,
                ecr_ref=ecr_ref,
                code=m.IN_PROGRESS,
                text="TRANSACTION IN PROGRESS",
            )
        record = self.records.get(ecr_ref)
        if record is None:
            return m.detail_response(None, version=self.version, ecr_ref=ecr_ref)
        return m.detail_response(record.txn(), record.result_code, self.version)

    def _batch_close(self) -> Response:
        batch = self.open_batch()
        counted = [
            r for r in batch if r.approved and not r.voided and r.txn_type in (m.SALE, m.RETURN)
        ]
        total = sum(
            r.approved_cents if r.txn_type == m.SALE else -r.approved_cents for r in counted
        )
        for r in batch:
            r.closed = True
        number = str(self.batch_number)
        self.batch_number += 1
        return m.batch_response(m.OK, "OK", number, len(counted), total, self.version)

    def _next(self) -> int:
        self._seq += 1
        return self._seq

    def _card(self, keyed: bool) -> _Card:
        card_type, last4, _entry = CARDS[self._cards_used % len(CARDS)]
        self._cards_used += 1
        return _Card(card_type, last4, "1230")

    def _entry_for(self, keyed: bool) -> str:
        return "0" if keyed else CARDS[(self._cards_used - 1) % len(CARDS)][2]

    async def _wait_card(self, event: asyncio.Event, cancel_now: bool) -> bool:
        """The cardholder presents a card (True) or cancels (False)."""
        if cancel_now:
            return False
        if self.card_wait_ms > 0:
            try:
                await asyncio.wait_for(event.wait(), self.card_wait_ms / 1000)
                return False
            except TimeoutError:
                pass
        return not event.is_set()

    async def _transaction(self, req: Request, report: StatusReporter | None) -> Reply:
        ref = m.check_ref(m.request_ecr_ref(req))
        txn_type = req.field(0)
        ext = m.request_ext(req)
        if ref in self.records or ref in self._in_flight:
            return Response(
                "0",
                _reply_cmd(req),
                self.version,
                m.DUPLICATE,
                "DUP TRANSACTION",
                m.TxnRecord(ecr_ref=ref, txn_type=txn_type).fields(),
            )
        event = asyncio.Event()
        self._in_flight[ref] = event
        try:
            if txn_type == m.SALE:
                return await self._sale(req, ref, ext, event, report)
            if txn_type == m.RETURN:
                return await self._return(req, ref, ext, event, report)
            if txn_type == m.VOID and req.command == m.DO_CREDIT:
                return await self._void(req, ref, ext, report)
            return Response("0", _reply_cmd(req), self.version, "100004", "UNSUPPORTED TRANSACTION")
        finally:
            self._in_flight.pop(ref, None)

    async def _say(self, report: StatusReporter | None, text: str) -> None:
        if report is not None:
            await report(text)

    async def _processing(self) -> None:
        if self.delay_ms > 0:
            await asyncio.sleep(self.delay_ms / 1000)

    def _reply(self, req: Request, rec: SimRecord) -> Response:
        self.records[rec.ecr_ref] = rec
        return m.txn_response(
            _reply_cmd(req), rec.result_code, rec.result_text, rec.txn(), self.version
        )

    async def _sale(
        self,
        req: Request,
        ref: str,
        ext: dict[str, str],
        event: asyncio.Event,
        report: StatusReporter | None,
    ) -> Reply:
        amount = m.request_amount(req)
        if amount is None or amount <= 0:
            raise ValueError("AMOUNT")
        cents = amount % 100
        ach = req.command == m.DO_CHECK
        token = ext.get(m.TOKEN)
        keyed = ext.get(m.MANUALENTRY) == "1"
        if cents == 11:
            return SILENT  # never reaches the host, never recorded
        cancel_fault = self.take_fault("cardholder_cancel") or cents == 7
        if ach:
            parts = req.field(2).split("\x1f")
            acct = parts[2] if len(parts) > 2 else ""
            card = _Card("", acct[-4:], "")
            entry = ""
        elif token:
            known = self.tokens.get(token)
            if known is None:
                await self._processing()
                return self._reply(
                    req,
                    SimRecord(
                        ref,
                        req.command,
                        m.SALE,
                        amount,
                        0,
                        m.DECLINED,
                        "DECLINED",
                        host_code="14",
                        host_message="INVALID TOKEN",
                    ),
                )
            card = known
            entry = ""
        else:
            await self._say(report, "KEYED ENTRY" if keyed else "WAITING FOR CARD")
            card = self._card(keyed)
            entry = self._entry_for(keyed)
        if not ach and not token:
            if not await self._wait_card(event, cancel_fault):
                return self._reply(
                    req,
                    SimRecord(
                        ref,
                        req.command,
                        m.SALE,
                        amount,
                        0,
                        m.ABORTED,
                        "ABORTED",
                        card_type="",
                        last4="",
                    ),
                )
        elif cancel_fault or event.is_set():
            return self._reply(
                req, SimRecord(ref, req.command, m.SALE, amount, 0, m.ABORTED, "ABORTED")
            )
        await self._say(report, "AUTHORISING")
        await self._processing()
        seq = self._next()
        base: dict[str, Any] = dict(
            ecr_ref=ref,
            command=req.command,
            txn_type=m.SALE,
            requested_cents=amount,
            terminal_ref=str(seq),
            batch=str(self.batch_number),
            card_type=card.card_type,
            last4=card.last4,
            entry_mode=entry,
        )
        if cents == 1:
            rec = SimRecord(
                **base,
                approved_cents=0,
                result_code=m.DECLINED,
                result_text="DECLINED",
                host_code="05",
                host_message="DO NOT HONOR",
            )
            return self._reply(req, rec)
        if cents == 2:
            rec = SimRecord(
                **base,
                approved_cents=0,
                result_code=m.DECLINED,
                result_text="DECLINED",
                host_code="51",
                host_message="INSUFFICIENT FUNDS",
            )
            return self._reply(req, rec)
        approved = amount // 2 if cents == 5 else amount
        code = m.PARTIAL if approved < amount else m.OK
        rec = SimRecord(
            **base,
            approved_cents=approved,
            result_code=code,
            result_text="PARTIAL APPROVAL" if code == m.PARTIAL else "OK",
            host_code="00",
            host_message="PARTIAL APPROVAL" if code == m.PARTIAL else "APPROVAL",
            auth_code=f"A{seq:05d}",
            host_ref=f"{self.tag}{seq:08d}",
            expiry=card.expiry,
        )
        if ext.get(m.TOKENREQUEST) == "1" and not ach:
            rec.token = token or self._new_token(card)
        reply = self._reply(req, rec)
        if cents == 9 or self.take_fault("lost_reply"):
            return LOST
        return reply

    def _new_token(self, card: _Card) -> str:
        digest = (
            hashlib.sha256(f"{self.tag}-{self._seq}-{card.last4}".encode()).hexdigest()[:14].upper()
        )
        token = f"TK{digest}"
        self.tokens[token] = card
        return token

    def _find_original(self, href: str) -> SimRecord | None:
        for rec in self.records.values():
            if href and href in (rec.host_ref, rec.terminal_ref):
                return rec
        return None

    def _refusal(
        self, req: Request, ref: str, txn_type: str, amount: int, code: str, text: str
    ) -> Response:
        rec = SimRecord(ref, req.command, txn_type, amount, 0, code, text)
        return self._reply(req, rec)

    async def _return(
        self,
        req: Request,
        ref: str,
        ext: dict[str, str],
        event: asyncio.Event,
        report: StatusReporter | None,
    ) -> Reply:
        amount = m.request_amount(req)
        if amount is None or amount <= 0:
            raise ValueError("AMOUNT")
        original = self._find_original(ext.get(m.HREF, ""))
        if original is None:
            return self._refusal(req, ref, m.RETURN, amount, m.NOT_FOUND, "ORIGINAL NOT FOUND")
        if not original.approved or original.txn_type != m.SALE:
            return self._refusal(
                req, ref, m.RETURN, amount, m.FORMAT_ERROR, "ORIGINAL NOT REFUNDABLE"
            )
        if original.voided:
            return self._refusal(
                req, ref, m.RETURN, amount, m.FORMAT_ERROR, "ORIGINAL HAS BEEN VOIDED"
            )
        left = original.approved_cents - original.refunded_cents
        if amount > left:
            return self._refusal(
                req, ref, m.RETURN, amount, m.FORMAT_ERROR, f"AMOUNT EXCEEDS REFUNDABLE {left}"
            )
        await self._say(report, "AUTHORISING")
        await self._processing()
        seq = self._next()
        original.refunded_cents += amount
        return self._approve_follow_up(req, ref, m.RETURN, amount, original, f"R{seq:05d}", seq)

    async def _void(
        self, req: Request, ref: str, ext: dict[str, str], report: StatusReporter | None
    ) -> Reply:
        original = self._find_original(ext.get(m.HREF, ""))
        if original is None:
            return self._refusal(req, ref, m.VOID, 0, m.NOT_FOUND, "ORIGINAL NOT FOUND")
        if original.closed:
            return self._refusal(
                req, ref, m.VOID, 0, m.FORMAT_ERROR, "BATCH CLOSED: VOID NOT ALLOWED, USE RETURN"
            )
        if original.voided:
            return self._refusal(req, ref, m.VOID, 0, m.FORMAT_ERROR, "HAS BEEN VOIDED")
        if not original.approved:
            return self._refusal(req, ref, m.VOID, 0, m.FORMAT_ERROR, "ORIGINAL NOT APPROVED")
        if original.refunded_cents:
            return self._refusal(
                req, ref, m.VOID, 0, m.FORMAT_ERROR, "ORIGINAL HAS RETURNS: USE RETURN"
            )
        await self._say(report, "AUTHORISING")
        await self._processing()
        seq = self._next()
        original.voided = True
        if original.txn_type == m.RETURN:
            for sale in self.records.values():
                if sale.host_ref == original.original_host_ref:
                    sale.refunded_cents -= original.approved_cents
        amount = original.approved_cents
        return self._approve_follow_up(req, ref, m.VOID, amount, original, f"V{seq:05d}", seq)

    def _approve_follow_up(
        self,
        req: Request,
        ref: str,
        txn_type: str,
        amount: int,
        original: SimRecord,
        auth_code: str,
        seq: int,
    ) -> Reply:
        """The approval of a return or void of ``original``, on its card (or a lost reply)."""
        rec = SimRecord(
            ref,
            req.command,
            txn_type,
            amount,
            amount,
            m.OK,
            "OK",
            host_code="00",
            host_message="APPROVAL",
            auth_code=auth_code,
            host_ref=f"{self.tag}{seq:08d}",
            terminal_ref=str(seq),
            batch=str(self.batch_number),
            card_type=original.card_type,
            last4=original.last4,
            original_host_ref=original.host_ref,
        )
        reply = self._reply(req, rec)
        if self.take_fault("lost_reply"):
            return LOST
        return reply


def _plain(text: str) -> bool:
    return all(c.isalnum() or c in "-_" for c in text)


def _reply_cmd(req: Request) -> str:
    try:
        return reply_command(req.command)
    except ValueError:
        return req.command


__all__ = ["CANCEL_DONE", "FAULTS", "LOST", "SILENT", "SimRecord", "Simulator", "group_item"]
