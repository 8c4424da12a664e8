"""A simulated Dejavoo terminal behind the SPIn proxy: a batch keyed by ReferenceId, one
transaction at a time, the documented test amounts and faults. No sockets: the HTTP server
(:mod:`drivers.spin.simulator.http`) hands it requests and writes what it answers.

Test amounts, by the cents part (sales): ``.01`` declined 05 DO NOT HONOR · ``.02`` declined 51
INSUFFICIENT FUNDS · ``.05`` partial approval of half (rounded down) · ``.07`` the cardholder
cancels · ``.09`` approved, reply lost · ``.11`` never answered · anything else approved.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qsl

from drivers.spin.amounts import AmountError, cents, dollars
from drivers.spin.simulator.faults import check_fault

#: (card type, last 4, entry type) handed out in turn — last 4 only, never a card number
CARDS = (("Visa", "1111", "Chip"), ("MasterCard", "4444", "Contactless"), ("Amex", "0005", "Chip"))
_ALLOWED = {
    "Sale": {"Amount", "TipAmount", "PaymentType", "ReferenceId", "InvoiceNumber", "PrintReceipt",
             "GetReceipt", "CaptureSignature", "GetExtendedData", "Tpn", "Authkey", "RegisterId",
             "SPInProxyTimeout", "MerchantNumber", "CustomFee"},
    "Return": {"Amount", "PaymentType", "ReferenceId", "InvoiceNumber", "PrintReceipt",
               "GetReceipt", "CaptureSignature", "GetExtendedData", "Tpn", "Authkey",
               "RegisterId", "SPInProxyTimeout", "MerchantNumber"},
    "Void": {"Amount", "PaymentType", "ReferenceId", "PrintReceipt", "GetReceipt", "Tpn",
             "Authkey", "RegisterId", "SPInProxyTimeout", "MerchantNumber"},
    "Status": {"PaymentType", "ReferenceId", "TransactionNumber", "Tpn", "Authkey", "RegisterId"},
    "Settle": {"ReferenceId", "GetReceipt", "SettlementType", "Tpn", "Authkey", "RegisterId",
               "SPInProxyTimeout"},
    "AbortTransaction": {"ReferenceId", "Tpn", "Authkey", "RegisterId"},
}  # fmt: skip


class Raw:
    """A JSON number written as given (dollars): the simulator never holds money in a float."""

    def __init__(self, text: str) -> None:
        self.text = text


def to_json(value: Any) -> str:
    if isinstance(value, Raw):
        return value.text
    if isinstance(value, dict):
        return "{" + ",".join(f"{json.dumps(k)}:{to_json(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ",".join(to_json(v) for v in value) + "]"
    return json.dumps(value)


@dataclass(frozen=True)
class SimReply:
    """What goes back: an HTTP status and body, or nothing (``drop``: close the connection;
    ``hang``: keep it open, never answer)."""

    status: int = 200
    body: bytes = b""
    drop: bool = False
    hang: bool = False


DROP = SimReply(drop=True)
HANG = SimReply(hang=True)


@dataclass
class SpinRecord:
    """One transaction in the batch."""

    ref: str
    kind: str  # Sale | Return | Void
    requested_cents: int
    approved_cents: int
    status_code: str
    message: str
    host_code: str = ""
    host_message: str = ""
    auth_code: str = ""
    number: str = ""
    batch: str = ""
    card_type: str = ""
    last4: str = ""
    entry: str = ""
    invoice: str = ""
    voided: bool = False
    closed: bool = False

    @property
    def approved(self) -> bool:
        return self.status_code in ("0000", "0001")


@dataclass
class SpinSimulator:
    """The terminal and its proxy. Times in milliseconds; ``proxy_timeout_ms`` applies when a
    request names no ``SPInProxyTimeout``."""

    tpn: str = "SIMTPN000001"
    authkey: str = "SIMAUTHKEY"
    card_wait_ms: int = 0
    delay_ms: int = 0
    slow_ms: int = 1500
    proxy_timeout_ms: int = 120_000
    busy_delay_s: str = "1"  # DelayBeforeNextRequest, as the proxy writes it
    tag: str = field(default_factory=lambda: os.urandom(2).hex().upper())
    faults: dict[str, int] = field(default_factory=dict)
    records: dict[str, SpinRecord] = field(default_factory=dict)  # the open batch
    history: list[SpinRecord] = field(default_factory=list)  # closed batches
    #: what the terminal approved, in order: (kind, ReferenceId, cents) — a voided sale stays
    approvals: list[tuple[str, str, int]] = field(default_factory=list)
    #: every request taken: (endpoint, ReferenceId)
    received: list[tuple[str, str]] = field(default_factory=list)
    batch_number: int = 1
    _seq: int = 0
    _in_flight: dict[str, asyncio.Event] = field(default_factory=dict)
    _tasks: set[asyncio.Task[Any]] = field(default_factory=set)

    # ------------------------------------------------------------------ faults and queries

    def inject(self, fault: str, count: int = 1) -> None:
        check_fault(fault)
        if count < 1:
            raise ValueError("count must be at least 1")
        self.faults[fault] = self.faults.get(fault, 0) + count

    def take_fault(self, fault: str) -> bool:
        left = self.faults.get(fault, 0)
        if left <= 0:
            return False
        if left == 1:
            del self.faults[fault]
        else:
            self.faults[fault] = left - 1
        return True

    def clear_faults(self) -> None:
        self.faults.clear()

    def sales_received(self, ref: str) -> int:
        """How many Sale requests named ``ref`` (a sale must reach the terminal once)."""
        return sum(1 for path, r in self.received if path == "Sale" and r == ref)

    def approved_sales(self, ref: str) -> list[int]:
        return [c for kind, r, c in self.approvals if kind == "Sale" and r == ref]

    @property
    def in_flight(self) -> set[str]:
        return set(self._in_flight)

    async def drain(self) -> None:
        """Let transactions still running behind a proxy time-out finish (tests)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    # ------------------------------------------------------------------ replies

    def _general(self, result: str, code: str, message: str, **extra: Any) -> dict[str, Any]:
        general: dict[str, Any] = {
            "ResultCode": result,
            "StatusCode": code,
            "Message": message,
            "DetailedMessage": extra.pop("detailed", message),
        }
        general.update(extra)
        return general

    def _reply(self, body: dict[str, Any], status: int = 200) -> SimReply:
        return SimReply(status, to_json(body).encode())

    def _error(self, result: str, code: str, message: str, ref: str | None = None) -> SimReply:
        body: dict[str, Any] = {"GeneralResponse": self._general(result, code, message)}
        if ref is not None:
            body["ReferenceId"] = ref
        return self._reply(body)

    def _busy(self) -> SimReply:
        body = {
            "GeneralResponse": self._general(
                "2", "2008", "Terminal in use", DelayBeforeNextRequest=Raw(self.busy_delay_s)
            )
        }
        return self._reply(body)

    def record_body(self, rec: SpinRecord) -> dict[str, Any]:
        result = "0" if rec.approved else "1"
        general = self._general(
            result,
            rec.status_code,
            rec.message,
            HostResponseCode=rec.host_code,
            HostResponseMessage=rec.host_message,
        )
        body: dict[str, Any] = {
            "GeneralResponse": general,
            "PaymentType": "Credit",
            "TransactionType": rec.kind,
            "ReferenceId": rec.ref,
            "InvoiceNumber": rec.invoice,
            "Voided": rec.voided,
            "BatchNumber": rec.batch,
            "TransactionNumber": rec.number,
            "SerialNumber": f"SIM{self.tag}",
        }
        if rec.approved:
            body["Amounts"] = {
                "TotalAmount": Raw(dollars(rec.approved_cents)),
                "Amount": Raw(dollars(rec.approved_cents)),
                "TipAmount": Raw("0.00"),
                "FeeAmount": Raw("0.00"),
                "TaxAmount": Raw("0.00"),
            }
            body["AuthCode"] = rec.auth_code
            body["PNReferenceId"] = f"{self.tag}{rec.number}"
        if rec.last4:
            body["CardData"] = {
                "CardType": rec.card_type,
                "EntryType": rec.entry,
                "Last4": rec.last4,
                "First4": "",
            }
        return body

    # ------------------------------------------------------------------ HTTP entry

    async def handle(self, method: str, path: str, query: str, body: bytes) -> SimReply:
        """One HTTP request. Every business outcome is HTTP 200 with a GeneralResponse [R]."""
        if method == "GET" and path.rstrip("/").endswith("/v2/Common/TerminalStatus"):
            return self._terminal_status(query)
        endpoint = path.rstrip("/").rsplit("/", 1)[-1]
        if method != "POST" or not path.rstrip("/").endswith(f"/v2/Payment/{endpoint}"):
            return SimReply(404, b'{"message":"Not Found"}')
        if endpoint not in _ALLOWED:
            return SimReply(404, b'{"message":"Not Found"}')
        try:
            data = json.loads(body.decode("utf-8"), parse_float=Decimal)
        except (ValueError, UnicodeDecodeError):
            return self._error("2", "2006", "Unable to parse request")
        if not isinstance(data, dict):
            return self._error("2", "2006", "Unable to parse request")
        unknown = set(data) - _ALLOWED[endpoint]
        if unknown:
            return self._error("2", "2201", f"Invalid request data: {', '.join(sorted(unknown))}")
        ref = data.get("ReferenceId")
        self.received.append((endpoint, ref if isinstance(ref, str) else ""))
        if self.take_fault("no_reply"):
            return HANG
        if self.take_fault("offline"):
            return self._error("2", "2001", "Terminal not connected")
        if data.get("Tpn") != self.tpn:
            return self._error("2", "2003", "Register/TPN not found")
        if data.get("Authkey") != self.authkey or self.take_fault("wrong_authkey"):
            return self._error("2", "2002", "AuthKey not found")
        if not isinstance(ref, str) or not ref:
            return self._error("1", "1010", "Missing reference ID")
        if endpoint == "Status":
            return self._status(ref)
        if endpoint == "AbortTransaction":
            return self._abort(ref)
        if self._in_flight or self.take_fault("terminal_busy"):
            return self._busy()
        if endpoint == "Settle":
            return self._settle(ref)
        try:
            amount = cents(data.get("Amount"))
        except AmountError:
            return self._error("1", "1007", "Format error: Amount", ref)
        if amount <= 0:
            return self._error("1", "1007", "Format error: Amount", ref)
        invoice = data.get("InvoiceNumber") or ""
        timeout = data.get("SPInProxyTimeout")
        limit = int(timeout) if isinstance(timeout, int) else self.proxy_timeout_ms / 1000
        return await self._money(endpoint, ref, amount, str(invoice), limit)

    def _terminal_status(self, query: str) -> SimReply:
        params = dict(parse_qsl(query))
        offline = self.take_fault("offline")
        if params.get("request.tpn") != self.tpn:
            state, why = "NotFound", "Register not found"
        elif params.get("request.authkey") != self.authkey:
            state, why = "NotFound", "AuthKey not found"
        elif offline:
            state, why = "Offline", ""
        else:
            state, why = "Online", ""
        return self._reply({"TerminalStatus": state, "Tpn": self.tpn, "ErrorDescription": why})

    def _status(self, ref: str) -> SimReply:
        if ref in self._in_flight:
            return self._busy()
        rec = self.records.get(ref)
        if rec is None:
            return self._error("1", "1001", "Status request could not find a matching transaction")
        return self._reply(self.record_body(rec))

    def _abort(self, ref: str) -> SimReply:
        event = self._in_flight.get(ref)
        if event is None:
            return self._error("1", "1001", "Not found", ref)
        event.set()
        return self._error("0", "0000", "Aborted", ref)

    def _settle(self, ref: str) -> SimReply:
        batch = [r for r in self.records.values() if not r.closed]
        counted = [r for r in batch if r.approved and not r.voided and r.kind in ("Sale", "Return")]
        total = sum(r.approved_cents if r.kind == "Sale" else -r.approved_cents for r in counted)
        for rec in batch:
            rec.closed = True
        self.history.extend(batch)
        self.records.clear()  # ReferenceIds are unique per batch only [R]
        number = str(self.batch_number)
        self.batch_number += 1
        sign = "-" if total < 0 else ""
        return self._reply(
            {
                "GeneralResponse": self._general("0", "0000", "Settled"),
                "ReferenceId": ref,
                "BatchNumber": number,
                "TransactionCount": len(counted),
                "Amounts": {"TotalAmount": Raw(sign + dollars(abs(total)))},
            }
        )

    # ------------------------------------------------------------------ money

    async def _money(
        self, endpoint: str, ref: str, amount: int, invoice: str, limit_s: float
    ) -> SimReply:
        if endpoint != "Void" and ref in self.records:
            return self._error(
                "1", "1011", "Duplicate reference ID: already exists in the batch", ref
            )
        if endpoint == "Sale" and amount % 100 == 11:
            return HANG  # never reaches the host, never recorded
        lost = self.take_fault("lost_reply") or (endpoint == "Sale" and amount % 100 == 9)
        garbled = self.take_fault("garbled_reply")
        duplicate = endpoint == "Sale" and self.take_fault("duplicate_reference")
        slow = self.take_fault("slow_reply")
        event = asyncio.Event()
        self._in_flight[ref] = event
        task = asyncio.ensure_future(self._run(endpoint, ref, amount, invoice, event, slow))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        try:
            rec = await asyncio.wait_for(asyncio.shield(task), limit_s)
        except TimeoutError:
            # the proxy gives up; the terminal goes on and records the outcome [R S7]
            return self._error("2", "2007", "Timed out waiting for the terminal")
        if lost:
            return DROP
        if garbled:
            return SimReply(200, b'{"GeneralResponse": {"ResultCode": "0", "StatusCo')
        if duplicate:
            return self._error(
                "1", "1011", "Duplicate reference ID: already exists in the batch", ref
            )
        if isinstance(rec, SimReply):
            return rec
        return self._reply(self.record_body(rec))

    async def _run(
        self, endpoint: str, ref: str, amount: int, invoice: str, event: asyncio.Event, slow: bool
    ) -> SpinRecord | SimReply:
        try:
            if slow:
                await asyncio.sleep(self.slow_ms / 1000)
            if endpoint == "Void":
                return await self._void(ref, amount)
            return await self._card(endpoint, ref, amount, invoice, event)
        finally:
            self._in_flight.pop(ref, None)

    def _next(self) -> int:
        self._seq += 1
        return self._seq

    async def _card(
        self, endpoint: str, ref: str, amount: int, invoice: str, event: asyncio.Event
    ) -> SpinRecord:
        cancel = self.take_fault("cardholder_cancel") or (endpoint == "Sale" and amount % 100 == 7)
        if self.card_wait_ms > 0:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(event.wait(), self.card_wait_ms / 1000)
        if cancel or event.is_set():
            rec = SpinRecord(ref, endpoint, amount, 0, "1012", "Canceled", invoice=invoice)
            self.records[ref] = rec
            return rec
        if self.delay_ms > 0:
            await asyncio.sleep(self.delay_ms / 1000)
        seq = self._next()
        card_type, last4, entry = CARDS[(seq - 1) % len(CARDS)]
        base: dict[str, Any] = dict(
            number=str(seq),
            batch=str(self.batch_number),
            card_type=card_type,
            last4=last4,
            entry=entry,
            invoice=invoice,
        )
        cents_part = amount % 100
        if endpoint == "Sale" and (self.take_fault("decline") or cents_part in (1, 2)):
            host, words = (
                ("51", "INSUFFICIENT FUNDS") if cents_part == 2 else ("05", "DO NOT HONOR")
            )
            rec = SpinRecord(ref, endpoint, amount, 0, "1015", "Declined", host, words, **base)
            self.records[ref] = rec
            return rec
        partial = endpoint == "Sale" and (self.take_fault("partial") or cents_part == 5)
        approved = amount // 2 if partial else amount
        code = "0001" if approved < amount else "0000"
        rec = SpinRecord(
            ref,
            endpoint,
            amount,
            approved,
            code,
            "Partially Approved" if code == "0001" else "Approved",
            "00",
            "APPROVAL",
            auth_code=f"{'S' if endpoint == 'Sale' else 'R'}{seq:05d}",
            **base,
        )
        self.records[ref] = rec
        self.approvals.append((endpoint, ref, approved))
        return rec

    async def _void(self, ref: str, amount: int) -> SpinRecord | SimReply:
        original = self.records.get(ref)
        if original is None:
            closed = any(r.ref == ref for r in self.history)
            words = "Not allowed: batch closed, use Return" if closed else "Transaction not found"
            return self._error("1", "1004" if closed else "1001", words, ref)
        if original.voided:
            return self._error("1", "1004", "Not allowed: already voided", ref)
        if not original.approved:
            return self._error("1", "1004", "Not allowed: not approved", ref)
        if amount != original.approved_cents:
            return self._error("1", "1013", "Bad request: Amount does not match", ref)
        if self.delay_ms > 0:
            await asyncio.sleep(self.delay_ms / 1000)
        original.voided = True
        self.approvals.append(("Void", ref, amount))
        return original
